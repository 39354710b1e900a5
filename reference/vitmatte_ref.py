#!/usr/bin/env python3
"""Reference of the node's ViTMatte stage (docs/node-behaviour.md §7.2) with numpy, Pillow and
onnxruntime only (the reference venv), for tests/parity_vitmatte.rs.

`generate_vitmatte` below is the node's `generate_VITMatte` with the model call replaced by an
ONNX Runtime session on the same file the Rust code loads, and `preprocess` is transformers'
VitMatteImageProcessor (numpy backend: rescale in f64 then cast to f32, normalise in f32, trimap
as channel 4, zero-pad bottom/right to multiples of 32). scripts/make-tiny-vitmatte.py checks
`preprocess` against transformers itself.

Usage: vitmatte_ref.py MODEL.onnx DIR
       vitmatte_ref.py --target-sizes IN.txt OUT.txt
  DIR/cases.txt has one case a line: `NAME MAX_MEGAPIXELS`; for each it reads NAME_image.npy
  (u8 HxWx3) and NAME_trimap.npy (u8 HxW) and writes NAME_ref_pixel_values.npy (f32 1x4xHpxWp),
  NAME_ref_f32.npy (f32, the cropped alpha before u8, at the processed size) and NAME_ref_u8.npy
  (u8 HxW, the stage's output).
  With --target-sizes, each line `W H MAX_MEGAPIXELS` of IN.txt gives a line `TW TH` (or `none`)
  in OUT.txt: the node's size limit alone.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

RESCALE = 1 / 255
MEAN = np.array([0.5, 0.5, 0.5], dtype=np.float32)
STD = np.array([0.5, 0.5, 0.5], dtype=np.float32)
DIVISOR = 32


def target_size(width: int, height: int, max_megapixels: float):
    """The node's size limit: None when the image is small enough, else the reduced size."""
    max_pixels = max_megapixels * 1048576
    ratio = width / height
    target_width = math.sqrt(ratio * max_pixels)
    target_height = target_width / ratio
    if width * height > max_pixels:
        return int(target_width), int(target_height)
    return None


def preprocess(image: Image.Image, trimap: Image.Image) -> np.ndarray:
    img = np.asarray(image.convert("RGB")).transpose(2, 0, 1)  # CHW u8
    tri = np.asarray(trimap.convert("L"))[None]  # 1HW u8
    img = (img.astype(np.float64) * RESCALE).astype(np.float32)
    tri = (tri.astype(np.float64) * RESCALE).astype(np.float32)
    img = (img - MEAN[:, None, None]) / STD[:, None, None]
    x = np.concatenate([img, tri], axis=0)
    h, w = x.shape[1:]
    ph = 0 if h % DIVISOR == 0 else DIVISOR - h % DIVISOR
    pw = 0 if w % DIVISOR == 0 else DIVISOR - w % DIVISOR
    x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="constant", constant_values=0)
    return x[None].astype(np.float32)


def tensor2pil_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(255.0 * x.astype(np.float32), 0, 255).astype(np.uint8)


def generate_vitmatte(run, image: Image.Image, trimap: Image.Image, max_megapixels: float):
    """Returns (pixel_values, float alpha at the processed size, u8 L image at the input size)."""
    width, height = image.size
    size = target_size(width, height, max_megapixels)
    if size is not None:
        image = image.resize(size, Image.BILINEAR)
        trimap = trimap.resize(size, Image.BILINEAR)
    x = preprocess(image, trimap)
    alphas = run(x)  # [1,1,Hp,Wp]
    alpha_f32 = alphas[0, 0, : image.height, : image.width]
    mask = Image.fromarray(tensor2pil_u8(np.squeeze(alphas)))
    mask = mask.crop((0, 0, image.width, image.height))
    if size is not None:
        mask = mask.resize((width, height), Image.BILINEAR)
    return x, alpha_f32, np.asarray(mask)


def ellipse_case(img: np.ndarray, r: np.ndarray, rng, unknown_below: float, foreground_below: float):
    """A synthetic ViTMatte input (for scripts/make-tiny-vitmatte.py's fixtures and
    bench/bench_vitmatte.py): the picture `img` (float, H×W×3, 0..255) inverted inside the ellipse
    `r < 1` (r: H×W, the scaled distance from its centre) with noise of σ 6 from `rng`, and its trimap:
    255 where r < foreground_below, 127 where r < unknown_below, else 0. Returns u8 (image, trimap)."""
    img[r < 1] = 255 - img[r < 1]
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    trimap = np.zeros(r.shape, np.uint8)
    trimap[r < unknown_below] = 127
    trimap[r < foreground_below] = 255
    return img, trimap


def onnx_runner(model_path: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(["alphas"], {"pixel_values": x})[0]


def main() -> None:
    if sys.argv[1] == "--target-sizes":
        out = []
        for line in Path(sys.argv[2]).read_text().splitlines():
            if line.strip():
                w, h, mp = line.split()
                size = target_size(int(w), int(h), float(mp))
                out.append("none" if size is None else f"{size[0]} {size[1]}")
        Path(sys.argv[3]).write_text("\n".join(out) + "\n")
        return
    model, folder = sys.argv[1], Path(sys.argv[2])
    run = onnx_runner(model)
    for line in (folder / "cases.txt").read_text().splitlines():
        if not line.strip():
            continue
        name, mp = line.split()
        image = Image.fromarray(np.load(folder / f"{name}_image.npy"))
        trimap = Image.fromarray(np.load(folder / f"{name}_trimap.npy"))
        x, a32, a8 = generate_vitmatte(run, image, trimap, float(mp))
        np.save(folder / f"{name}_ref_pixel_values.npy", x)
        np.save(folder / f"{name}_ref_f32.npy", np.ascontiguousarray(a32, dtype=np.float32))
        np.save(folder / f"{name}_ref_u8.npy", np.ascontiguousarray(a8, dtype=np.uint8))


if __name__ == "__main__":
    main()
