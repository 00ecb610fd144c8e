"""golden_rnn.py: writes the PyTorch golden file for the LSTM and GRU layers.

    /usr/bin/python3 scripts/golden_rnn.py   (Debian's python3-torch)

One input x (batch 3, time 5, 4 features) and, per case, an nn.LSTM or nn.GRU
(batch_first=True) with fixed weights: its state_dict, the initial states (or none: zeros),
the output sequence, the final states, and the gradients of the input, of the initial states
and of every parameter for the loss Σ output·R + Σ h_n·Rh (+ Σ c_n·Rc) with fixed R, Rh, Rc,
so that gradients enter through every output. Committed as
Tests/ScalpelNNTests/Fixtures/golden_rnn.json.
"""
import json
import os

import torch
from torch import nn

torch.manual_seed(11)
BATCH, TIME, FEATURES, HIDDEN = 3, 5, 4, 6
x0 = torch.randn(BATCH, TIME, FEATURES)
# 9 significant digits give back every float32 exactly, in fewer characters than repr().
flat = lambda t: [float("%.9g" % v) for v in t.detach().reshape(-1)]

# name: (kind, layers, bidirectional, bias, with initial state)
CASES = {
    "lstm_2layer_bidirectional": ("lstm", 2, True, True, True),
    "lstm_2layer_bidirectional_zero_state": ("lstm", 2, True, True, False),
    "lstm_1layer_no_bias": ("lstm", 1, False, False, True),
    "gru_2layer_bidirectional": ("gru", 2, True, True, True),
    "gru_2layer_bidirectional_zero_state": ("gru", 2, True, True, False),
    "gru_1layer_no_bias": ("gru", 1, False, False, False),
}

cases = {}
for name, (kind, layers, bidirectional, bias, with_state) in CASES.items():
    torch.manual_seed(len(cases) + 1)
    make = nn.LSTM if kind == "lstm" else nn.GRU
    net = make(FEATURES, HIDDEN, num_layers=layers, bidirectional=bidirectional, bias=bias, batch_first=True)
    states = layers * (2 if bidirectional else 1)
    x = x0.clone().requires_grad_(True)
    h0 = torch.randn(states, BATCH, HIDDEN, requires_grad=True) if with_state else None
    c0 = torch.randn(states, BATCH, HIDDEN, requires_grad=True) if with_state and kind == "lstm" else None
    if kind == "lstm":
        out, (h_n, c_n) = net(x, (h0, c0)) if with_state else net(x)
    else:
        out, h_n = net(x, h0) if with_state else net(x)
        c_n = None
    r = torch.randn(out.shape)
    r_h = torch.randn(h_n.shape)
    loss = (out * r).sum() + (h_n * r_h).sum()
    r_c = None
    if c_n is not None:
        r_c = torch.randn(c_n.shape)
        loss = loss + (c_n * r_c).sum()
    loss.backward()
    cases[name] = {
        "kind": kind, "layers": layers, "bidirectional": bidirectional, "bias": bias, "hidden": HIDDEN,
        "state": {k: flat(v) for k, v in net.state_dict().items()},
        "shapes": {k: list(v.shape) for k, v in net.state_dict().items()},
        "h0": flat(h0) if h0 is not None else None, "c0": flat(c0) if c0 is not None else None,
        "output": flat(out), "output_shape": list(out.shape), "h_n": flat(h_n), "c_n": flat(c_n) if c_n is not None else None,
        "state_shape": list(h_n.shape),
        "r": flat(r), "r_h": flat(r_h), "r_c": flat(r_c) if r_c is not None else None,
        "loss": float(loss),
        "x_grad": flat(x.grad), "h0_grad": flat(h0.grad) if h0 is not None else None,
        "c0_grad": flat(c0.grad) if c0 is not None else None,
        "grads": {k: flat(p.grad) for k, p in net.named_parameters()},
    }

golden = {"x": flat(x0), "x_shape": list(x0.shape), "cases": cases, "torch": torch.__version__}
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "ScalpelNNTests", "Fixtures", "golden_rnn.json")
with open(path, "w") as f:
    json.dump(golden, f)
print("wrote", os.path.normpath(path))
