"""mlp_torch.py: PyTorch CPU's training step for the MLP of `scalpel bench mlp`
(batch 256, 30 → 256 → 256 → 2, ReLU, cross-entropy, Adam), timed the same way:
SAMPLES samples of at least 0.2 s of steps after a warm-up; prints one JSON object.

    /usr/bin/python3 bench/peers/mlp_torch.py [SAMPLES [THREADS]]   (Debian's python3-torch)
"""
import json
import sys

import torch
from timing import timed

samples = int(sys.argv[1]) if len(sys.argv) > 1 else 7
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 0
if threads:
    torch.set_num_threads(threads)
torch.manual_seed(1)
model = torch.nn.Sequential(torch.nn.Linear(30, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 2))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
x = torch.randn(256, 30)
y = torch.arange(256) % 2
criterion = torch.nn.CrossEntropyLoss()


def step():
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()


med, lo, hi = timed(step, samples, warmup=20)
print(json.dumps({"impl": "torch", "version": torch.__version__, "threads": torch.get_num_threads(),
                  "msMedian": med, "msMin": lo, "msMax": hi}))
