"""golden_sequence.py: writes the PyTorch golden file for the sequence layers.

    /usr/bin/python3 scripts/golden_sequence.py   (Debian's python3-torch)

1. The transformer classifier as Scalpel builds it (`TransformerClassifier`), at a small size:
   Conv1d stem (kernel 7, padding "same") and GELU, sinusoidal positions, 2 pre-norm encoder
   layers (PyTorch's TransformerEncoderLayer, norm_first, GELU, dropout 0), LayerNorm, mean
   over time, linear head. Input (2, 1, 9), 3 classes, d_model 8, 2 heads, feed-forward 12.
2. Conv1d with padding "same" and an even kernel (asymmetric padding), and with dilation,
   followed by BatchNorm1d on (N, C, L) in training mode (the FCN block).

For each: the weights, the input, the output and the gradients of the input and every
parameter for the loss Σ out·R with a fixed R, computed in float64: PyTorch 1.13's float32
CPU backward of this encoder gave input gradients that disagree with its own finite
differences (and change from run to run), while float64 agrees with them. Committed as
Tests/ScalpelNNTests/Fixtures/golden_sequence.json.
"""
import json
import os

import torch
from torch import nn

torch.manual_seed(11)
flat = lambda t: [float(v) for v in t.detach().reshape(-1)]


class Classifier(nn.Module):
    def __init__(self, length, classes, d=8, heads=2, layers=2, ff=12):
        super().__init__()
        self.stem = nn.Conv1d(1, d, 7, padding="same")
        pe = torch.zeros(length, d)
        pos = torch.arange(length)[:, None].float()
        div = torch.pow(10000.0, torch.arange(0, d, 2).float() / d)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos / div), torch.cos(pos / div)
        self.register_buffer("pe", pe)
        layer = nn.TransformerEncoderLayer(d, heads, ff, 0.0, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, classes)

    def forward(self, t):
        h = nn.functional.gelu(self.stem(t)).transpose(1, 2) + self.pe
        return self.head(self.norm(self.encoder(h)).mean(1))


def case(module, x):
    module, x = module.double(), x.double()
    with torch.no_grad():  # non-trivial norm parameters
        for m in module.modules():
            if isinstance(m, (nn.LayerNorm, nn.BatchNorm1d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    x.requires_grad_(True)
    state = {k: flat(t) for k, t in module.state_dict().items() if not k.endswith("num_batches_tracked") and k != "pe"}
    shapes = {k: list(t.shape) for k, t in module.state_dict().items() if not k.endswith("num_batches_tracked") and k != "pe"}
    out = module(x)
    r = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
    (out * r).sum().backward()
    return {"input": flat(x), "input_shape": list(x.shape), "state": state, "shapes": shapes, "output": flat(out),
            "output_shape": list(out.shape), "r": flat(r), "input_grad": flat(x.grad),
            "grads": {k: flat(p.grad) for k, p in module.named_parameters()}}


golden = {
    "classifier": case(Classifier(9, 3), torch.randn(2, 1, 9)),
    "conv_same_even": case(nn.Sequential(nn.Conv1d(2, 3, 4, padding="same"), nn.BatchNorm1d(3)), torch.randn(2, 2, 10)),
    "conv_same_dilated": case(nn.Sequential(nn.Conv1d(2, 3, 3, padding="same", dilation=2), nn.BatchNorm1d(3)), torch.randn(2, 2, 7)),
    "torch": torch.__version__,
}
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "ScalpelNNTests", "Fixtures", "golden_sequence.json")
with open(path, "w") as f:
    json.dump(golden, f)
print("wrote", os.path.normpath(path))
