#!/usr/bin/env python3
"""Seeded, stratified subsamples of a labelled data set, for measuring defaults on small data.

  subsample.py ucr TRAIN.tsv N SEED OUT.tsv      N series of a UCR file (label first on each line)
  subsample.py npz breastmnist.npz N SEED OUT.npz N training images of a MedMNIST file (val and test kept)

Each class gets its share of N (largest remainders), and at least one sample, so every class of
the full set stays present.
"""
import random
import sys


def allocate(counts, n, rng):
    total = sum(counts.values())
    shares = {k: max(1, int(n * c / total)) for k, c in counts.items()}
    remainders = sorted(counts, key=lambda k: (n * counts[k] / total - int(n * counts[k] / total), rng.random()), reverse=True)
    i = 0
    while sum(shares.values()) < n:
        k = remainders[i % len(remainders)]
        if shares[k] < counts[k]:
            shares[k] += 1
        i += 1
    while sum(shares.values()) > n:
        k = max(shares, key=lambda k: shares[k])
        shares[k] -= 1
    return shares


def pick(labels, n, seed):
    rng = random.Random(seed)
    by_class = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    shares = allocate({k: len(v) for k, v in by_class.items()}, n, rng)
    chosen = []
    for label in sorted(by_class):
        chosen += rng.sample(by_class[label], shares[label])
    return sorted(chosen)


def main():
    kind, source, n, seed, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    if kind == "ucr":
        lines = [line for line in open(source).read().splitlines() if line.strip()]
        labels = [line.split()[0] if "\t" not in line else line.split("\t")[0] for line in lines]
        with open(out, "w") as f:
            f.write("\n".join(lines[i] for i in pick(labels, n, seed)) + "\n")
    elif kind == "npz":
        import numpy as np
        data = dict(np.load(source))
        keep = pick([int(v) for v in data["train_labels"].reshape(-1)], n, seed)
        data["train_images"], data["train_labels"] = data["train_images"][keep], data["train_labels"][keep]
        np.savez_compressed(out, **data)
    else:
        sys.exit(f"unknown kind {kind}: ucr or npz")


if __name__ == "__main__":
    main()
