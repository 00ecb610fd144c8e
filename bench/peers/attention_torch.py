"""attention_torch.py: PyTorch CPU's composed scaled-dot-product attention, the peer of
`scalpel bench attention`: softmax(q·kᵀ·scale)·v on (batch, heads, length, head size) fp32
tensors, forward alone (under no_grad) and forward + backward (gradients of q, k and v for a
fixed output gradient), timed the same way (timing.py). For each shape prints one JSON line per
pass, with the process's peak resident memory (VmHWM, reset before the shape's first pass).

    /usr/bin/python3 bench/peers/attention_torch.py SAMPLES THREADS BxHxNxD [BxHxNxD ...]
"""
import json
import math
import sys

import torch
from timing import timed


def resident_bytes(field):
    """VmRSS or VmHWM of this process, in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak():
    """Starts a new VmHWM (peak resident memory) measurement from the current resident size."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


samples = int(sys.argv[1]) if len(sys.argv) > 1 else 5
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 0
shapes = sys.argv[3:] or ["32x4x128x32"]
if threads:
    torch.set_num_threads(threads)
torch.manual_seed(1)
for text in shapes:
    batch, heads, length, head = (int(part) for part in text.split("x"))
    scale = 1 / math.sqrt(head)
    reset_peak()
    baseline = resident_bytes("VmRSS")
    q, k, v = (torch.randn(batch, heads, length, head, requires_grad=True) for _ in range(3))
    grad_out = torch.randn(batch, heads, length, head)

    def attention():
        return torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1) @ v

    def forward():
        with torch.no_grad():
            attention()

    def forward_backward():
        q.grad = k.grad = v.grad = None
        attention().backward(grad_out)

    for name, step in (("forward", forward), ("forward+backward", forward_backward)):
        med, lo, hi = timed(step, samples, warmup=2)
        print(json.dumps({"impl": "torch", "version": torch.__version__, "threads": torch.get_num_threads(), "shape": text,
                          "pass": name, "msMedian": med, "msMin": lo, "msMax": hi,
                          "peakRSSBytes": resident_bytes("VmHWM"), "baselineRSSBytes": baseline}), flush=True)
