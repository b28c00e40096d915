"""JSON encode/decode round trips of a generated document: many small dicts, lists, strings,
ints and floats built, serialised, parsed and compared. Deterministic (seeded)."""

import json
import random

USERS = 1500
ROUND_TRIPS = 12


def make_document(rng: random.Random) -> dict:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
    users = []
    for i in range(USERS):
        users.append({
            "id": i,
            "name": f"{rng.choice(words).title()} {rng.choice(words).title()}",
            "email": f"user{i}@example.org",
            "score": round(rng.uniform(0, 100), 3),
            "active": rng.random() < 0.7,
            "tags": rng.sample(words, rng.randint(0, 4)),
            "address": {"street": f"{rng.randint(1, 999)} {rng.choice(words)} road", "zip": f"{rng.randint(0, 99999):05d}"},
            "history": [{"day": d, "visits": rng.randint(0, 20)} for d in range(rng.randint(0, 6))],
        })
    return {"version": 3, "generated_by": "allocbench", "users": users}


def main() -> None:
    document = make_document(random.Random(1234))
    total = 0
    for i in range(ROUND_TRIPS):
        text = json.dumps(document, indent=2 if i % 3 == 0 else None, sort_keys=i % 2 == 0)
        back = json.loads(text)
        assert back == document
        total += len(text)
    print(f"json_roundtrip: {ROUND_TRIPS} round trips, {total} characters")


if __name__ == "__main__":
    main()
