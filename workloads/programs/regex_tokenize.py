"""Regex tokenising of generated source-like text: one master pattern with named groups,
finditer over every line, a token tuple per match. Deterministic (seeded)."""

import random
import re

LINES = 25_000
TOKEN = re.compile(r"""
    (?P<NUMBER>\d+(?:\.\d+)?)
  | (?P<NAME>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<STRING>"[^"]*")
  | (?P<OP>==|!=|<=|>=|[-+*/=<>()\[\]{},:.])
  | (?P<SPACE>[ \t]+)
  | (?P<OTHER>.)
""", re.VERBOSE)
NAMES = ["total", "count", "item", "value", "result", "index", "data", "key", "name", "node"]


def make_line(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(3, 12)):
        kind = rng.random()
        if kind < 0.4:
            parts.append(rng.choice(NAMES) + (str(rng.randint(0, 99)) if rng.random() < 0.3 else ""))
        elif kind < 0.6:
            parts.append(str(rng.randint(0, 10_000)) if rng.random() < 0.7 else f"{rng.uniform(0, 100):.3f}")
        elif kind < 0.7:
            parts.append('"' + rng.choice(NAMES) * rng.randint(1, 3) + '"')
        else:
            parts.append(rng.choice(["=", "==", "+", "-", "*", "(", ")", "[", "]", ",", ":", "<=", "."]))
    return " ".join(parts)


def main() -> None:
    rng = random.Random(7)
    text = [make_line(rng) for _ in range(LINES)]
    counts: dict[str, int] = {}
    tokens = []
    for number, line in enumerate(text):
        for match in TOKEN.finditer(line):
            kind = match.lastgroup
            if kind != "SPACE":
                tokens.append((kind, match.group(), number, match.start()))
            counts[kind] = counts.get(kind, 0) + 1
    names = {value for kind, value, _, _ in tokens if kind == "NAME"}
    print(f"regex_tokenize: {len(tokens)} tokens, {len(names)} distinct names, {sorted(counts.items())}")


if __name__ == "__main__":
    main()
