"""golden_resnet_block.py: writes the PyTorch golden file for a ResNet basic block.

    /usr/bin/python3 scripts/golden_resnet_block.py   (Debian's python3-torch)

A basic block 4 → 8 channels, stride 2 (so with its 1×1 downsampling shortcut), in training
mode (batch statistics), on a 2×4×9×9 input: its weights, the input, the output, the running
statistics after the pass, and the gradients of the input and of every parameter for the
loss Σ out·R with a fixed R. Committed as Tests/ScalpelNNTests/Fixtures/golden_resnet_block.json.
"""
import json
import os

import torch
from torch import nn

torch.manual_seed(7)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + self.downsample(x))


block = BasicBlock(4, 8, 2)
with torch.no_grad():  # non-trivial affine parameters
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.5, 0.5)
x = torch.randn(2, 4, 9, 9, requires_grad=True)
state = {k: [float(v) for v in t.reshape(-1)] for k, t in block.state_dict().items() if not k.endswith("num_batches_tracked")}
shapes = {k: list(t.shape) for k, t in block.state_dict().items() if not k.endswith("num_batches_tracked")}
out = block(x)
r = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
(out * r).sum().backward()
flat = lambda t: [float(v) for v in t.detach().reshape(-1)]
golden = {
    "input": flat(x), "input_shape": list(x.shape), "state": state, "shapes": shapes,
    "output": flat(out), "output_shape": list(out.shape), "r": flat(r),
    "running": {k: flat(t) for k, t in block.state_dict().items() if "running" in k},
    "input_grad": flat(x.grad), "grads": {k: flat(p.grad) for k, p in block.named_parameters()},
    "torch": torch.__version__,
}
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "ScalpelNNTests", "Fixtures", "golden_resnet_block.json")
with open(path, "w") as f:
    json.dump(golden, f)
print("wrote", os.path.normpath(path))
