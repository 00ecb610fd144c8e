"""breastmnist_torch.py: PyTorch's run of `scalpel train` on BreastMNIST — the same data
preparation (official split, per-channel standardisation with training statistics), model
(cnn or resnet18 as Scalpel builds them), Adam 1e-3, the batch size and learning-rate schedule
given (Scalpel's defaults: 128 and constant for the cnn, 32 and cosine for resnet18), seeded
shuffling, and the epoch chosen by validation AUROC — so that test metrics can be compared
recipe for recipe.

    /usr/bin/python3 bench/peers/breastmnist_torch.py [cnn|resnet18] [EPOCHS] [SEED] [BATCH] [constant|cosine]
"""
import math
import sys
import time

import numpy as np
import torch
from torch import nn

import models_torch


def load(path="Data/breastmnist.npz"):
    """The official split as tensors, pixels standardised with the training images' statistics."""
    data = np.load(path)
    x = {s: data[f"{s}_images"].astype(np.float32)[:, None] / 255.0 for s in ("train", "val", "test")}
    y = {s: data[f"{s}_labels"].reshape(-1).astype(np.int64) for s in ("train", "val", "test")}
    mean, std = x["train"].mean(), x["train"].std()
    return {s: torch.tensor((v - mean) / std) for s, v in x.items()}, {s: torch.tensor(v) for s, v in y.items()}


def auroc(labels, scores):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for v in np.unique(scores):  # average ranks for ties
        ranks[scores == v] = ranks[scores == v].mean()
    pos = labels == 1
    return (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())


def evaluate(model, x, y, split):
    model.eval()
    with torch.no_grad():
        p = torch.softmax(model(x[split]), 1)[:, 1].numpy()
    model.train()
    labels = y[split].numpy()
    return auroc(labels, p), ((p >= 0.5) == labels).mean()


def main():
    model_name = sys.argv[1] if len(sys.argv) > 1 else "cnn"
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else (32 if model_name == "resnet18" else 128)
    schedule = sys.argv[5] if len(sys.argv) > 5 else ("cosine" if model_name == "resnet18" else "constant")
    torch.manual_seed(seed)
    x, y = load()
    model = models_torch.build(model_name, tuple(x["train"].shape[1:]), int(y["train"].max()) + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    best = (-1, None, 0)
    started = time.time()
    for epoch in range(epochs):
        if schedule == "cosine":  # Scalpel's: per epoch, from the base rate down to 1/100 of it at the last epoch
            for group in optimizer.param_groups:
                group["lr"] = 1e-3 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * epoch / max(epochs - 1, 1))))
        perm = torch.randperm(len(y["train"]))
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            optimizer.zero_grad()
            loss = criterion(model(x["train"][idx]), y["train"][idx])
            loss.backward()
            optimizer.step()
        val_auc, _ = evaluate(model, x, y, "val")
        if val_auc > best[0]:
            best = (val_auc, {k: v.clone() for k, v in model.state_dict().items()}, epoch + 1)
    model.load_state_dict(best[1])
    test_auc, test_acc = evaluate(model, x, y, "test")
    print(f"{model_name} batch {batch} {schedule} seed {seed}: selected epoch {best[2]}, test AUROC {test_auc:.4f}, accuracy {test_acc:.4f}, "
          f"{(time.time() - started) / epochs:.2f} s per epoch ({torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
