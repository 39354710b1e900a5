"""Set-up from ComfyUI's Python, where the rmbg-ultra CLI is not installed:

    python -m rmbg_ultra_comfyui setup [--cuda]   ONNX Runtime + the isnet-general model into the cache
    python -m rmbg_ultra_comfyui fetch ID         a model into the cache (isnet-general, rmbg-1.4, vitmatte-small, ...)
    python -m rmbg_ultra_comfyui convert DIR      turn an RMBG-1.4 (model.pth) or ViTMatte (transformers) folder into model.onnx
    python -m rmbg_ultra_comfyui where            the runtime, cache and ComfyUI folders the node uses
    python -m rmbg_ultra_comfyui install-node COMFYUI_DIR
                                                  after `pip install` of the wheel: a custom_nodes/ folder that loads it
"""

SHIM = """# Loads the pip-installed rmbg-ultra ComfyUI node (written by `python -m rmbg_ultra_comfyui install-node`).
from rmbg_ultra_comfyui import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
"""

import logging
import os
import sys
from pathlib import Path

from . import _native, convert, models
from .commands import setup_parser

# What the commands raise for a reason the user can act on: told in one line, not a traceback.
EXPECTED = (_native.RmbgUltraError, models.ModelNotFound, convert.ConversionError)


def fetch(model_id):
    """A model into the cache; RMBG_ULTRA_OFFLINE / HF_HUB_OFFLINE keep it to what is there already."""
    task = "matting" if model_id.startswith("vitmatte") else "segmentation"
    allow = not models.offline()
    try:
        return _native.resolve_model(model_id, task, allow)
    except _native.RmbgUltraError as e:
        off = "" if allow else "downloads are off (RMBG_ULTRA_OFFLINE or HF_HUB_OFFLINE is set); "
        advice = models.fetch_advice(model_id, downloads_off=not allow)
        raise models.ModelNotFound(
            f"cannot fetch {model_id}: {off}{models.library_reason(e)}{f'. What to do: {advice}' if advice else ''}"
        ) from None


def main(argv=None):
    ap, sub = setup_parser("python -m rmbg_ultra_comfyui", __doc__)
    c = sub.add_parser("convert")
    c.add_argument("folder", type=Path)
    i = sub.add_parser("install-node")
    i.add_argument("comfyui", type=Path, help="the ComfyUI folder (the one holding custom_nodes/)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("RMBG_ULTRA_PYTHON", sys.executable)
    try:
        run(args)
    except EXPECTED as e:
        print(f"{ap.prog} {args.cmd}: {' '.join(models.library_reason(e).split())}", file=sys.stderr)
        return 1
    return 0


def run(args):
    if args.cmd == "setup":
        print("ONNX Runtime:", _native.install_runtime(args.cuda))
        print("isnet-general:", _native.resolve_model("isnet-general", "segmentation", True))
    elif args.cmd == "fetch":
        print(fetch(args.id))
    elif args.cmd == "convert":
        models.ensure_runtime(True)
        d = args.folder
        if (d / "config.json").is_file() and convert.weights_file(d) is not None:
            out = convert.convert("vitmatte", d, d / "model.onnx", log=print)
        else:
            weights = next((d / n for n in ("model.pth", "model.safetensors") if (d / n).is_file()), None)
            if weights is None:
                raise SystemExit(f"{d}: neither model.pth / model.safetensors (RMBG-1.4) nor config.json + weights (ViTMatte)")
            out = convert.convert("rmbg", weights, d / "model.onnx", log=print)
        print(out)
    elif args.cmd == "where":
        try:
            print("ONNX Runtime:", _native.runtime_library())
        except _native.RmbgUltraError as e:
            print("ONNX Runtime: not found:", e, "| this Python's onnxruntime:", models.python_onnxruntime_library())
        print("cache:", _native.cache_root())
        print("ComfyUI models:", models.comfyui_models_dir())
        print("RMBG-1.4 folders:", *(list(map(str, models.rmbg_folders())) or ["(none: not inside ComfyUI)"]))
    elif args.cmd == "install-node":
        nodes = args.comfyui / "custom_nodes"
        if not nodes.is_dir():
            raise SystemExit(f"{nodes} does not exist: pass the ComfyUI folder")
        d = nodes / "rmbg-ultra-comfyui"
        d.mkdir(exist_ok=True)
        (d / "__init__.py").write_text(SHIM)
        print(f"wrote {d / '__init__.py'}; restart ComfyUI")


if __name__ == "__main__":
    sys.exit(main())
