"""trajectory.py: continues a Scalpel run in PyTorch, step for step, and prints both runs'
training losses side by side — a check that Scalpel's training loop (layers, batch norm,
cross-entropy, Adam, the learning rate, the batches) computes what PyTorch does. It covers the
models without dropout: `fcn` on a UCR archive and `resnet18` on a MedMNIST file, built as
`models_torch.py` builds them.

From a Scalpel `last.safetensors` it takes the weights, BatchNorm statistics, Adam's moments and
step, and the shuffle generator's state; it draws each epoch's order as Scalpel does (SplitMix64
and Swift's `shuffle(using:)`: Fisher–Yates from the front, `next(upperBound:)` by Lemire's
multiply-and-reject) and trains K epochs. Resume the Scalpel run for the same K epochs and give
its metrics.json to compare:

    scalpel train --data Data/ECG5000_TRAIN.tsv --test Data/ECG5000_TEST.tsv --model fcn --epochs 1 --device cpu --out /tmp/a
    cp -r /tmp/a /tmp/b
    scalpel train --data Data/ECG5000_TRAIN.tsv --test Data/ECG5000_TEST.tsv --model fcn --epochs 11 --device cpu --out /tmp/b \\
                  --resume /tmp/b/last.safetensors
    /usr/bin/python3 bench/peers/trajectory.py /tmp/a/last.safetensors 10 /tmp/b/metrics.json

(`--data Data/breastmnist.npz --model resnet18` the same way.) Float rounding differs between
the two (summation order), and mini-batch training amplifies it: expect agreement to about
1e-5 in the first epoch after the checkpoint, drifting apart over the next ones with no sign
either way; with `--batch-size 500` (one step per epoch) the FCN agrees to ~2e-5 over 30 epochs.
"""
import json
import os
import re
import struct
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import breastmnist_torch  # noqa: E402
import ecg_torch  # noqa: E402
import models_torch  # noqa: E402

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, state):
        self.state = state

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, bound):  # Swift's RandomNumberGenerator.next(upperBound:)
        m = self.next() * bound
        if (m & MASK) < bound:
            threshold = ((1 << 64) - bound) % bound
            while (m & MASK) < threshold:
                m = self.next() * bound
        return m >> 64


def swift_shuffle(values, generator):
    remaining, i = len(values), 0
    while remaining > 1:
        j = i + generator.below(remaining)
        remaining -= 1
        values[i], values[j] = values[j], values[i]
        i += 1
    return values


checkpoint, epochs = sys.argv[1], int(sys.argv[2])
blob = open(checkpoint, "rb").read()
size = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + size])
meta = header["__metadata__"]
config = json.loads(meta["config"])
assert config["model"] in ("fcn", "resnet18"), "this check covers the models without dropout: fcn and resnet18"
assert config["schedule"] == "constant" and config.get("clipNorm") is None and not config["augment"], "a constant rate, no clipping, no augmentation"
assert not config["balancedSampling"] and config.get("classWeights") is None and config.get("ema") is None, "plain shuffled batches, no weights"


def stored(name):
    start, end = header[name]["data_offsets"]
    return torch.tensor(np.frombuffer(blob[8 + size + start:8 + size + end], dtype=np.float32).reshape(header[name]["shape"]).copy())


def scalpel_name(name):
    """PyTorch's module path of a tensor → Scalpel's (pooling and flatten are one layer in Scalpel)."""
    name = "layers." + name.replace("running_mean", "runningMean").replace("running_var", "runningVar")
    if config["model"] == "fcn":
        return name.replace("layers.11.", "layers.10.")
    name = re.sub(r"\.c(\d)\.", r".conv\1.", re.sub(r"\.b(\d)\.", r".bn\1.", name))
    return name.replace(".down.", ".downsample.layers.").replace("layers.13.", "layers.12.")


if config["model"] == "fcn":
    x, y = ecg_torch.load(config["data"], config["test"])
    x, y = x["train"], y["train"]
    model = models_torch.build("fcn", tuple(x.shape[1:]), int(y.max()) + 1)
else:
    x, y = breastmnist_torch.load(config["data"])
    x, y = x["train"], y["train"]
    model = models_torch.build("resnet18", tuple(x.shape[1:]), int(y.max()) + 1)
model.load_state_dict({k: (v if k.endswith("num_batches_tracked") else stored(scalpel_name(k))) for k, v in model.state_dict().items()})
optimizer = torch.optim.Adam(model.parameters(), lr=float(meta["optimizer.learning_rate"]))
for name, p in model.named_parameters():
    optimizer.state[p] = {"step": torch.tensor(float(meta["optimizer.step"])),
                          "exp_avg": stored("optimizer." + scalpel_name(name) + ".exp_avg"),
                          "exp_avg_sq": stored("optimizer." + scalpel_name(name) + ".exp_avg_sq")}
generator = SplitMix64(int(meta["shuffle_state"]))
batch, start = config["batchSize"], int(meta["epoch"])
losses = []
model.train()
for epoch in range(epochs):
    order, total = swift_shuffle(list(range(len(y))), generator), 0.0
    for i in range(0, len(order), batch):
        rows = torch.tensor(order[i:i + batch])
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x[rows]), y[rows])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(rows)
    losses.append(total / len(order))
scalpel = {}
if len(sys.argv) > 3:
    scalpel = {r["epoch"]: r["trainLoss"] for r in json.load(open(sys.argv[3]))["history"]}
print("epoch  PyTorch     Scalpel     relative difference")
for i, loss in enumerate(losses):
    epoch = start + i + 1
    other = scalpel.get(epoch)
    print(f"{epoch:5d}  {loss:.7f}" + (f"  {other:.7f}  {other / loss - 1:+.1e}" if other is not None else ""))
