#!/usr/bin/env python3
"""Writes the image and DICOM fixtures of Tests/ScalpelDataTests/Fixtures/{images,dicom}.

PNGs and JPEGs are written by Pillow (an encoder independent of the libpng and libjpeg-turbo
decoders Scalpel loads) with patterns the tests recompute. The DICOM files are pydicom's own
small test files (MIT licence, see dicom/LICENSE) and synthetic ones written with pydicom and
transcoded with DCMTK's command-line tools (Debian dcmtk): one per transfer syntax.

Usage: python3 scripts/image_fixtures.py   (needs: pip install pillow pydicom; apt-get install dcmtk)
"""
import os
import shutil
import subprocess

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid, SecondaryCaptureImageStorage

ROOT = os.path.join(os.path.dirname(__file__), "..", "Tests", "ScalpelDataTests", "Fixtures")
IMAGES, DICOM = os.path.join(ROOT, "images"), os.path.join(ROOT, "dicom")


def grey8(w, h):
    return np.fromfunction(lambda y, x: (x * 19 + y * 37) % 256, (h, w), dtype=np.int64).astype(np.uint8)


def rgb8(w, h):
    r = np.fromfunction(lambda y, x: (x * 30) % 256, (h, w), dtype=np.int64)
    g = np.fromfunction(lambda y, x: (y * 50) % 256, (h, w), dtype=np.int64)
    b = np.fromfunction(lambda y, x: (x * y * 11) % 256, (h, w), dtype=np.int64)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def smooth(w, h, colour):
    """A gradient JPEG keeps within a few levels of."""
    base = np.fromfunction(lambda y, x: 40 + 4 * x + 3 * y, (h, w), dtype=np.int64)
    if not colour:
        return base.astype(np.uint8)
    return np.stack([base, 220 - 3 * base // 4, 60 + base // 2], axis=-1).astype(np.uint8)


def images():
    os.makedirs(IMAGES, exist_ok=True)
    Image.fromarray(grey8(13, 7)).save(os.path.join(IMAGES, "grey8.png"))
    grey16 = np.fromfunction(lambda y, x: (x * 4099 + y * 7919) % 65536, (5, 11), dtype=np.int64).astype(np.uint16)
    Image.fromarray(grey16).save(os.path.join(IMAGES, "grey16.png"))
    bits = (np.fromfunction(lambda y, x: (x + y) % 2, (6, 10), dtype=np.int64) * 255).astype(np.uint8)
    Image.fromarray(bits).convert("1").save(os.path.join(IMAGES, "grey1.png"))
    la = np.stack([grey8(9, 6), np.full((6, 9), 255, np.uint8)], axis=-1)
    la[0, 0, 1] = 0  # transparent: composited onto black
    Image.fromarray(la, mode="LA").save(os.path.join(IMAGES, "grey_alpha.png"))
    Image.fromarray(rgb8(7, 5)).save(os.path.join(IMAGES, "rgb.png"))
    rgba = np.concatenate([rgb8(7, 5), np.full((5, 7, 1), 255, np.uint8)], axis=-1)
    rgba[4, 6, 3] = 0
    Image.fromarray(rgba).save(os.path.join(IMAGES, "rgba.png"))
    palette = Image.fromarray(np.fromfunction(lambda y, x: (x + y) % 4, (8, 8), dtype=np.int64).astype(np.uint8)).convert("P")
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 10, 20, 250] + [0] * (252 * 3))
    palette.save(os.path.join(IMAGES, "palette.png"))
    for colour in (False, True):
        mode, name = ("RGB", "colour") if colour else ("L", "grey")
        picture = Image.fromarray(smooth(33, 21, colour))
        picture.save(os.path.join(IMAGES, f"{name}_baseline.jpg"), quality=95)
        picture.save(os.path.join(IMAGES, f"{name}_progressive.jpg"), quality=95, progressive=True)
    # Bad files: a PNG cut in half, a JPEG cut before its scan and one cut inside it, an empty
    # file, a text file.
    for good, bad, keep in (("grey8.png", "truncated.png", 0.5), ("colour_baseline.jpg", "truncated.jpg", 0.5),
                            ("colour_baseline.jpg", "truncated_scan.jpg", 0.85)):
        data = open(os.path.join(IMAGES, good), "rb").read()
        open(os.path.join(IMAGES, bad), "wb").write(data[: int(len(data) * keep)])
    open(os.path.join(IMAGES, "empty.png"), "wb").close()
    open(os.path.join(IMAGES, "notes.txt"), "w").write("not an image\n")


def synthetic(path, pixels, photometric, bits, window=None, rescale=None):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[path])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    # Header values the outputs must never carry.
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Jane", "SCALPEL-PATIENT-7731", "19700101"
    ds.StudyDate, ds.StudyInstanceUID, ds.SeriesInstanceUID = "20240102", generate_uid(entropy_srcs=[path, "study"]), generate_uid(entropy_srcs=[path, "series"])
    ds.Modality = "OT"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    if rescale:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.astype(np.uint8 if bits == 8 else np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def dicom():
    os.makedirs(DICOM, exist_ok=True)
    source = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
    for name in ("MR_small.dcm", "MR_small_implicit.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "image_dfl.dcm",
                 "CT_small.dcm", "SC_rgb_jpeg_dcmtk.dcm", "MR_truncated.dcm"):
        shutil.copy(os.path.join(source, name), os.path.join(DICOM, name))
    # JPEG lossless (process 14, selection value 1) of MR_small, by DCMTK.
    subprocess.run(["dcmcjpeg", "+e1", os.path.join(DICOM, "MR_small.dcm"), os.path.join(DICOM, "MR_small_jpeg_lossless.dcm")], check=True)
    ramp = np.fromfunction(lambda y, x: 100 * x + 7 * y, (6, 10), dtype=np.int64)
    synthetic(os.path.join(DICOM, "mono2_rescale_window.dcm"), ramp, "MONOCHROME2", 16, window=(700, 800), rescale=(2, -100))
    synthetic(os.path.join(DICOM, "mono1_rescale_window.dcm"), ramp, "MONOCHROME1", 16, window=(700, 800), rescale=(2, -100))
    synthetic(os.path.join(DICOM, "mono2_plain.dcm"), ramp, "MONOCHROME2", 16)
    grey = np.fromfunction(lambda y, x: 40 + 4 * x + 3 * y, (16, 24), dtype=np.int64)
    synthetic(os.path.join(DICOM, "mono2_8bit.dcm"), grey, "MONOCHROME2", 8)
    # JPEG baseline (8-bit lossy) of the 8-bit image, by DCMTK.
    subprocess.run(["dcmcjpeg", "+eb", os.path.join(DICOM, "mono2_8bit.dcm"), os.path.join(DICOM, "mono2_8bit_jpeg_baseline.dcm")], check=True)


if __name__ == "__main__":
    images()
    dicom()
