"""Reference for the guided filter: cv2.ximgproc.guidedFilter, exactly as the node calls it.

Usage: guided_filter_ref.py DIR

DIR/cases.txt has one case per line, `name radius eps`. For each, DIR/name.guide.npy (H x W x 3)
and DIR/name.src.npy (H x W) are read and DIR/name.out.npy (H x W, float32) is written:

    out = cv2.ximgproc.guidedFilter(guide, src, radius, eps)

uint8 arrays are first turned into float32 the node's way (pil2tensor: `a.astype(float32) / 255.0`);
float32 arrays are used as they are. The source is filtered as one channel: the node passes the mask
three times, and OpenCV filters the three identical channels identically.

One Python process serves all the cases of a test run (importing cv2 is the slow part).
"""

import sys
from pathlib import Path

import cv2
import numpy as np


def as_unit_f32(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype != np.float32:
        raise SystemExit(f"unsupported dtype {a.dtype}")
    return a


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    if not hasattr(cv2, "ximgproc"):
        raise SystemExit("cv2.ximgproc missing: install opencv-contrib-python-headless (reference/requirements.txt)")
    d = Path(sys.argv[1])
    for line in (d / "cases.txt").read_text().splitlines():
        if not line.strip():
            continue
        name, radius, eps = line.split()
        guide = as_unit_f32(np.load(d / f"{name}.guide.npy"))
        src = as_unit_f32(np.load(d / f"{name}.src.npy"))
        assert guide.ndim == 3 and guide.shape[2] == 3 and src.shape == guide.shape[:2], (guide.shape, src.shape)
        out = cv2.ximgproc.guidedFilter(guide, src, int(radius), float(eps))
        out = np.asarray(out, dtype=np.float32).reshape(src.shape)
        np.save(d / f"{name}.out.npy", np.ascontiguousarray(out))
    print("ok")


if __name__ == "__main__":
    main()
