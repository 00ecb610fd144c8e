"""models_torch.py: Scalpel's models as PyTorch modules, built as `scalpel train` builds them
(Sources/Scalpel/Models/ModelRecipe.swift, the recipes' builders), with the same tensors in the same order
(Scalpel's names aside), and `scalpel train`'s per-model defaults (ModelRecipe.defaults and
TrainingConfig). The peer scripts (breastmnist_torch.py, ecg_torch.py, step_torch.py,
trajectory.py) build their models here and nowhere else.

    mlp          Linear(features, hidden), ReLU, Dropout, Linear(hidden, hidden), ReLU, Dropout,
                 Linear(hidden, classes)                                    (tables)
    cnn          VisionModels.smallCNN: conv 3×3 C→32, ReLU, max-pool 2, conv 3×3 32→64, ReLU,
                 max-pool 2, linear 64·(H/4)·(W/4)→128, ReLU, linear 128→classes  (images)
    resnet18     VisionModels.resnet18: 3×3 stride-1 stem without max-pooling, four stages of two
                 basic blocks (64, 128, 256, 512), global average pooling, linear  (images)
    fcn          SequenceModels.fcn (Wang et al. 2017): conv ("same") + BatchNorm + ReLU with 128,
                 256, 128 filters of widths 8, 5, 3, global average pooling, linear  (signals)
    transformer  TransformerClassifier: conv stem (7, "same") to 64 channels with GELU, sinusoidal
                 positions, 2 pre-norm encoder layers (4 heads, feed-forward 128), LayerNorm,
                 mean over time, linear                                     (signals)
    lstm, gru    RecurrentClassifier: one bidirectional LSTM or GRU layer of `hidden` units per
                 direction over the time steps, the mean of its outputs over time (both
                 directions), linear 2·hidden→classes                       (signals)
"""
import torch
from torch import nn

MODELS = ("mlp", "cnn", "resnet18", "fcn", "transformer", "lstm", "gru")
KIND = {"mlp": "table", "cnn": "images", "resnet18": "images", "fcn": "sequences", "transformer": "sequences", "lstm": "sequences",
        "gru": "sequences"}
# TrainingConfig's hidden size and dropout (the mlp's, the recurrent models' hidden size, the
# transformer's dropout).
HIDDEN, DROPOUT = 64, 0.1


def defaults(model_name):
    """`scalpel train`'s defaults for a model (TrainCommand.defaults): batch size, learning rate,
    gradient-norm clip (0: none), learning-rate schedule and weight-average decay (0: none)."""
    batch, lr, clip, schedule, ema = {"table": (32, 1e-3), "images": (128, 1e-3), "sequences": (16, 1e-3)}[KIND[model_name]] + (0.0, "constant", 0.0)
    if model_name == "transformer":
        lr, clip = 5e-4, 1.0
    elif model_name == "resnet18":
        batch, schedule, ema = 32, "cosine", 0.98
    return {"batchSize": batch, "learningRate": lr, "clipNorm": clip, "schedule": schedule, "ema": ema}


def mlp(features, classes, hidden=HIDDEN, dropout=DROPOUT):
    """Trainer's table model; dropout 0 leaves the Dropout layers out."""
    drop = [nn.Dropout(dropout)] if dropout > 0 else []
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), *drop, nn.Linear(hidden, hidden), nn.ReLU(), *drop, nn.Linear(hidden, classes))


def small_cnn(channels, height, width, classes):
    """VisionModels.smallCNN."""
    return nn.Sequential(nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * (height // 4) * (width // 4), 128), nn.ReLU(), nn.Linear(128, classes))


class BasicBlock(nn.Module):
    """ResNet's basic block: conv 3×3 (stride) + BN + ReLU, conv 3×3 + BN, plus the input
    (through a 1×1 conv + BN when the stride or width changes), ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) if stride != 1 or cin != cout else None

    def forward(self, t):
        out = self.b2(self.c2(torch.relu(self.b1(self.c1(t)))))
        return torch.relu(out + (self.down(t) if self.down is not None else t))


def resnet18(channels, classes):
    """VisionModels.resnet18 (MedMNIST style, for 28×28 inputs)."""
    layers = [nn.Conv2d(channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    c = 64
    for i, w in enumerate([64, 128, 256, 512]):
        layers += [BasicBlock(c, w, 1 if i == 0 else 2), BasicBlock(w, w, 1)]
        c = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes)]
    return nn.Sequential(*layers)


def fcn(channels, classes):
    """SequenceModels.fcn, the FCN of Wang et al. 2017."""
    layers, c = [], channels
    for width, kernel in ((128, 8), (256, 5), (128, 3)):
        layers += [nn.Conv1d(c, width, kernel, padding="same"), nn.BatchNorm1d(width), nn.ReLU()]
        c = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(c, classes))


class Transformer(nn.Module):
    """TransformerClassifier with its defaults (dModel 64, 4 heads, 2 layers, feed-forward 128)."""

    def __init__(self, length, k, d=64, heads=4, layers=2, ff=128, dropout=DROPOUT, channels=1):
        super().__init__()
        self.stem = nn.Conv1d(channels, d, 7, padding="same")
        pe = torch.zeros(length, d)
        pos = torch.arange(length)[:, None].float()
        div = torch.pow(10000.0, torch.arange(0, d, 2).float() / d)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos / div), torch.cos(pos / div)
        self.register_buffer("pe", pe, persistent=False)  # a constant table, not state (as Scalpel's)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, k)

    def forward(self, t):
        h = nn.functional.gelu(self.stem(t)).transpose(1, 2) + self.pe
        return self.head(self.norm(self.encoder(h)).mean(1))


class Recurrent(nn.Module):
    """RecurrentClassifier: (N, C, L) → a bidirectional one-layer LSTM or GRU over the L steps
    (batch first, hidden units per direction), the mean of its outputs over time, linear."""

    def __init__(self, cell, channels, hidden, k):
        super().__init__()
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(channels, hidden, num_layers=1, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, k)

    def forward(self, t):
        output, _ = self.rnn(t.transpose(1, 2))
        return self.head(output.mean(1))


def build(model_name, shape, classes, hidden=HIDDEN, dropout=DROPOUT):
    """The model `scalpel train --model MODEL` builds for samples of `shape` (features for tables,
    (C, H, W) for images, (C, L) for signals) and `classes` classes."""
    if model_name == "mlp":
        return mlp(shape[0], classes, hidden, dropout)
    if model_name == "cnn":
        return small_cnn(shape[0], shape[1], shape[2], classes)
    if model_name == "resnet18":
        return resnet18(shape[0], classes)
    if model_name == "fcn":
        return fcn(shape[0], classes)
    if model_name == "transformer":
        return Transformer(shape[1], classes, dropout=dropout, channels=shape[0])
    if model_name in ("lstm", "gru"):
        return Recurrent(model_name, shape[0], hidden, classes)
    raise ValueError(f"unknown model {model_name!r}: choose {', '.join(MODELS)}")


def parameter_count(model):
    """Trainable values, as `scalpel train` counts them in its first line."""
    return sum(p.numel() for p in model.parameters())


class WeightAverage:
    """Scalpel's WeightAverage: an exponential moving average of every floating-point tensor of
    the model (parameters and BatchNorm's running statistics), started at the model's values;
    after optimizer step t (1-based) each average keeps d_t = min(decay, (1 + t) / (10 + t)) of
    itself and takes 1 − d_t of the live tensor."""

    def __init__(self, model, decay):
        self.decay = decay
        self.live = [t for t in model.state_dict().values() if t.is_floating_point()]
        self.averages = [t.detach().clone() for t in self.live]

    @torch.no_grad()
    def update(self, step):
        kept = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_mul_(self.averages, kept)
        torch._foreach_add_(self.averages, self.live, alpha=1 - kept)
