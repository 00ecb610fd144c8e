#!/usr/bin/env python3
"""Checks a model exported by `scalpel export` the way an inference service would use it.

    onnx_check.py MODEL.onnx DATA PREDICTIONS.csv [--split test]

1. onnx.checker accepts the file (full check, with shape inference).
2. The graph's input is built from DATA with nothing but the metadata's instructions: a CSV
   table's columns in the metadata's order (empty, NA and ? cells as NaN, categorical columns
   one-hot encoded as `categorical_encoding` lists); a MedMNIST .npz split's pixels (0-255,
   channels first); a UCR file's series (its first column dropped).
3. ONNX Runtime's probabilities equal the `probability <class>` columns that `scalpel predict`
   wrote for the same samples (to 1e-4), class by class in the metadata's class_names order.

Prints one line with the largest difference; exits 1 when a check fails.
"""
import argparse
import csv
import json
import sys

import numpy as np
import onnx
import onnxruntime

MISSING = {"", "NA", "?"}


def table_input(path, metadata):
    columns = json.loads(metadata["columns"])
    encoding = json.loads(metadata.get("categorical_encoding", "{}"))
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = [cell.strip() for cell in rows[0]]
    index = {name: i for i, name in enumerate(header)}
    values = np.zeros((len(rows) - 1, len(columns)), dtype=np.float32)
    for r, row in enumerate(rows[1:]):
        for f, feature in enumerate(columns):
            if feature in index:
                cell = row[index[feature]].strip()
                values[r, f] = np.nan if cell in MISSING else float(cell)
                continue
            column, category = feature.split("=", 1)
            assert column in encoding, f"feature {feature} is neither a column nor a listed category"
            cell = row[index[column]].strip()
            values[r, f] = np.nan if cell in MISSING else float(cell == category)
    return values


def npz_input(path, split):
    images = np.load(path)[f"{split}_images"].astype(np.float32)
    if images.ndim == 3:
        images = images[:, None, :, :]
    else:
        images = images.transpose(0, 3, 1, 2)
    return images


def ucr_input(path):
    series = np.loadtxt(path, dtype=np.float32, ndmin=2)
    return series[:, None, 1:]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("predictions")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()

    model = onnx.load(args.model)
    onnx.checker.check_model(model, full_check=True)
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    classes = json.loads(metadata["class_names"])

    if args.data.endswith(".csv"):
        x = table_input(args.data, metadata)
    elif args.data.endswith(".npz"):
        x = npz_input(args.data, args.split)
    else:
        x = ucr_input(args.data)

    session = onnxruntime.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    probabilities = session.run(["probabilities"], {"input": x})[0]
    assert names == ["probabilities", "logits"], names

    with open(args.predictions, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    wanted = [header.index(f"probability {name}") for name in classes]
    expected = np.array([[float(row[i]) for i in wanted] for row in rows[1:]], dtype=np.float64)
    if expected.shape != probabilities.shape:
        print(f"onnx_check: ONNX Runtime gave {probabilities.shape} probabilities, scalpel predict {expected.shape}")
        return 1
    difference = float(np.abs(expected - probabilities).max())
    sums = float(np.abs(probabilities.sum(axis=1) - 1).max())
    print(f"onnx_check: {metadata['model']}: {len(expected)} samples, {len(classes)} classes, "
          f"opset {model.opset_import[0].version}, largest difference {difference:.2e}, largest |sum - 1| {sums:.1e}")
    return 0 if difference <= 1e-4 and sums <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
