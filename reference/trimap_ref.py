"""Reference for the ViTMatte trimap: the node's `generate_VITMatte_trimap` with cv2, line for line
(torch replaced by the numpy it wraps).

Usage: trimap_ref.py DIR

DIR/cases.txt has one case per line, `name erode dilate`. For each, DIR/name.mask.npy (H x W u8,
0/255) is read and DIR/name.eroded.npy, DIR/name.dilated.npy and DIR/name.trimap.npy (H x W u8) are
written.
"""

import sys
from pathlib import Path

import cv2
import numpy as np


def g_trimap(mask, erode_kernel_size=10, dilate_kernel_size=10):
    erode_kernel = np.ones((erode_kernel_size, erode_kernel_size), np.uint8)
    dilate_kernel = np.ones((dilate_kernel_size, dilate_kernel_size), np.uint8)
    eroded = cv2.erode(mask, erode_kernel, iterations=5)
    dilated = cv2.dilate(mask, dilate_kernel, iterations=5)
    trimap = np.zeros_like(mask)
    trimap[dilated == 255] = 128
    trimap[eroded == 255] = 255
    return trimap, eroded, dilated


def generate_vitmatte_trimap(mask_u8: np.ndarray, erode: int, dilate: int):
    # The node gets the mask as float 0/1 (u8 / 255) and does `astype(np.uint8) * 255`.
    m = (mask_u8.astype(np.float32) / 255.0).astype(np.uint8) * 255
    trimap, eroded, dilated = g_trimap(m, erode, dilate)
    trimap = trimap.astype(np.float32)
    trimap[trimap == 128] = 0.5
    trimap[trimap == 255] = 1
    # tensor2pil: clip(255 * t, 0, 255) in f32, truncated to u8; then convert("L") is a no-op.
    return np.clip(255.0 * trimap, 0, 255).astype(np.uint8), eroded, dilated


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    d = Path(sys.argv[1])
    for line in (d / "cases.txt").read_text().splitlines():
        if not line.strip():
            continue
        name, erode, dilate = line.split()
        mask = np.load(d / f"{name}.mask.npy")
        trimap, eroded, dilated = generate_vitmatte_trimap(mask, int(erode), int(dilate))
        np.save(d / f"{name}.eroded.npy", eroded)
        np.save(d / f"{name}.dilated.npy", dilated)
        np.save(d / f"{name}.trimap.npy", trimap)


if __name__ == "__main__":
    main()
