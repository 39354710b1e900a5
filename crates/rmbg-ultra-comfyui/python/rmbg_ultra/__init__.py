"""rmbg-ultra from Python: the CLI's background remover on decoded images (numpy only, no torch).

    import rmbg_ultra

    remover = rmbg_ultra.Remover(method="GuidedFilter")          # models loaded once
    rgb = rmbg_ultra.decode(open("photo.jpg", "rb").read())        # uint8 [H, W, 3], as the CLI decodes
    rgba, mask = remover.remove(rgb)                               # uint8 [H, W, 4], [H, W]
    open("photo.png", "wb").write(rmbg_ultra.encode(rgba))         # the CLI's PNG, byte for byte

`Remover` takes the options of `rmbg-ultra remove` under the same names, defaults and ranges;
the work runs with the GIL released, so threads (or Ray actors, see `rmbg_ultra.ray_data`) run
in parallel. Models and ONNX Runtime come from the rmbg-ultra cache (`python -m rmbg_ultra setup`
installs both; missing models are fetched unless `offline=True`).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading

import numpy as np

from rmbg_ultra_comfyui import _native
from rmbg_ultra_comfyui import models as _models

__version__ = _native.__version__

RmbgUltraError = _native.RmbgUltraError
DecodeError = _native.DecodeError
DEFAULT_SEGMENTATION = _native.DEFAULT_SEGMENTATION
MAX_PIXELS = _native.MAX_PIXELS

# The library's parameter table: names, defaults and lists as the CLI has them.
_PARAMS = {p["name"]: p for p in _native.PARAMS}
_DEFAULT = {name: p["default"] for name, p in _PARAMS.items()}


def _choices(name):
    """A parameter's names, its default first."""
    choices = list(_PARAMS[name]["choices"])
    return sorted(choices, key=lambda c: c != _DEFAULT[name])


METHODS = _choices("method")
PROFILES = _choices("profile")
FOREGROUNDS = _choices("foreground")
DEVICES = _choices("device")
SETUP_COMMAND = "python -m rmbg_ultra setup"


# A model neither installed nor allowed to be fetched: the message names the command that fetches it;
# `model` is the id or path asked for and `searched` every place looked in.
ModelNotFound = _native.ModelNotFound
# A folder with a model's transformers weights but no ONNX file: the message names the conversion;
# `model` is the model's id and `folder` the folder.
ModelNeedsExport = _native.ModelNeedsExport


def _from_python(message: str) -> str:
    """The library's hints name the CLI; where it is not installed the package does the same."""
    message = re.sub(r"`rmbg-ultra models fetch ([^`]+)`", r"`rmbg-ultra models fetch \1`, or from Python `python -m rmbg_ultra fetch \1`", message)
    return message.replace("run `rmbg-ultra setup`", f"run `rmbg-ultra setup`, or from Python `{SETUP_COMMAND}`")


def _explained(error: RmbgUltraError) -> RmbgUltraError:
    """The same exception (type and attributes) with the CLI's advice worded for Python."""
    explained = type(error)(_from_python(str(error)))
    for attr in ("reason", "hint", "kind", "model", "searched", "folder"):
        if hasattr(error, attr):
            setattr(explained, attr, getattr(error, attr))
    return explained


_runtime_lock = threading.Lock()


def ensure_runtime(allow_fetch: bool = True) -> None:
    """ONNX Runtime for the library, as the ComfyUI node finds it: $ORT_DYLIB_PATH; else the
    rmbg-ultra cache; else this Python's `onnxruntime` package (>= 1.22); else, when allowed, the
    CPU build installed into the cache with pip."""
    with _runtime_lock:
        if os.environ.get("ORT_DYLIB_PATH"):
            return
        try:
            _native.runtime_library()
            return
        except RmbgUltraError as e:
            missing = e
        lib = _models.python_onnxruntime_library()
        if lib is not None:
            os.environ["ORT_DYLIB_PATH"] = str(lib)
        elif allow_fetch:
            os.environ.setdefault("RMBG_ULTRA_PYTHON", sys.executable)
            _native.install_runtime(False)
        else:
            raise RmbgUltraError(f"{_from_python(str(missing))}; offline, so it was not installed") from None


def _as_image(image):
    """Any array-like (numpy array, PIL image, ...) as a C-contiguous numpy array, its dtype kept:
    a wrong dtype or shape is reported by the extension, with the argument's name."""
    return np.ascontiguousarray(image)


def _ranges(*names):
    return ", ".join(f"{n} ({_PARAMS[n]['min']:g}..={_PARAMS[n]['max']:g})" for n in names)


class Remover:
    __doc__ = f"""Removes backgrounds with fixed parameters; the models are loaded once, here.

    profile: {" or ".join(map(repr, PROFILES))} (the first is the default; "node" is the ComfyUI node
    exactly). method: the detail method, {", ".join(METHODS)} (or the CLI's ids: vitmatte, pymatting,
    guided-filter, ...); None (default): the profile's, PyMatting for quality (none with fast=True:
    the int8 network's soft mask) and VITMatte for node. seg_model: a model id or an .onnx path. device: {", ".join(DEVICES)}.
    {_ranges("erode", "dilate", "black_point", "white_point", "max_megapixels")},
    process_detail (False: the CLI's --no-detail), foreground ({", ".join(FOREGROUNDS)}; None: the
    profile's), fast (the quality profile on the int8 model), matting_model, comfyui_models,
    strict_device: as the CLI's options. offline: never download (a missing model or runtime raises,
    naming the command that installs it).
    """

    def __init__(self, profile=_DEFAULT["profile"], method=_DEFAULT["method"], seg_model=DEFAULT_SEGMENTATION,
                 device=_DEFAULT["device"], *, erode=_DEFAULT["erode"], dilate=_DEFAULT["dilate"],
                 black_point=_DEFAULT["black_point"], white_point=_DEFAULT["white_point"],
                 process_detail=_DEFAULT["process_detail"], max_megapixels=_DEFAULT["max_megapixels"],
                 foreground=_DEFAULT["foreground"], fast=_DEFAULT["fast"], matting_model=None, comfyui_models=None,
                 strict_device=False, offline=False):
        try:
            ensure_runtime(allow_fetch=not offline)
            self._native = _native.ImageRemover(
                profile=profile, method=method, seg_model=seg_model, device=device, erode=int(erode), dilate=int(dilate),
                black_point=float(black_point), white_point=float(white_point), process_detail=bool(process_detail),
                max_megapixels=float(max_megapixels), foreground=foreground, fast=bool(fast),
                matting_model=None if matting_model is None else str(matting_model),
                comfyui_models=None if comfyui_models is None else str(comfyui_models),
                strict_device=bool(strict_device), allow_fetch=not offline,
            )
        except RmbgUltraError as e:
            raise _explained(e) from None
        finally:
            _forward_logs()

    @property
    def device(self) -> str:
        """Where the segmentation model runs: "cpu" or "cuda"."""
        return self._native.device

    @property
    def seg_model(self) -> str:
        return self._native.seg_model

    @property
    def params(self) -> dict:
        """The parameters in force, under the CLI's names."""
        return dict(self._native.params)

    def __repr__(self):
        p = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"rmbg_ultra.Remover({p}, seg_model={self.seg_model!r}, device={self.device!r})"

    def remove(self, image):
        """`image`: uint8 RGB [H, W, 3] (e.g. `rmbg_ultra.decode(bytes)`). Returns `(rgba, mask)`:
        the cutout, uint8 [H, W, 4] with straight alpha, and the alpha, uint8 [H, W]."""
        try:
            rgba, mask, _ = self._native.remove(_as_image(image))
        finally:
            _forward_logs()
        return rgba, mask

    def remove_batch(self, images, *, return_exceptions=False):
        """`remove` for each image of `images`, in one call with the GIL released (the network
        works on the next image while the current one is refined). Returns a list with one
        `(rgba, mask)` per image. An image that fails (wrong shape or dtype, a detail method's
        refusal) raises its error, which names it (`images[i]: ...`), after the batch stopped;
        with `return_exceptions=True` the error takes that image's place in the list instead and
        the others are done."""
        images = list(images)
        arrays, errors = [], {}
        for i, image in enumerate(images):
            try:
                arrays.append(_as_image(image))
            except Exception as e:  # noqa: BLE001 - numpy's refusal of one item, reported for that item
                if not return_exceptions:
                    raise ValueError(f"images[{i}]: cannot be read as an array: {e}") from e
                errors[i] = ValueError(f"images[{i}]: cannot be read as an array: {e}")
                arrays.append(None)
        try:
            results = self._native.remove_batch(arrays, stop_on_error=not return_exceptions)
        finally:
            _forward_logs()
        for i, e in errors.items():
            results[i] = e
        if not return_exceptions:
            for r in results:
                if isinstance(r, BaseException):
                    raise r
        return results


def decode(data, *, max_pixels=MAX_PIXELS, name=None):
    """An image file's bytes (JPEG, PNG, WebP, TIFF, BMP, GIF) → uint8 RGB [H, W, 3], exactly as
    the CLI decodes the file (EXIF orientation applied; alpha dropped, grey replicated). Raises
    DecodeError for a corrupt, truncated, unsupported or too large (> max_pixels) image, with
    that reason in its `kind` ("corrupt", "truncated", "too_large", ...); `name` labels the
    error."""
    if not isinstance(data, bytes):
        data = bytes(data)
    return _native.decode(data, max_pixels=int(max_pixels), name=None if name is None else str(name))


def encode(image, format="png") -> bytes:
    """uint8 RGBA [H, W, 4], RGB [H, W, 3] or grey [H, W] → the bytes of the file the CLI writes
    for it (format: png, webp (lossless) or tiff)."""
    return _native.encode(_as_image(image), format)


def setup(cuda=False):
    """Installs ONNX Runtime (the CUDA 13 build with `cuda`) and the default model into the cache
    (idempotent). Returns their paths."""
    os.environ.setdefault("RMBG_ULTRA_PYTHON", sys.executable)
    runtime = _native.install_runtime(bool(cuda))
    model = fetch(DEFAULT_SEGMENTATION)
    return runtime, model


def fetch(model_id):
    """A model of the catalogue (`rmbg-ultra models list`) into the cache; returns its path."""
    ensure_runtime(allow_fetch=True)
    task = "matting" if model_id.startswith("vitmatte") else "segmentation"
    try:
        return _native.resolve_model(model_id, task, True)
    finally:
        _forward_logs()


def cache_root():
    """The rmbg-ultra cache folder ($RMBG_ULTRA_CACHE, else the XDG cache)."""
    return _native.cache_root()


_log = logging.getLogger("rmbg_ultra")
_LEVELS = {"ERROR": logging.ERROR, "WARN": logging.WARNING, "INFO": logging.INFO}


def _forward_logs():
    """The library's messages since the last call, into Python's logging."""
    for level, _target, message in _native.drain_logs():
        _log.log(_LEVELS.get(level, logging.INFO), "%s", message)


__all__ = ["Remover", "decode", "encode", "setup", "fetch", "cache_root", "ensure_runtime", "RmbgUltraError",
           "DecodeError", "ModelNotFound", "ModelNeedsExport", "METHODS", "PROFILES", "FOREGROUNDS", "DEVICES",
           "DEFAULT_SEGMENTATION", "MAX_PIXELS"]
