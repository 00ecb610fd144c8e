"""cnn_torch.py: PyTorch CPU's training step for the small CNN of `scalpel bench cnn`
(batch 64×1×28×28, conv 3×3 1→32, ReLU, max-pool 2, conv 3×3 32→64, ReLU, max-pool 2,
linear 3136→128, ReLU, linear 128→2, cross-entropy, Adam), timed the same way:
SAMPLES samples of at least 0.2 s of steps after a warm-up; prints one JSON object.

    /usr/bin/python3 bench/peers/cnn_torch.py [SAMPLES [THREADS]]   (Debian's python3-torch)
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
nn = torch.nn
model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 2))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
x = torch.randn(64, 1, 28, 28)
y = torch.arange(64) % 2
criterion = torch.nn.CrossEntropyLoss()


def step():
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()


med, lo, hi = timed(step, samples, warmup=20)
print(json.dumps({"impl": "torch", "version": torch.__version__, "threads": torch.get_num_threads(),
                  "msMedian": med, "msMin": lo, "msMax": hi}))
