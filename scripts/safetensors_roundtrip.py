#!/usr/bin/env python3
"""The Python side of ScalpelIO's safetensors round-trip tests (Tests/ScalpelIOTests).

  safetensors_roundtrip.py write PATH
      Writes the sample checkpoint with safetensors.numpy.save_file and metadata
      {"format": "numpy"} (one pair: the reference writer orders several pairs at random,
      and the Swift test compares bytes).
  safetensors_roundtrip.py check PATH METADATA_JSON
      Loads PATH with safetensors.numpy.load_file and exits non-zero unless it holds exactly
      the sample tensors (names, dtypes, shapes, values) and the given metadata.

The sample must match `Sample.tensors` in Tests/ScalpelIOTests/Sample.swift.
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file


def sample():
    return {
        "weight": np.array([[1.5, -2.0, 0.25], [3.0, 4.5, -0.125]], dtype=np.float32),
        "scale": np.array(0.1, dtype=np.float64),
        "step": np.array([7], dtype=np.int64),
        "labels": np.array([0, -1, 2, 2147483647], dtype=np.int32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "half": np.array([1.0, -0.5], dtype=np.float16),
        "mask": np.array([0, 1, 255], dtype=np.uint8),
    }


def check(path, expected_metadata):
    loaded = load_file(path)
    expected = sample()
    problems = []
    if sorted(loaded) != sorted(expected):
        problems.append(f"names {sorted(loaded)} != {sorted(expected)}")
    for name in sorted(set(loaded) & set(expected)):
        got, want = loaded[name], expected[name]
        if got.dtype != want.dtype or got.shape != want.shape or not np.array_equal(got, want):
            problems.append(f"{name}: got {got.dtype}{list(got.shape)} {got.tolist()}, "
                            f"want {want.dtype}{list(want.shape)} {want.tolist()}")
    with safe_open(path, framework="np") as handle:
        metadata = handle.metadata() or {}
    if metadata != expected_metadata:
        problems.append(f"metadata {metadata} != {expected_metadata}")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "write":
        save_file(sample(), argv[2], metadata={"format": "numpy"})
        return 0
    if len(argv) == 4 and argv[1] == "check":
        return check(argv[2], json.loads(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
