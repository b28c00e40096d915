"""Building, sorting and grouping many small records: tuples, dataclass instances and dicts,
as data-processing code does. Deterministic (seeded)."""

import itertools
import random
from dataclasses import dataclass
from operator import attrgetter, itemgetter

RECORDS = 40_000
CITIES = ["Oslo", "Lima", "Pune", "Kyiv", "Cork", "Nice", "Graz", "Bern", "Riga", "Faro"]


@dataclass
class Sale:
    city: str
    product: str
    quantity: int
    price: float


def main() -> None:
    rng = random.Random(42)
    tuples = [(rng.choice(CITIES), f"p{rng.randint(0, 300)}", rng.randint(1, 9), round(rng.uniform(1, 50), 2))
              for _ in range(RECORDS)]
    sales = [Sale(*t) for t in tuples]
    dicts = [{"city": s.city, "product": s.product, "total": s.quantity * s.price} for s in sales]

    tuples.sort(key=itemgetter(1, 0))
    sales.sort(key=attrgetter("city", "price"))
    dicts.sort(key=lambda d: (d["city"], -d["total"]))

    by_city = {city: list(group) for city, group in itertools.groupby(sales, key=attrgetter("city"))}
    totals: dict[str, float] = {}
    for d in dicts:
        totals[d["product"]] = totals.get(d["product"], 0.0) + d["total"]
    per_city_product: dict[tuple, list] = {}
    for city, product, quantity, _ in tuples:
        per_city_product.setdefault((city, product), []).append(quantity)
    best = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:5]
    print(f"records_sort_group: {len(by_city)} cities, {len(per_city_product)} city-products, "
          f"best {best[0][0]} {best[0][1]:.2f}")


if __name__ == "__main__":
    main()
