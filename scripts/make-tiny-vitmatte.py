#!/usr/bin/env python3
"""Builds a random-weight ViTMatte (transformers `VitMatteForImageMatting`), exports it to ONNX
with scripts/export-vitmatte-onnx.py and, for the tiny size, writes the ViTMatte-stage fixtures of
tests/parity_vitmatte.rs: inputs and the alphas that transformers' VitMatteImageProcessor + the
PyTorch model give for them, run through the node's own resize/crop/u8 logic.

    .venv-vitmatte/bin/python scripts/make-tiny-vitmatte.py --size tiny --out testdata/vitmatte
    .venv-vitmatte/bin/python scripts/make-tiny-vitmatte.py --size small --out /tmp/vitmatte-small-random

`tiny` is a few hundred KB: the real architecture (VitDet backbone with window and global
attention, relative and absolute position embeddings, residual bottleneck blocks after the global
blocks; ConvStream + fusion decoder + head) at toy widths. `small` and `base` have the real sizes
(hidden 384 / 768, 12 layers) and are for benchmarks only: they also get a transformers folder
(config.json, model.safetensors, preprocessor_config.json) so bench/bench_vitmatte.py can load
them with from_pretrained. Weights are random; nothing here is trained or downloaded.

Needs the .venv-vitmatte venv (reference/requirements-vitmatte.txt); deterministic for a seed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

ROOT = Path(__file__).resolve().parent.parent


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


exporter = _load(ROOT / "scripts" / "export-vitmatte-onnx.py", "export_vitmatte_onnx")
reference = _load(ROOT / "reference" / "vitmatte_ref.py", "vitmatte_ref")

# Window blocks / global blocks as in hustvl/vitmatte-*-composition-1k.
SIZES = {
    "tiny": dict(hidden=32, layers=4, heads=2, window_blocks=[0, 2], residual_blocks=[1, 3], image_size=256,
                 convstream=[8, 16, 24], fusion=[32, 16, 12, 8]),
    "small": dict(hidden=384, layers=12, heads=6, window_blocks=[0, 1, 3, 4, 6, 7, 9, 10],
                  residual_blocks=[2, 5, 8, 11], image_size=512, convstream=[48, 96, 192], fusion=[256, 128, 64, 32]),
    "base": dict(hidden=768, layers=12, heads=12, window_blocks=[0, 1, 3, 4, 6, 7, 9, 10],
                 residual_blocks=[2, 5, 8, 11], image_size=512, convstream=[48, 96, 192], fusion=[256, 128, 64, 32]),
}


def build(size: str, seed: int):
    from transformers import VitDetConfig, VitMatteConfig, VitMatteForImageMatting

    s = SIZES[size]
    backbone = VitDetConfig(
        hidden_size=s["hidden"], num_hidden_layers=s["layers"], num_attention_heads=s["heads"], mlp_ratio=4,
        image_size=s["image_size"], pretrain_image_size=224, patch_size=16, num_channels=4, window_size=14,
        window_block_indices=s["window_blocks"], residual_block_indices=s["residual_blocks"],
        use_absolute_position_embeddings=True, use_relative_position_embeddings=True, qkv_bias=True,
        layer_norm_eps=1e-6, drop_path_rate=0.0, out_features=[f"stage{s['layers']}"],
    )
    config = VitMatteConfig(backbone_config=backbone, hidden_size=s["hidden"],
                            convstream_hidden_sizes=s["convstream"], fusion_hidden_sizes=s["fusion"])
    model = VitMatteForImageMatting(config).eval()
    randomise(model, seed)
    return model


def randomise(model, seed: int) -> None:
    """Random weights that keep activations in range and make every part matter: matrices with
    fan-in scaled normals, relative/absolute position tables of unit/half scale (a zero init, as
    transformers uses, would hide a broken export of them), BatchNorm statistics measured on
    random inputs so the normalisation is neither the identity nor saturating."""
    g = torch.Generator().manual_seed(seed)

    def normal(shape, std):
        return torch.randn(shape, generator=g) * std

    with torch.no_grad():
        for name, p in model.named_parameters():
            if "rel_pos" in name:
                p.copy_(normal(p.shape, 1.0))
            elif "position_embeddings" in name:
                p.copy_(normal(p.shape, 0.5))
            elif p.dim() >= 2:
                p.copy_(normal(p.shape, 1.4 / p[0].numel() ** 0.5))
            elif name.endswith("weight"):
                p.copy_(1.0 + normal(p.shape, 0.2))
            else:
                p.copy_(normal(p.shape, 0.2))
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration batches
        model.train()
        rng = np.random.default_rng(seed)
        for _ in range(4):
            x = rng.uniform(-1, 1, size=(1, 4, 192, 256)).astype(np.float32)
            x[:, 3] = rng.choice([0.0, 127 / 255, 1.0], size=(192, 256))
            model(pixel_values=torch.from_numpy(x))
        model.eval()


def synthetic_case(rng, width: int, height: int):
    """A smooth picture with edges and a little noise, and a trimap of a blob with a band."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.stack([
        128 + 100 * np.sin(xx / rng.uniform(5, 20) + rng.uniform(0, 6)) * np.cos(yy / rng.uniform(5, 20)),
        255 * xx / max(width - 1, 1),
        255 * yy / max(height - 1, 1),
    ], axis=-1)
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    rx, ry = rng.uniform(0.2, 0.35) * width, rng.uniform(0.2, 0.35) * height
    r = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    return reference.ellipse_case(img, r, rng, unknown_below=1.25, foreground_below=0.8)


# (name, width, height, max_megapixels): the last one is over its limit (43,200 px > 0.03 * 2^20),
# so the node's Pillow BILINEAR down- and up-scaling runs.
CASES = [("plain", 150, 110, 2.0), ("odd", 97, 64, 2.0), ("resized", 240, 180, 0.03)]


def write_fixtures(model, out: Path, onnx_path: Path, seed: int) -> None:
    from transformers.models.vitmatte.image_processing_pil_vitmatte import VitMatteImageProcessorPil

    processor = VitMatteImageProcessorPil()  # hustvl's preprocessor_config: rescale 1/255, mean = std = 0.5, pad 32
    run_onnx = reference.onnx_runner(str(onnx_path))

    def run_torch(x):
        with torch.no_grad():
            return model(pixel_values=torch.from_numpy(x)).alphas.numpy()

    rng = np.random.default_rng(seed + 1)
    meta = []
    lines = []
    for name, w, h, mp in CASES:
        img, tri = synthetic_case(rng, w, h)
        np.save(out / f"{name}_image.npy", img)
        np.save(out / f"{name}_trimap.npy", tri)

        # The node, step by step, with transformers' processor and the PyTorch model.
        image, trimap = Image.fromarray(img), Image.fromarray(tri)
        size = reference.target_size(w, h, mp)
        if size is not None:
            image = image.resize(size, Image.BILINEAR)
            trimap = trimap.resize(size, Image.BILINEAR)
        pixel_values = processor(images=image, trimaps=trimap, return_tensors="np")["pixel_values"]
        ours = reference.preprocess(image, trimap)
        if pixel_values.shape != ours.shape or not np.array_equal(pixel_values, ours):
            raise SystemExit(f"{name}: reference/vitmatte_ref.py preprocess differs from VitMatteImageProcessor")
        alphas = run_torch(pixel_values.astype(np.float32))
        alpha_f32 = alphas[0, 0, : image.height, : image.width]
        mask = Image.fromarray(reference.tensor2pil_u8(np.squeeze(alphas))).crop((0, 0, image.width, image.height))
        if size is not None:
            mask = mask.resize((w, h), Image.BILINEAR)
        np.save(out / f"{name}_alpha_f32.npy", np.ascontiguousarray(alpha_f32, dtype=np.float32))
        np.save(out / f"{name}_alpha_u8.npy", np.asarray(mask))

        # The ONNX file must agree with PyTorch on exactly these inputs.
        _, a_onnx, _ = reference.generate_vitmatte(run_onnx, Image.fromarray(img), Image.fromarray(tri), mp)
        d = float(np.abs(a_onnx - alpha_f32).max())
        print(f"{name}: {w}x{h} max_megapixels {mp} -> processed {image.width}x{image.height}; "
              f"alpha range {alpha_f32.min():.3f}..{alpha_f32.max():.3f}; |onnx - torch| {d:.2e}", file=sys.stderr)
        if d > 5e-5:
            raise SystemExit(f"{name}: ONNX and PyTorch differ by {d}")
        meta.append(dict(name=name, width=w, height=h, max_megapixels=mp,
                         processed_width=image.width, processed_height=image.height))
        lines.append(f"{name} {mp}")
    (out / "cases.json").write_text(json.dumps(meta, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=20260801)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)

    model = build(args.size, args.seed)
    n = sum(p.numel() for p in model.parameters())
    print(f"{args.size}: {n:,} parameters", file=sys.stderr)
    onnx_path = args.out / ("tiny-vitmatte.onnx" if args.size == "tiny" else "model.onnx")
    exporter.export(model, onnx_path)
    if args.size == "tiny":
        exporter.check(model, onnx_path, exporter.DEFAULT_CHECK_SIZES)
    else:
        # Twelve random-weight layers amplify f32 rounding far more than trained weights do.
        exporter.check(model, onnx_path, [(224, 224), (160, 288)], tol=1e-3)
    if args.size == "tiny":
        write_fixtures(model, args.out, onnx_path, args.seed)
    else:
        from transformers.models.vitmatte.image_processing_pil_vitmatte import VitMatteImageProcessorPil

        model.save_pretrained(str(args.out / "hf"))
        VitMatteImageProcessorPil().save_pretrained(str(args.out / "hf"))
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size:,} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
