#!/usr/bin/env python3
"""Exports a ViTMatte model folder (transformers format: config.json + model.safetensors, as the
ComfyUI node keeps it in `models/vitmatte` or `models/vitmatte-base-composition-1k`) to the ONNX
file rmbg-ultra loads: input `pixel_values` f32 [1,4,H,W] (H, W multiples of 32, any size), output
`alphas` f32 [1,1,H,W].

    python3 -m venv .venv-vitmatte
    .venv-vitmatte/bin/pip install -r reference/requirements-vitmatte.txt
    .venv-vitmatte/bin/python scripts/export-vitmatte-onnx.py MODELS/vitmatte MODELS/vitmatte/model.onnx

The export is checked against the PyTorch model on several input sizes before it is written (the
check is what makes a file safe to use: see below).

Why the model is patched while it is exported: VitDet's `get_rel_pos` decides in Python whether to
resize the relative-position tables (`if rel_pos.shape[0] != max_rel_dist`) and turns the token
count into a Python int, so a traced export freezes the global-attention blocks to the size it was
traced at. The replacements below compute the same numbers without Python branches on sizes:
resizing a table to its own length with linear interpolation (align_corners=False) or bicubic
interpolation returns it unchanged, and VitDet always calls it with equal query and key sizes.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

INPUT = "pixel_values"
OUTPUT = "alphas"
OPSET = 18


def _get_rel_pos(q_size, k_size, rel_pos):
    """transformers' vitdet `get_rel_pos` for q_size == k_size, without size-dependent branches."""
    torch._check(q_size == k_size)
    max_rel_dist = 2 * q_size - 1
    resized = nn.functional.interpolate(
        rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1), size=max_rel_dist, mode="linear"
    )
    resized = resized.reshape(-1, max_rel_dist).permute(1, 0)
    q_coords = torch.arange(q_size)[:, None]
    k_coords = torch.arange(k_size)[None, :]
    relative_coords = (q_coords - k_coords) + (k_size - 1)
    return resized[relative_coords]


def _add_decomposed_relative_positions(attn, queries, rel_pos_h, rel_pos_w, q_size, k_size):
    queries_height, queries_width = q_size
    keys_height, keys_width = k_size
    relative_height = _get_rel_pos(queries_height, keys_height, rel_pos_h)
    relative_width = _get_rel_pos(queries_width, keys_width, rel_pos_w)
    batch_size, _, dim = queries.shape
    r_q = queries.reshape(batch_size, queries_height, queries_width, dim)
    relative_height = torch.einsum("bhwc,hkc->bhwk", r_q, relative_height)
    relative_weight = torch.einsum("bhwc,wkc->bhwk", r_q, relative_width)
    attn = (
        attn.view(batch_size, queries_height, queries_width, keys_height, keys_width)
        + relative_height[:, :, :, :, None]
        + relative_weight[:, :, :, None, :]
    ).view(batch_size, queries_height * queries_width, keys_height * keys_width)
    return attn


def _get_absolute_positions(self, abs_pos_embeddings, has_cls_token, height, width):
    if has_cls_token:
        abs_pos_embeddings = abs_pos_embeddings[:, 1:]
    num_position = abs_pos_embeddings.shape[1]
    size = int(math.sqrt(num_position))
    resized = nn.functional.interpolate(
        abs_pos_embeddings.reshape(1, size, size, -1).permute(0, 3, 1, 2),
        size=(height, width),
        mode="bicubic",
        align_corners=False,
    )
    return resized.permute(0, 2, 3, 1)


class _Patched:
    """Swaps in the branch-free functions for the duration of an export."""

    def __enter__(self):
        from transformers.models.vitdet import modeling_vitdet as m

        self.m = m
        self.saved = (m.add_decomposed_relative_positions, m.get_rel_pos, m.VitDetEmbeddings.get_absolute_positions)
        m.add_decomposed_relative_positions = _add_decomposed_relative_positions
        m.get_rel_pos = _get_rel_pos
        m.VitDetEmbeddings.get_absolute_positions = _get_absolute_positions
        return self

    def __exit__(self, *exc):
        m = self.m
        m.add_decomposed_relative_positions, m.get_rel_pos, m.VitDetEmbeddings.get_absolute_positions = self.saved
        return False


class _AlphasOnly(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values).alphas


def export(model, path: Path, example_hw=(160, 224)) -> None:
    """Writes `model` (a VitMatteForImageMatting in eval mode) to `path` with dynamic H and W."""
    model.eval()
    wrapper = _AlphasOnly(model).eval()
    h, w = example_hw
    x = torch.zeros(1, 4, h, w)
    # H and W are multiples of 32 (the processor pads to them); the range only bounds the export.
    hdim = torch.export.Dim("h32", min=1, max=1024) * 32
    wdim = torch.export.Dim("w32", min=1, max=1024) * 32
    with _Patched(), torch.no_grad():
        program = torch.onnx.export(
            wrapper,
            (x,),
            dynamo=True,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_shapes={"pixel_values": {2: hdim, 3: wdim}},
            opset_version=OPSET,
            external_data=False,
            optimize=True,
            verbose=False,
        )
    program.save(str(path), external_data=False)
    _strip_metadata(path)


def _strip_metadata(path: Path) -> None:
    """Drops the per-node stack traces and names the exporter records (most of a small file)."""
    import onnx

    model = onnx.load(str(path))

    def strip(graph):
        for node in graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
            for attr in node.attribute:
                if attr.g is not None and attr.HasField("g"):
                    strip(attr.g)
                for g in attr.graphs:
                    strip(g)

    strip(model.graph)
    del model.metadata_props[:]
    model.producer_name = "rmbg-ultra scripts/export-vitmatte-onnx.py"
    onnx.save(model, str(path))


def check(model, path: Path, sizes, seed=0, tol=1e-4) -> float:
    """Runs the ONNX file and the PyTorch model (unpatched) on random inputs of each size;
    returns the largest difference and raises when it exceeds `tol`."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()], [o.name for o in sess.get_outputs()]
    if names != ([INPUT], [OUTPUT]):
        raise SystemExit(f"{path}: inputs/outputs are {names}, expected [{INPUT}] / [{OUTPUT}]")
    rng = np.random.default_rng(seed)
    worst = 0.0
    for h, w in sizes:
        x = rng.uniform(-1, 1, size=(1, 4, h, w)).astype(np.float32)
        x[:, 3] = rng.choice([0.0, 127 / 255, 1.0], size=(h, w))
        with torch.no_grad():
            want = model(pixel_values=torch.from_numpy(x)).alphas.numpy()
        got = sess.run([OUTPUT], {INPUT: x})[0]
        d = float(np.abs(got - want).max())
        print(f"  {h}x{w}: max |onnx - torch| = {d:.2e}", file=sys.stderr)
        worst = max(worst, d)
    if worst > tol:
        raise SystemExit(f"{path}: the export differs from PyTorch by {worst:.2e} (> {tol:g}); not usable")
    return worst


DEFAULT_CHECK_SIZES = [(224, 224), (160, 288), (512, 384), (96, 640)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir", type=Path, help="folder with config.json and model.safetensors")
    ap.add_argument("output", type=Path, help="the .onnx file to write")
    ap.add_argument("--no-check", action="store_true", help="skip the comparison with PyTorch")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="largest |onnx - torch| accepted (default 1e-4)")
    args = ap.parse_args()

    from transformers import VitMatteForImageMatting

    if not (args.model_dir / "config.json").is_file():
        raise SystemExit(f"{args.model_dir} has no config.json: not a transformers model folder")
    model = VitMatteForImageMatting.from_pretrained(str(args.model_dir)).eval()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.output.parent) as tmp:
        tmp_path = Path(tmp) / "model.onnx"
        export(model, tmp_path)
        if not args.no_check:
            check(model, tmp_path, DEFAULT_CHECK_SIZES, tol=args.tolerance)
        tmp_path.replace(args.output)
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
