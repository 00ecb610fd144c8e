"""step_torch.py: PyTorch CPU's training step for a model of `scalpel bench step`, built as
`scalpel train` builds it (models_torch.py) on the benchmark's sample shapes — mlp: 30 features
(WDBC), 2 classes; cnn, resnet18: 1×28×28 (BreastMNIST), 2 classes; fcn, transformer, lstm, gru:
1×140 (ECG5000), 5 classes — with inputs uniform in [−1, 1), labels i mod classes, data resident
in memory, as `bench step` makes them.

One step is what `scalpel train` does per batch with the model's defaults (Scalpel's
StepBenchmark): zero the gradients, forward, cross-entropy, backward, add the batch's loss to a
running total, clip the global gradient norm at 1 (transformer), Adam (learning rate 5e-4 for
the transformer, else 1e-3), and the weight average's update (resnet18: decay 0.98). Dropout and
BatchNorm are in training mode. Timed with timing.py (warm-up steps, then SAMPLES samples of at
least 0.2 s, 5 by default as `bench step`); prints one JSON object:

    {"impl": "torch", "version", "threads", "blas", "model", "batchSize", "parameters", "msMedian", "msMin", "msMax"}

("blas": the BLAS library the process loaded — Debian's torch calls whichever libblas.so.3 the
system's alternatives select, and the reference BLAS is many times slower than OpenBLAS.)

    /usr/bin/python3 bench/peers/step_torch.py MODEL [--batch-size N] [--samples S] [--threads T]
                                               [--hidden H] [--dropout P] [--parameters]

--hidden and --dropout are `scalpel train`'s (mlp: units per hidden layer and dropout; lstm, gru:
units per direction; transformer: dropout); --parameters prints the parameter count and exits.
(Debian's python3-torch: scripts/setup.sh python3-torch.)
"""
import argparse
import json
import os
import sys
import warnings

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models_torch  # noqa: E402
from timing import timed  # noqa: E402

# The benchmark's samples: (shape, classes) per kind of data.
SHAPES = {"table": ((30,), 2), "images": ((1, 28, 28), 2), "sequences": ((1, 140), 5)}


def blas_library():
    """The BLAS library mapped into this process (Linux): OpenBLAS's, MKL's or BLIS's file name,
    else the libblas.so.3 found, with its folder (Debian's reference BLAS: blas/libblas.so.3);
    None when none is."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "/" in line})
    except OSError:
        return None
    for kind in ("openblas", "mkl_core", "blis"):
        for path in paths:
            if kind in os.path.basename(path):
                return os.path.basename(path)
    for path in paths:
        if os.path.basename(path).startswith("libblas"):
            return os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))
    return None


def main():
    parser = argparse.ArgumentParser(description="PyTorch CPU's training step for a model of `scalpel bench step`.")
    parser.add_argument("model", choices=models_torch.MODELS)
    parser.add_argument("--batch-size", type=int, help="rows per step (default: scalpel train's for the model)")
    parser.add_argument("--samples", type=int, default=5, help="samples of at least 0.2 s of steps (default 5)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--hidden", type=int, default=models_torch.HIDDEN, help=f"scalpel train's --hidden (default {models_torch.HIDDEN})")
    parser.add_argument("--dropout", type=float, default=models_torch.DROPOUT, help=f"scalpel train's --dropout (default {models_torch.DROPOUT})")
    parser.add_argument("--parameters", action="store_true", help="print the model's parameter count and exit")
    args = parser.parse_args()

    # PyTorch's note that "same" padding of an even kernel (the fcn's 8) copies the input padded:
    # Scalpel's Conv1d pads and slices the same way.
    warnings.filterwarnings("ignore", message="Using padding='same'")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    defaults = models_torch.defaults(args.model)
    batch = args.batch_size or defaults["batchSize"]
    shape, classes = SHAPES[models_torch.KIND[args.model]]
    model = models_torch.build(args.model, shape, classes, hidden=args.hidden, dropout=args.dropout)
    count = models_torch.parameter_count(model)
    if args.parameters:
        print(count)
        return
    model.train()
    x = torch.rand(batch, *shape) * 2 - 1
    total = torch.zeros(1)
    y = torch.arange(batch) % classes
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=defaults["learningRate"])
    clip = defaults["clipNorm"]
    average = models_torch.WeightAverage(model, defaults["ema"]) if defaults["ema"] > 0 else None
    steps = 0

    def step():
        nonlocal steps
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        total.add_(loss.detach(), alpha=batch)
        if clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        steps += 1
        if average is not None:
            average.update(steps)

    med, lo, hi = timed(step, args.samples)
    print(json.dumps({"impl": "torch", "version": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_library(),
                      "model": args.model,
                      "batchSize": batch, "parameters": count, "msMedian": med, "msMin": lo, "msMax": hi}))


if __name__ == "__main__":
    main()
