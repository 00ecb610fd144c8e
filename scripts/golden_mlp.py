"""golden_mlp.py: writes the PyTorch golden file the Swift MLP test matches.

    /usr/bin/python3 scripts/golden_mlp.py   (Debian's python3-torch)

A small MLP (30 → 16 → 16 → 2, ReLU), a fixed batch of 8, and for two recipes — plain
cross-entropy with Adam, and class-weighted, label-smoothed cross-entropy with AdamW — the
initial weights, the loss and every gradient after one forward/backward, and the loss and
weights after each of 10 optimizer steps on the same batch. Written once, committed as
Tests/ScalpelNNTests/Fixtures/golden_mlp.json.
"""
import json
import os

import torch

torch.manual_seed(1234)
torch.set_default_dtype(torch.float32)
x = torch.randn(8, 30)
y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])


def model():
    torch.manual_seed(99)
    return torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))


def flat(t):
    return [float(v) for v in t.detach().reshape(-1)]


recipes = {
    "adam": dict(loss=dict(), optimizer=lambda p: torch.optim.Adam(p, lr=1e-2)),
    "adamw_weighted_smoothed": dict(loss=dict(weight=torch.tensor([1.0, 2.5]), label_smoothing=0.1),
                                    optimizer=lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.05)),
}
out = {"x": flat(x), "y": [int(v) for v in y], "shape": [8, 30], "recipes": {}}
for name, recipe in recipes.items():
    net = model()
    criterion = torch.nn.CrossEntropyLoss(**recipe["loss"])
    entry = {"initial": {k: flat(v) for k, v in net.state_dict().items()},
             "shapes": {k: list(v.shape) for k, v in net.state_dict().items()},
             "loss_weight": flat(recipe["loss"]["weight"]) if "weight" in recipe["loss"] else None,
             "label_smoothing": recipe["loss"].get("label_smoothing", 0.0)}
    loss = criterion(net(x), y)
    loss.backward()
    entry["loss"] = float(loss)
    entry["grads"] = {k: flat(p.grad) for k, p in net.named_parameters()}
    optimizer = recipe["optimizer"](net.parameters())
    net.zero_grad()
    losses = []
    for _ in range(10):
        optimizer.zero_grad()
        loss = criterion(net(x), y)
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    entry["losses"] = losses
    entry["final"] = {k: flat(v) for k, v in net.state_dict().items()}
    out["recipes"][name] = entry
out["torch"] = torch.__version__
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "ScalpelNNTests", "Fixtures", "golden_mlp.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", os.path.normpath(path))
