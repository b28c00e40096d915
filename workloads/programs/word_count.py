"""Word counting with dicts and strings: split, normalise, count words and bigrams, rank.
The text is generated (seeded) from a Zipf-like vocabulary, so the counts are realistic."""

import random
import string

WORDS = 300_000
VOCABULARY = 5000


def make_text(rng: random.Random) -> list[str]:
    letters = string.ascii_lowercase
    vocabulary = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 10))) for _ in range(VOCABULARY)]
    weights = [1 / (rank + 1) for rank in range(VOCABULARY)]
    words = rng.choices(vocabulary, weights, k=WORDS)
    lines, line = [], []
    for word in words:
        line.append(word.title() if rng.random() < 0.1 else word)
        if rng.random() < 0.08:
            lines.append(" ".join(line) + rng.choice([".", ",", "!", "?", ";"]))
            line = []
    lines.append(" ".join(line))
    return lines


def main() -> None:
    lines = make_text(random.Random(99))
    table = str.maketrans("", "", string.punctuation)
    counts: dict[str, int] = {}
    bigrams: dict[tuple[str, str], int] = {}
    for line in lines:
        words = line.translate(table).lower().split()
        for word in words:
            counts[word] = counts.get(word, 0) + 1
        for pair in zip(words, words[1:]):
            bigrams[pair] = bigrams.get(pair, 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    print(f"word_count: {sum(counts.values())} words, {len(counts)} distinct, {len(bigrams)} bigrams, top {top[0]}")


if __name__ == "__main__":
    main()
