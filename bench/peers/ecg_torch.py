"""ecg_torch.py: PyTorch's run of `scalpel train` on a UCR archive (ECG5000 by default) — the
same data (the official TRAIN/TEST files, labels mapped to 0..K-1 in sorted order, no further
normalisation: UCR series are z-normalised already), the same models as Scalpel builds them
(models_torch.py — fcn: Wang et al. 2017; transformer: conv stem, sinusoidal positions, 2 pre-norm
encoder layers, mean pooling; lstm, gru: one bidirectional layer, mean pooling), Adam, seeded
shuffling, and the epoch with the lowest training loss — so that test metrics and time per
epoch compare recipe for recipe.

    /usr/bin/python3 bench/peers/ecg_torch.py fcn|transformer|lstm|gru [EPOCHS] [SEED] [LR] [BATCH] [CLIP]
"""
import math
import sys
import time

import numpy as np
import torch
from torch import nn

import models_torch

def load(train_path="Data/ECG5000_TRAIN.tsv", test_path="Data/ECG5000_TEST.tsv"):
    """The archive's split as tensors (N, 1, length), labels mapped to 0..K-1 in sorted order."""
    train, test = np.loadtxt(train_path), np.loadtxt(test_path)
    classes = sorted(set(train[:, 0]))
    index = {c: i for i, c in enumerate(classes)}
    x = {s: torch.tensor(a[:, None, 1:], dtype=torch.float32) for s, a in (("train", train), ("test", test))}
    y = {s: torch.tensor([index[c] for c in a[:, 0]]) for s, a in (("train", train), ("test", test))}
    return x, y


def evaluate(model, x, y, k):
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x["test"][i:i + 256]) for i in range(0, len(y["test"]), 256)]).argmax(1)
    model.train()
    truth = y["test"]
    recalls = [((pred == c) & (truth == c)).sum().item() / max((truth == c).sum().item(), 1) for c in range(k)]
    return (pred == truth).float().mean().item(), sum(recalls) / k


def main():
    model_name = sys.argv[1] if len(sys.argv) > 1 else "fcn"
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    lr = float(sys.argv[4]) if len(sys.argv) > 4 else (5e-4 if model_name == "transformer" else 1e-3)
    batch = int(sys.argv[5]) if len(sys.argv) > 5 else 16
    clip = float(sys.argv[6]) if len(sys.argv) > 6 else (1.0 if model_name == "transformer" else 0.0)
    torch.manual_seed(seed)
    x, y = load()
    k = int(y["train"].max()) + 1
    model = models_torch.build(model_name, tuple(x["train"].shape[1:]), k)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    best = (math.inf, None, 0)
    started = time.time()
    for epoch in range(epochs):
        perm = torch.randperm(len(y["train"]))
        total = 0.0
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            optimizer.zero_grad()
            loss = criterion(model(x["train"][idx]), y["train"][idx])
            loss.backward()
            if clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            total += loss.item() * len(idx)
        if total / len(perm) < best[0]:
            best = (total / len(perm), {n: v.clone() for n, v in model.state_dict().items()}, epoch + 1)
    per_epoch = (time.time() - started) / epochs
    model.load_state_dict(best[1])
    accuracy, macro_recall = evaluate(model, x, y, k)
    print(f"{model_name} seed {seed}: selected epoch {best[2]} (lowest training loss), test accuracy {accuracy:.4f}, "
          f"macro recall {macro_recall:.4f}, {per_epoch:.2f} s per epoch ({torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
