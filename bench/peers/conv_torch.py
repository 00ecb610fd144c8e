"""conv_torch.py: PyTorch CPU's timings of the small CNN's convolutions, as `scalpel bench conv`
measures them (3×3, padding 1; forward, and forward + backward with the weight gradient, plus
the input gradient where the input is not the network's input). One JSON object per line.

    /usr/bin/python3 bench/peers/conv_torch.py [SAMPLES [THREADS]]   (Debian's python3-torch)
"""
import json
import sys

import torch
from timing import timed

samples = int(sys.argv[1]) if len(sys.argv) > 1 else 5
if len(sys.argv) > 2:
    torch.set_num_threads(int(sys.argv[2]))
torch.manual_seed(2)
shapes = [("conv 3×3 1→32, 64×1×28×28", (64, 1, 28, 28), 32), ("conv 3×3 32→64, 64×32×14×14", (64, 32, 14, 14), 64)]


for name, shape, out in shapes:
    input_grad = shape[1] > 1
    conv = torch.nn.Conv2d(shape[1], out, 3, padding=1)
    x = torch.randn(*shape, requires_grad=input_grad)
    forward = 2.0 * shape[0] * out * shape[2] * shape[3] * shape[1] * 9
    for backward in (False, True):
        def step():
            if backward:
                conv.zero_grad()
                conv(x).sum().backward()
            else:
                with torch.no_grad():
                    conv(x)
        med, lo, hi = timed(step, samples)
        flops = forward * (3 if input_grad else 2) if backward else forward
        print(json.dumps({"shape": name, "pass": ("fwd+bwd (dW, dX)" if input_grad else "fwd+bwd (dW)") if backward else "fwd",
                          "backend": f"torch {torch.__version__} ({torch.get_num_threads()} thread(s))",
                          "msMedian": med, "msMin": lo, "msMax": hi, "gflops": flops / med / 1e6}), flush=True)
