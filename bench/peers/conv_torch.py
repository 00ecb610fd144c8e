"""conv_torch.py: PyTorch CPU's timings of a set of convolutions, as `scalpel bench conv --set SET`
measures them: forward, and forward + backward with the weight gradient, plus the input
gradient where the input is not the network's input. `cnn`: the small CNN's two 3×3 layers
(padding 1, with a bias); `resnet18`: ResNet-18's stem and each stage's convolutions at batch 32
(3×3 padding 1, 1×1 padding 0, no bias). One JSON object per line.

    /usr/bin/python3 bench/peers/conv_torch.py [SAMPLES [THREADS [SET [ONLY]]]]   (Debian's python3-torch)

ONLY: time only the convolutions whose name contains it (as `scalpel bench conv --only`).
"""
import json
import sys

import torch
from timing import timed

samples = int(sys.argv[1]) if len(sys.argv) > 1 else 5
if len(sys.argv) > 2:
    torch.set_num_threads(int(sys.argv[2]))
torch.manual_seed(2)
which = sys.argv[3] if len(sys.argv) > 3 else "cnn"
# (name as scalpel bench conv prints it, input shape, output channels, kernel, stride, bias)
sets = {
    "cnn": [("conv 3×3 1→32, 64×1×28×28", (64, 1, 28, 28), 32, 3, 1, True),
            ("conv 3×3 32→64, 64×32×14×14", (64, 32, 14, 14), 64, 3, 1, True)],
    "resnet18": [("stem 3×3 1→64, 32×1×28×28", (32, 1, 28, 28), 64, 3, 1, False),
                 ("stage1 3×3 64→64, 32×64×28×28", (32, 64, 28, 28), 64, 3, 1, False),
                 ("stage2 3×3/2 64→128, 32×64×28×28", (32, 64, 28, 28), 128, 3, 2, False),
                 ("stage2 1×1/2 64→128, 32×64×28×28", (32, 64, 28, 28), 128, 1, 2, False),
                 ("stage2 3×3 128→128, 32×128×14×14", (32, 128, 14, 14), 128, 3, 1, False),
                 ("stage3 3×3/2 128→256, 32×128×14×14", (32, 128, 14, 14), 256, 3, 2, False),
                 ("stage3 3×3 256→256, 32×256×7×7", (32, 256, 7, 7), 256, 3, 1, False),
                 ("stage4 3×3/2 256→512, 32×256×7×7", (32, 256, 7, 7), 512, 3, 2, False),
                 ("stage4 3×3 512→512, 32×512×4×4", (32, 512, 4, 4), 512, 3, 1, False)],
}
if which not in sets:
    sys.exit(f"conv_torch.py: unknown set {which!r}: cnn or resnet18")
only = sys.argv[4] if len(sys.argv) > 4 else ""
chosen = [layer for layer in sets[which] if only in layer[0]]
if not chosen:
    sys.exit(f"conv_torch.py: no convolution of set {which} has {only!r} in its name")


for name, shape, out, kernel, stride, bias in chosen:
    input_grad = shape[1] > 1
    conv = torch.nn.Conv2d(shape[1], out, kernel, stride=stride, padding=kernel // 2, bias=bias)
    x = torch.randn(*shape, requires_grad=input_grad)
    oh, ow = (shape[2] + 2 * (kernel // 2) - kernel) // stride + 1, (shape[3] + 2 * (kernel // 2) - kernel) // stride + 1
    forward = 2.0 * shape[0] * out * oh * ow * shape[1] * kernel * kernel
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
