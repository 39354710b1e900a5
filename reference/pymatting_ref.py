"""Reference side of tests/parity_pymatting.rs: OpenCV's blur, pymatting's closed-form matting
and a re-statement of the node's `mask_edge_detail` (ComfyUI_LayerStyle imagefunc.py), run on
cases the Rust test writes.

Usage: pymatting_ref.py DIR
DIR/manifest.json is a list of cases; every array is a .npy file in DIR. Each case writes its
result to DIR/<out>, or, if the library raises, DIR/<out>.err with "ExceptionType: message".

  {"kind": "blur",  "src": f64 HxW, "k": int, "out": f64 HxW}
      cv2.GaussianBlur(src, (k, k), 0)
  {"kind": "alpha", "image": f64 HxWx3, "trimap": f64 HxW, "out": f64 HxW}
      pymatting.estimate_alpha_cf with the node's kwargs
  {"kind": "node",  "image": u8 HxWx3, "mask": u8 HxW, "detail_range": int,
   "black_point": float, "white_point": float, "out": u8 HxW}
      the node's PyMatting branch, u8 output
All of it runs in one process so numba compiles pymatting once.
"""

import json
import os
import sys
import time
import warnings

import cv2
import numpy as np
from pymatting import estimate_alpha_cf, fix_trimap


def node_mask_edge_detail(image_u8, mask_u8, detail_range, black_point, white_point):
    """The node: `tensor2pil(mask_edge_detail(i, m, detail_range // 8 + 1, bp, wp))`."""
    # pil2tensor: u8 -> f32 / 255 (f32 arithmetic); the mask is binary 0/1 in f32.
    i = image_u8.astype(np.float32) / 255.0
    m = mask_u8.astype(np.float32) / 255.0
    dr = detail_range // 8 + 1
    d = dr * 5 + 1
    if not d % 2:
        d += 1
    img = i.astype(np.float64)
    trimap = m.astype(np.float64)
    if dr > 0:
        trimap = cv2.GaussianBlur(trimap, (d, d), 0)
    trimap = fix_trimap(trimap, black_point, white_point)
    alpha = estimate_alpha_cf(
        img, trimap, laplacian_kwargs={"epsilon": 1e-6}, cg_kwargs={"maxiter": 500}
    )
    # alpha repeated to 3 channels, as f32; tensor2pil: clip(255 * x) in f32, truncating cast.
    a = alpha.astype(np.float32)
    return np.clip(255.0 * a, 0, 255).astype(np.uint8)


def run_case(d, case):
    kind = case["kind"]
    load = lambda key: np.load(os.path.join(d, case[key]))
    if kind == "blur":
        return cv2.GaussianBlur(load("src"), (case["k"], case["k"]), 0)
    if kind == "alpha":
        return estimate_alpha_cf(
            load("image"),
            load("trimap"),
            laplacian_kwargs={"epsilon": 1e-6},
            cg_kwargs={"maxiter": 500},
        )
    if kind == "node":
        return node_mask_edge_detail(
            load("image"),
            load("mask"),
            case["detail_range"],
            case["black_point"],
            case["white_point"],
        )
    raise SystemExit(f"unknown case kind {kind!r}")


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "manifest.json")) as f:
        cases = json.load(f)
    warnings.simplefilter("ignore")
    for case in cases:
        out = os.path.join(d, case["out"])
        t0 = time.perf_counter()
        try:
            # pymatting prints performance warnings on stdout; keep stdout for the timings.
            sys.stdout.flush()
            saved = os.dup(1)
            os.dup2(2, 1)
            try:
                result = run_case(d, case)
            finally:
                sys.stdout.flush()
                os.dup2(saved, 1)
                os.close(saved)
            np.save(out, np.ascontiguousarray(result))
        except ValueError as e:
            with open(out + ".err", "w") as f:
                f.write(f"{type(e).__name__}: {e}")
        print(f"{case['out']}: {time.perf_counter() - t0:.3f} s", flush=True)


if __name__ == "__main__":
    main()
