"""Test harness for the ComfyUI node: stand-ins for the parts of ComfyUI the node talks to
(`folder_paths`, `comfy.utils.ProgressBar`, `comfy.model_management`'s interrupt), the shared photos
as a small IMAGE batch, and the rmbg-ultra CLI's masks for the same inputs.

Run through scripts/test-comfyui.sh (builds the extension and the CLI first). torch is optional:
without it every test runs on numpy arrays and the torch variants skip, saying why.
"""

import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[3]
PHOTOS = ROOT / "testdata" / "photos"
VITMATTE_FIXTURE = ROOT / "testdata" / "vitmatte" / "tiny-vitmatte.onnx"
TINY_SEG_FIXTURE = ROOT / "testdata" / "tiny-seg" / "tiny-seg.onnx"
# Small frames keep the refinement cheap; every frame still costs one 1024² segmentation.
FRAME_SIZE = (224, 160)  # width, height

try:
    import torch  # noqa: F401

    TORCH_ERROR = None
except Exception as e:  # noqa: BLE001 - any import failure means: run the numpy variant only
    torch = None
    TORCH_ERROR = f"torch is not importable here ({type(e).__name__}: {e}); scripts/test-comfyui.sh installs it"


def pytest_report_header(config):
    return f"torch: {torch.__version__ if torch else TORCH_ERROR}"


# --- ComfyUI stand-ins ---------------------------------------------------------------------------

class ComfyState:
    def __init__(self):
        self.reset(None)

    def reset(self, models_dir):
        self.models_dir = models_dir
        self.registered = {}
        self.bars = []
        self.interrupt_after_updates = None
        self.interrupt_checks = 0


COMFY = ComfyState()


class InterruptProcessingException(Exception):
    pass


class ProgressBar:
    def __init__(self, total):
        self.total = total
        self.current = 0
        COMFY.bars.append(self)

    def update(self, value):
        self.current += value

    def update_absolute(self, value, total=None, preview=None):
        self.current = value


def throw_exception_if_processing_interrupted():
    COMFY.interrupt_checks += 1
    limit = COMFY.interrupt_after_updates
    if limit is not None and sum(b.current for b in COMFY.bars) >= limit:
        raise InterruptProcessingException()


def _install_stubs():
    comfy = types.ModuleType("comfy")
    utils = types.ModuleType("comfy.utils")
    utils.ProgressBar = ProgressBar
    mm = types.ModuleType("comfy.model_management")
    mm.InterruptProcessingException = InterruptProcessingException
    mm.throw_exception_if_processing_interrupted = throw_exception_if_processing_interrupted
    comfy.utils, comfy.model_management = utils, mm

    class FolderPaths(types.ModuleType):
        @property
        def models_dir(self):
            return str(COMFY.models_dir) if COMFY.models_dir else None

        def get_folder_paths(self, key):
            if key not in COMFY.registered:
                raise KeyError(key)
            return [str(p) for p in COMFY.registered[key]]

    sys.modules.update({"comfy": comfy, "comfy.utils": utils, "comfy.model_management": mm,
                        "folder_paths": FolderPaths("folder_paths")})


_install_stubs()


# --- the tiny segmentation model ----------------------------------------------------------------

def tiny_segmentation_onnx():
    """testdata/tiny-seg/tiny-seg.onnx (shared with the service tests; its README says how it was
    made): sigmoid(40 · mean(RGB/255 − 0.5) − 10). After the node's binarisation at 1/255 it marks
    the pixels brighter than about 0.61 (every test photo has both such pixels and darker ones).
    Milliseconds instead of seconds per frame."""
    return TINY_SEG_FIXTURE.read_bytes()


@pytest.fixture(scope="session")
def shared_models_dir(tmp_path_factory):
    """A ComfyUI models folder: the tiny segmentation model as models/rmbg/RMBG-1.4/model.onnx and
    (when present) the tiny ViTMatte fixture in both ViTMatte folders."""
    d = tmp_path_factory.mktemp("comfyui-models")
    (d / "rmbg" / "RMBG-1.4").mkdir(parents=True)
    (d / "rmbg" / "RMBG-1.4" / "model.onnx").write_bytes(tiny_segmentation_onnx())
    if VITMATTE_FIXTURE.is_file():
        for name in ("vitmatte", "vitmatte-base-composition-1k"):
            (d / name).mkdir()
            (d / name / "model.onnx").write_bytes(VITMATTE_FIXTURE.read_bytes())
    return d


@pytest.fixture(autouse=True)
def comfy(shared_models_dir, monkeypatch):
    """Fresh ComfyUI stand-in state for every test; downloads off (nothing here reaches Hugging Face)."""
    COMFY.reset(shared_models_dir)
    monkeypatch.setenv("RMBG_ULTRA_OFFLINE", "1")
    return COMFY


# --- inputs and the CLI's outputs ----------------------------------------------------------------

def load_frame(path, size=FRAME_SIZE):
    """ComfyUI's LoadImage (EXIF transpose, RGB, u8/255 in f32), resized small with Pillow."""
    img = ImageOps.exif_transpose(Image.open(path)).convert("RGB").resize(size, Image.BILINEAR)
    return np.asarray(img)


@pytest.fixture(scope="session")
def photo_batch(tmp_path_factory):
    """(u8 [B,H,W,3], float32 IMAGE [B,H,W,3], PNG paths) for four shared photos."""
    d = tmp_path_factory.mktemp("frames")
    names = ["animal", "people", "car", "baby"]
    u8 = np.stack([load_frame(PHOTOS / f"{n}.jpg") for n in names])
    paths = []
    for n, a in zip(names, u8):
        p = d / f"{n}.png"
        Image.fromarray(a).save(p)
        paths.append(p)
    return u8, (u8.astype(np.float32) / np.float32(255.0)), paths


def cli_binary():
    env = os.environ.get("RMBG_ULTRA_BIN")
    candidates = [Path(env)] if env else [ROOT / "target" / "release" / "rmbg-ultra", ROOT / "target" / "debug" / "rmbg-ultra"]
    for c in candidates:
        if c.is_file():
            return c
    pytest.skip("the rmbg-ultra CLI is not built (scripts/test-comfyui.sh builds it; or set RMBG_ULTRA_BIN)")


class CliMasks:
    """Runs `rmbg-ultra remove --save-mask` once per option set; masks by input stem."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.cache = {}

    def __call__(self, paths, *options):
        key = (tuple(map(str, paths)), options)
        if key not in self.cache:
            out = self.tmp / f"run{len(self.cache)}"
            # The node's default profile unless the options name one.
            profile = [] if "--profile" in options else ["--profile", "node"]
            cmd = [str(cli_binary()), "remove", *profile, "--quiet", "--save-mask", "--device", "cpu", "-o", str(out), *options,
                   *map(str, paths)]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                self.cache[key] = RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
            else:
                self.cache[key] = {Path(x).stem: np.asarray(Image.open(out / f"{Path(x).stem}.mask.png")) for x in paths}
        result = self.cache[key]
        if isinstance(result, Exception):
            raise result
        return result


@pytest.fixture(scope="session")
def cli_masks(tmp_path_factory):
    return CliMasks(tmp_path_factory.mktemp("cli"))


KINDS = ["numpy", "torch"]


def as_kind(frames, kind):
    if kind == "torch":
        if torch is None:
            pytest.skip(TORCH_ERROR)
        return torch.from_numpy(np.ascontiguousarray(frames))
    return frames


def to_numpy(x):
    if torch is not None and isinstance(x, torch.Tensor):
        return x.numpy()
    return x


def inference_mode():
    """ComfyUI executes nodes under torch.inference_mode()."""
    import contextlib

    return torch.inference_mode() if torch is not None else contextlib.nullcontext()


def requires_torch():
    if torch is None:
        pytest.skip(TORCH_ERROR)
