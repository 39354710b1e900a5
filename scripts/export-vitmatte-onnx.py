#!/usr/bin/env python3
"""Exports a ViTMatte model folder (transformers format: config.json + model.safetensors, as the
ComfyUI node keeps it in `models/vitmatte` or `models/vitmatte-base-composition-1k`) to the ONNX
file rmbg-ultra loads: input `pixel_values` f32 [1,4,H,W] (H, W multiples of 32, any size), output
`alphas` f32 [1,1,H,W].

    python3 -m venv .venv-vitmatte
    .venv-vitmatte/bin/pip install -r reference/requirements-vitmatte.txt
    .venv-vitmatte/bin/python scripts/export-vitmatte-onnx.py MODELS/vitmatte MODELS/vitmatte/model.onnx

The export is checked against the PyTorch model on several input sizes before it is written (the
check is what makes a file safe to use: the export patches transformers' VitDet, see below).

The export itself, with the patches that let VitDet's position tables follow the input size, is
the ComfyUI package's converter (crates/rmbg-ultra-comfyui/python/rmbg_ultra_comfyui/convert.py),
loaded from its file so that this venv needs neither the package nor its compiled extension; this
script adds the dynamo exporter's settings, the metadata stripping and a check with onnxruntime.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
CONVERT = ROOT / "crates" / "rmbg-ultra-comfyui" / "python" / "rmbg_ultra_comfyui" / "convert.py"


def _load_convert():
    # By file, not `import rmbg_ultra_comfyui`: the package's __init__ needs the compiled extension.
    spec = importlib.util.spec_from_file_location("rmbg_ultra_comfyui_convert", CONVERT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


convert = _load_convert()
INPUT = convert.VITMATTE_INPUT
OUTPUT = convert.VITMATTE_OUTPUT
OPSET = 18


def export(model, path: Path, example_hw=(160, 224)) -> None:
    """Writes `model` (a VitMatteForImageMatting in eval mode) to `path` with dynamic H and W."""
    model.eval()
    convert.export_vitmatte(model, path, "dynamo", opset=OPSET, example_hw=example_hw)
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
    worst = 0.0
    for x in convert.vitmatte_check_inputs(sizes, seed):
        h, w = x.shape[2:]
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
