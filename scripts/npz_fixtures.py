#!/usr/bin/env python3
"""Writes the small NumPy fixtures the ScalpelData .npy/.npz tests read.

Run from the repository root:  python3 scripts/npz_fixtures.py
Output goes to Tests/ScalpelDataTests/Fixtures/ (npy/ for single arrays, medmnist_*.npz for
MedMNIST-shaped archives). The values are fixed formulas, so rerunning gives the same arrays;
the Swift tests recompute the same formulas and compare element by element.
"""
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "ScalpelDataTests", "Fixtures")

# One (2, 3) array per supported dtype, chosen to hit both ends of each integer range, a
# negative value where the type has one, and floats that need every byte to be read right.
DTYPE_VALUES = {
    "b1": (np.bool_, [[True, False, True], [False, False, True]]),
    "u1": (np.uint8, [[0, 1, 127], [128, 200, 255]]),
    "i1": (np.int8, [[-128, -1, 0], [1, 100, 127]]),
    "u2": (np.uint16, [[0, 1, 255], [256, 40000, 65535]]),
    "i2": (np.int16, [[-32768, -1, 0], [1, 300, 32767]]),
    "u4": (np.uint32, [[0, 1, 65536], [70000, 3000000000, 4294967295]]),
    "i4": (np.int32, [[-2147483648, -1, 0], [1, 100000, 2147483647]]),
    "u8": (np.uint64, [[0, 1, 4294967296], [5, 1 << 62, (1 << 63) - 1]]),
    "i8": (np.int64, [[-(1 << 63), -1, 0], [1, 1 << 40, (1 << 63) - 1]]),
    "f4": (np.float32, [[-1.5, 0.0, 0.25], [1e10, 3.0e-8, 255.0]]),
    "f8": (np.float64, [[-1.5, 0.0, 0.1], [1e300, 2.5e-300, 255.0]]),
}


def image_values(count, height, width, channels, seed):
    """uint8 pixels where every position gives a different value, in (N, H, W, C) order."""
    n, y, x, c = np.meshgrid(
        np.arange(count), np.arange(height), np.arange(width), np.arange(channels), indexing="ij")
    return ((n * 53 + y * 29 + x * 7 + c * 3 + seed) % 256).astype(np.uint8)


def write_npy_fixtures():
    folder = os.path.join(FIXTURES, "npy")
    os.makedirs(folder, exist_ok=True)
    for code, (dtype, values) in DTYPE_VALUES.items():
        np.save(os.path.join(folder, f"{code}.npy"), np.array(values, dtype=dtype))
    # The same float32 array under format versions 2.0 and 3.0 (4-byte header length).
    array = np.array(DTYPE_VALUES["f4"][1], dtype=np.float32)
    for version in [(2, 0), (3, 0)]:
        with open(os.path.join(folder, f"f4_v{version[0]}.npy"), "wb") as f:
            np.lib.format.write_array(f, array, version=version)
    np.save(os.path.join(folder, "scalar_f8.npy"), np.float64(2.5))
    np.save(os.path.join(folder, "empty_i4.npy"), np.zeros((0, 3), dtype=np.int32))


def write_medmnist_fixtures():
    # RGB, three classes, uint8, deflated like the real MedMNIST files.
    rgb = {}
    for index, (split, count) in enumerate([("train", 6), ("val", 3), ("test", 3)]):
        rgb[f"{split}_images"] = image_values(count, 4, 4, 3, seed=index)
        rgb[f"{split}_labels"] = (np.arange(count, dtype=np.uint8) % 3).reshape(count, 1)
    np.savez_compressed(os.path.join(FIXTURES, "medmnist_rgb.npz"), **rgb)

    # Grey, non-square (5 high, 3 wide), four classes, float32 in [0, 1], stored (np.savez).
    # The test split lacks class 3, so the class count must come from all splits together.
    grey = {}
    for index, (split, labels) in enumerate([("train", [0, 1, 2, 3, 1]), ("val", [3, 0]), ("test", [2, 1])]):
        count = len(labels)
        grey[f"{split}_images"] = image_values(count, 5, 3, 1, seed=10 + index)[..., 0].astype(np.float32) / 255
        grey[f"{split}_labels"] = np.array(labels, dtype=np.int64).reshape(count, 1)
    np.savez(os.path.join(FIXTURES, "medmnist_grey4.npz"), **grey)


if __name__ == "__main__":
    write_npy_fixtures()
    write_medmnist_fixtures()
