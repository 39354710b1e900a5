"""The node called the way ComfyUI calls nodes: `getattr(cls(), cls.FUNCTION)(**inputs)`."""

import inspect
import logging
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import COMFY, inference_mode, KINDS, InterruptProcessingException, as_kind, tiny_segmentation_onnx, to_numpy

import rmbg_ultra_comfyui
from rmbg_ultra_comfyui import _native, models, node

NAME = "LayerMask: RmBgUltra V2"
CLS = rmbg_ultra_comfyui.NODE_CLASS_MAPPINGS[NAME]
VITMATTE_METHODS = ["VITMatte", "VITMatte(local)", "vitmatte-base-composition-1k"]
# RMBG-1.4 from the test models folder, where a tiny stand-in model makes a frame take milliseconds.
FAST = {"seg_model": "RMBG-1.4"}


def tiny_seg(models_dir):
    return models_dir / "rmbg" / "RMBG-1.4" / "model.onnx"


def inputs(image, **over):
    base = dict(image=image, detail_method="GuidedFilter", detail_erode=6, detail_dilate=6, black_point=0.01,
                white_point=0.99, process_detail=True, device="cpu", max_megapixels=2.0, seg_model="isnet-general")
    base.update(over)
    return base


def run_node(**kw):
    """What ComfyUI's execution does with a node class (under torch.inference_mode() when torch is there)."""
    with inference_mode():
        return getattr(CLS(), CLS.FUNCTION)(**kw)


def u8(mask):
    """The node's float mask back to the u8 it was made from (v/255 in f32 rounds back exactly)."""
    return np.rint(np.asarray(mask, dtype=np.float64) * 255).astype(np.uint8)


def check_outputs(image_out, mask_out, frames_u8):
    n, h, w, _ = frames_u8.shape
    image_out, mask_out = to_numpy(image_out), to_numpy(mask_out)
    assert image_out.shape == (n, h, w, 4) and image_out.dtype == np.float32
    assert mask_out.shape == (n, h, w) and mask_out.dtype == np.float32
    alpha = u8(mask_out)
    # Outputs are exactly u8/255 in f32, as pil2tensor makes them.
    assert np.array_equal(mask_out, alpha.astype(np.float32) / np.float32(255.0))
    rgba = u8(image_out)
    assert np.array_equal(image_out, rgba.astype(np.float32) / np.float32(255.0))
    assert np.array_equal(rgba[..., :3], frames_u8), "RGB is the untouched (quantised) input"
    assert np.array_equal(rgba[..., 3], alpha), "alpha equals the MASK output"
    return alpha


# --- the interface ---------------------------------------------------------------------------------

def test_registered_like_the_original():
    assert rmbg_ultra_comfyui.NODE_CLASS_MAPPINGS == {NAME: node.RmBgUltraV2}
    assert rmbg_ultra_comfyui.NODE_DISPLAY_NAME_MAPPINGS == {NAME: "LayerMask: RmBgUltra V2 (rmbg-ultra)"}
    assert CLS.CATEGORY == "😺dzNodes/LayerMask"
    assert CLS.FUNCTION == "rmbg_ultra_v2"
    assert CLS.RETURN_TYPES == ("IMAGE", "MASK")
    assert CLS.RETURN_NAMES == ("image", "mask")


def test_required_inputs_are_exactly_the_originals():
    want = {
        "image": ("IMAGE",),
        "detail_method": (["VITMatte", "VITMatte(local)", "vitmatte-base-composition-1k", "PyMatting", "GuidedFilter"],),
        "detail_erode": ("INT", {"default": 6, "min": 1, "max": 255, "step": 1}),
        "detail_dilate": ("INT", {"default": 6, "min": 1, "max": 255, "step": 1}),
        "black_point": ("FLOAT", {"default": 0.01, "min": 0.01, "max": 0.98, "step": 0.01, "display": "slider"}),
        "white_point": ("FLOAT", {"default": 0.99, "min": 0.02, "max": 0.99, "step": 0.01, "display": "slider"}),
        "process_detail": ("BOOLEAN", {"default": True}),
        "device": (["cuda", "cpu"],),
        "max_megapixels": ("FLOAT", {"default": 2.0, "min": 1, "max": 999, "step": 0.1}),
    }
    spec = CLS.INPUT_TYPES()
    assert spec["required"] == want
    assert list(spec["required"]) == list(want), "widget order is what saved workflows store"
    # Built from the library's table (_native.PARAMS): the same keys in the same order and the same
    # types (max_megapixels' bounds are ints, its default a float), as ComfyUI sends them in JSON.
    assert repr(spec["required"]) == repr(want)
    assert _native.METHODS == want["detail_method"][0], "the library knows the same method names"


def test_the_node_reads_its_inputs_from_the_librarys_table():
    table = {p["node"]: p for p in _native.PARAMS if p["node"]}
    assert list(table) == list(CLS.INPUT_TYPES()["required"])[1:]
    assert table["detail_erode"]["name"] == "erode" and table["process_detail"]["off_flag"] == "no_detail"
    assert node.DEVICES == ["cuda", "cpu"] and node.PROFILES == ["node", "quality"] == _native.PROFILES
    assert node.METHODS == _native.METHODS


def test_seg_model_and_profile_are_optional_last_and_default_to_the_originals():
    spec = CLS.INPUT_TYPES()
    assert list(spec["optional"]) == ["seg_model", "profile"]
    choices, opts = spec["optional"]["seg_model"]
    assert choices == ["RMBG-1.4", "isnet-general"] and opts["default"] == "RMBG-1.4"
    choices, opts = spec["optional"]["profile"]
    assert choices == ["node", "quality"] and opts["default"] == "node"
    # A saved workflow (or API prompt) without them calls the function without them.
    params = inspect.signature(getattr(CLS, CLS.FUNCTION)).parameters
    assert params["seg_model"].default == "RMBG-1.4" and params["profile"].default == "node"
    assert list(params)[1:] == list(spec["required"]) + ["seg_model", "profile"]


# --- every method against the CLI, byte for byte -------------------------------------------------

CLASSICAL = [("GuidedFilter", True), ("PyMatting", True), ("GuidedFilter", False)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method,process_detail", CLASSICAL, ids=["GuidedFilter", "PyMatting", "no-detail"])
def test_batch_equals_cli(photo_batch, cli_masks, kind, method, process_detail):
    frames_u8, frames, paths = photo_batch
    frames_u8, frames, paths = frames_u8[:2], frames[:2], paths[:2]
    image_out, mask_out = run_node(**inputs(as_kind(frames, kind), detail_method=method, process_detail=process_detail))
    if kind == "torch":
        import torch

        assert isinstance(image_out, torch.Tensor) and isinstance(mask_out, torch.Tensor)
        assert image_out.device.type == "cpu"
    alpha = check_outputs(image_out, mask_out, frames_u8)
    opts = ["--method", method] if process_detail else ["--no-detail"]
    want = cli_masks(paths, *opts)
    for i, p in enumerate(paths):
        assert np.array_equal(alpha[i], want[p.stem]), f"{p.stem}: node and CLI masks differ"
    if not process_detail:
        assert set(np.unique(alpha)) <= {0, 255}, "the coarse mask is binary"
    assert COMFY.bars[-1].total == 2 and COMFY.bars[-1].current == 2


@pytest.mark.parametrize("method,process_detail", CLASSICAL, ids=["GuidedFilter", "PyMatting", "no-detail"])
def test_quality_profile_equals_cli(photo_batch, cli_masks, method, process_detail):
    frames_u8, frames, paths = photo_batch
    frames_u8, frames, paths = frames_u8[:2], frames[:2], paths[:2]
    image_out, mask_out = run_node(**inputs(frames, detail_method=method, process_detail=process_detail, profile="quality"))
    alpha = u8(to_numpy(mask_out))
    rgba = u8(to_numpy(image_out))
    assert np.array_equal(rgba[..., 3], alpha)
    opaque = alpha == 255
    assert np.array_equal(rgba[..., :3][opaque], frames_u8[opaque]), "opaque pixels keep the input colour"
    edge = (alpha > 0) & (alpha < 255)
    assert (rgba[..., :3][edge] != frames_u8[edge]).any(), "the soft edge carries the estimated foreground colour"
    opts = ["--method", method] if process_detail else ["--no-detail"]
    want = cli_masks(paths, "--profile", "quality", *opts)
    for i, p in enumerate(paths):
        assert np.array_equal(alpha[i], want[p.stem]), f"{p.stem}: node and CLI masks differ"
    with pytest.raises(ValueError, match="profile"):
        run_node(**inputs(frames[:1], profile="best"))


@pytest.mark.parametrize("method", VITMATTE_METHODS)
def test_vitmatte_methods(photo_batch, cli_masks, shared_models_dir, method):
    """Until the library runs ViTMatte the node surfaces its error; afterwards it must equal the CLI
    with the same models folder (the tiny fixture model)."""
    frames_u8, frames, paths = photo_batch
    try:
        image_out, mask_out = run_node(**inputs(frames, detail_method=method, **FAST))
    except _native.RmbgUltraError as e:
        msg = str(e)
        assert "not supported" in msg and method in msg, msg
        assert not COMFY.bars, "the error comes before the first frame"
        return
    alpha = check_outputs(image_out, mask_out, frames_u8)
    want = cli_masks(paths, "--method", method, "--comfyui-models", str(shared_models_dir),
                     "--seg-model", str(tiny_seg(shared_models_dir)))
    for i, p in enumerate(paths):
        assert np.array_equal(alpha[i], want[p.stem]), p.stem


@pytest.mark.parametrize("method,process_detail", CLASSICAL, ids=["GuidedFilter", "PyMatting", "no-detail"])
def test_models_folder_onnx_batch_equals_cli(photo_batch, cli_masks, shared_models_dir, method, process_detail):
    """RMBG-1.4 found as models/rmbg/RMBG-1.4/model.onnx (here a tiny stand-in), a batch of four."""
    frames_u8, frames, paths = photo_batch
    image_out, mask_out = run_node(**inputs(frames, detail_method=method, process_detail=process_detail, **FAST))
    alpha = check_outputs(image_out, mask_out, frames_u8)
    opts = ["--method", method] if process_detail else ["--no-detail"]
    want = cli_masks(paths, *opts, "--seg-model", str(tiny_seg(shared_models_dir)))
    for i, p in enumerate(paths):
        assert np.array_equal(alpha[i], want[p.stem]), p.stem
    assert 0 < alpha.mean() < 255


# --- ComfyUI manners -------------------------------------------------------------------------------

def test_interrupt_between_frames(photo_batch):
    _, frames, _ = photo_batch
    COMFY.interrupt_after_updates = 1  # the user presses Cancel while frame 1 runs
    with pytest.raises(InterruptProcessingException):
        run_node(**inputs(frames[:3], process_detail=False, **FAST))
    assert COMFY.bars[-1].current == 1, "frame 2 never started"
    assert COMFY.interrupt_checks == 2


def test_one_log_line_per_call(photo_batch, caplog):
    _, frames, _ = photo_batch
    with caplog.at_level(logging.INFO, logger="rmbg_ultra"):
        run_node(**inputs(frames[:2], process_detail=False, **FAST))
    lines = [r.getMessage() for r in caplog.records if "Processed" in r.getMessage()]
    assert len(lines) == 1 and "LayerMask: RmBgUltra V2 Processed 2 image(s)." in lines[0], lines


def test_cuda_request_runs_or_falls_back_like_the_original(photo_batch, caplog):
    _, frames, _ = photo_batch
    models.clear()
    with caplog.at_level(logging.INFO, logger="rmbg_ultra"):
        run_node(**inputs(frames[:1], process_detail=False, device="cuda", **FAST))
    remover = models.get_remover("RMBG-1.4", "cuda", "GuidedFilter")
    text = "\n".join(r.getMessage() for r in caplog.records)
    if remover.device == "cpu":
        assert "device is set to cuda, but not available, using cpu instead" in text, text
    else:
        assert remover.device == "cuda"


def test_gil_is_released_while_it_works(photo_batch):
    _, frames, _ = photo_batch
    ticks, stop = [0], threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.001)

    t = threading.Thread(target=spin)
    t.start()
    start = time.perf_counter()
    try:
        run_node(**inputs(frames[:1], process_detail=False))
    finally:
        stop.set()
        t.join()
    elapsed = time.perf_counter() - start
    # With the GIL held for the whole frame the thread would tick a handful of times.
    assert ticks[0] > 0.3 * elapsed / 0.002, (ticks[0], elapsed)


def test_the_tensor_buffer_is_used_without_a_copy():
    import conftest

    conftest.requires_torch()
    import torch

    t = torch.rand(2, 8, 9, 3)
    frames, back = node._as_frames(t)
    assert np.shares_memory(frames, t.numpy())
    a = np.zeros((1, 2, 2), np.float32)
    assert back(a).data_ptr() == a.ctypes.data


# --- inputs the original accepts ---------------------------------------------------------------------

def test_rgba_and_grey_frames(photo_batch):
    frames_u8, frames, _ = photo_batch
    f = frames[:1]
    _, m_rgb = run_node(**inputs(f, process_detail=False, **FAST))
    rgba = np.concatenate([f, np.random.default_rng(0).random(f.shape[:3] + (1,), dtype=np.float32)], axis=3)
    img, m_rgba = run_node(**inputs(rgba, process_detail=False, **FAST))
    assert np.array_equal(m_rgb, m_rgba), "alpha of an RGBA input is dropped"
    assert np.array_equal(u8(img)[..., :3], frames_u8[:1])
    grey = f[..., :1]
    img, _ = run_node(**inputs(grey, process_detail=False, **FAST))
    g = u8(img)
    assert np.array_equal(g[..., 0], g[..., 1]) and np.array_equal(g[..., 0], frames_u8[:1, ..., 0])


@pytest.mark.parametrize("shape", [(1, 1, 9, 3), (1, 9, 1, 3), (1, 1, 1, 3)], ids=["1-high", "1-wide", "1x1"])
def test_one_pixel_frames_work(shape):
    frames = np.random.default_rng(2).random(shape, dtype=np.float32)
    for method, detail in (("GuidedFilter", True), ("GuidedFilter", False)):
        img, mask = run_node(**inputs(frames, detail_method=method, process_detail=detail, **FAST))
        assert img.shape == shape[:3] + (4,) and mask.shape == shape[:3]


def test_float_to_u8_truncates_like_tensor2pil():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-0.5, 1.5, 10000), np.arange(256) / 255.0, np.nextafter(np.arange(256) / 255.0, 0),
                        [0.0, 1.0, -0.0, 1e30, -1e30, np.inf, -np.inf]]).astype(np.float32)
    want = np.clip(np.float32(255.0) * x, 0, 255).astype(np.uint8)
    got = np.frombuffer(_native.truncate_u8(x), dtype=np.uint8)
    assert np.array_equal(got, want)
    assert np.frombuffer(_native.truncate_u8(np.array([np.nan], np.float32)), np.uint8)[0] == 0


def test_non_contiguous_and_other_dtypes(photo_batch):
    _, frames, _ = photo_batch
    f64 = frames[:1].astype(np.float64)
    a = run_node(**inputs(f64, **FAST))[1]
    b = run_node(**inputs(np.asfortranarray(frames[:1]), **FAST))[1]
    assert np.array_equal(a, b)


# --- errors a ComfyUI user can act on ----------------------------------------------------------------

def test_missing_rmbg_model_says_where_to_put_it(photo_batch, tmp_path):
    _, frames, _ = photo_batch
    COMFY.models_dir = tmp_path
    with pytest.raises(models.ModelNotFound) as e:
        run_node(**{k: v for k, v in inputs(frames[:1]).items() if k != "seg_model"})  # a saved workflow
    msg = str(e.value)
    assert str(tmp_path / "rmbg" / "RMBG-1.4") in msg and "model.pth" in msg, msg
    assert "Hugging Face repository briaai/RMBG-1.4" in msg and "isnet-general" in msg, msg
    assert not COMFY.bars


def test_vitmatte_local_never_downloads(photo_batch, monkeypatch, tmp_path):
    _, frames, _ = photo_batch
    COMFY.models_dir = tmp_path
    monkeypatch.delenv("RMBG_ULTRA_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # An endpoint that would answer nothing: a download attempt would show up in the message.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(models.ModelNotFound) as e:
        run_node(**{k: v for k, v in inputs(frames[:1], detail_method="VITMatte(local)").items() if k != "seg_model"})
    msg = str(e.value)
    assert "not downloaded" in msg and "127.0.0.1" not in msg, msg


@pytest.mark.parametrize("method", VITMATTE_METHODS)
def test_missing_vitmatte_model_says_where_to_put_it(photo_batch, tmp_path, method):
    _, frames, _ = photo_batch
    models_dir = tmp_path / "models"
    (models_dir / "rmbg" / "RMBG-1.4").mkdir(parents=True)
    (models_dir / "rmbg" / "RMBG-1.4" / "model.onnx").write_bytes(tiny_segmentation_onnx())
    COMFY.models_dir = models_dir
    with pytest.raises((models.ModelNotFound, _native.RmbgUltraError)) as e:
        run_node(**inputs(frames[:1], detail_method=method, **FAST))
    msg = str(e.value)
    if "not supported" in msg:
        pytest.skip("the library has no ViTMatte yet")
    folder = "vitmatte-base-composition-1k" if "base" in method else "vitmatte"
    model_id = "vitmatte-base" if "base" in method else "vitmatte-small"
    assert isinstance(e.value, models.ModelNotFound), msg
    # ComfyUI's steps: the folder under its models folder, the file names looked for there.
    for needle in [str(models_dir / folder), "config.json and model.safetensors", "model.onnx", "onnx/model.onnx",
                   "Hugging Face repository hustvl/", f"python -m rmbg_ultra_comfyui fetch {model_id}"]:
        assert needle in msg, f"lacks {needle!r}: {msg}"
    # ... and none of the CLI's or the repository's (the node has no path option, no checkout).
    for cli_only in ["rmbg-ultra models fetch", "scripts/", ".venv-vitmatte", "pass the path"]:
        assert cli_only not in msg, f"{cli_only!r} in {msg}"
    assert not COMFY.bars


def test_vitmatte_weights_without_config_say_what_is_missing(photo_batch, tmp_path):
    """The library sees transformers weights but no ONNX file; without config.json the node cannot
    convert them, and the message says so in ComfyUI's terms."""
    _, frames, _ = photo_batch
    models_dir = tmp_path / "models"
    (models_dir / "rmbg" / "RMBG-1.4").mkdir(parents=True)
    (models_dir / "rmbg" / "RMBG-1.4" / "model.onnx").write_bytes(tiny_segmentation_onnx())
    (models_dir / "vitmatte").mkdir()
    (models_dir / "vitmatte" / "model.safetensors").write_bytes(b"weights")
    COMFY.models_dir = models_dir
    with pytest.raises(models.ModelNotFound) as e:
        run_node(**inputs(frames[:1], detail_method="VITMatte", **FAST))
    msg = str(e.value)
    assert str(models_dir / "vitmatte") in msg and "config.json" in msg and "hustvl/vitmatte-small-composition-1k" in msg, msg
    assert ".venv-vitmatte" not in msg and "scripts/" not in msg, msg


def test_matting_advice_replaces_the_library_hint():
    """The extension hands the library's message without its CLI advice as `reason`; the node's
    message is built from that, never from the advice."""
    reason = "model vitmatte-small: no ONNX file found; searched: /m/vitmatte (missing)"
    error = _native.ModelNotFound(f"{reason} (run `rmbg-ultra models fetch vitmatte-small`)")
    error.reason = reason
    msg = str(models.explain_matting_error("VITMatte(local)", error))
    assert msg.endswith(f"rmbg-ultra: {reason}") and "rmbg-ultra models fetch" not in msg, msg
    assert "never downloads" in msg, msg
    assert models.explain_matting_error("GuidedFilter", error) is error
    # Chosen by the exception's type, not its words: another library error passes through.
    other = _native.RmbgUltraError(f"{reason} (run `rmbg-ultra models fetch vitmatte-small`)")
    other.reason = reason
    assert models.explain_matting_error("VITMatte(local)", other) is other


def _fetch_command(tmp_path, **env_over):
    """`python -m rmbg_ultra_comfyui fetch vitmatte-small` into an empty cache, Hugging Face replaced
    by a port where nothing listens."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("RMBG_ULTRA_OFFLINE", "HF_HUB_OFFLINE", "RMBG_ULTRA_COMFYUI_MODELS")}
    env.update(RMBG_ULTRA_CACHE=str(tmp_path / "cache"), HF_ENDPOINT="http://127.0.0.1:9", **env_over)
    return subprocess.run([sys.executable, "-m", "rmbg_ultra_comfyui", "fetch", "vitmatte-small"], capture_output=True,
                          text=True, env=env, timeout=120)


def test_fetch_without_network_fails_in_one_line(tmp_path):
    p = _fetch_command(tmp_path)
    assert p.returncode == 1 and p.stdout == "", (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    msg = lines[0]
    assert msg.startswith("python -m rmbg_ultra_comfyui fetch: cannot fetch vitmatte-small: "), msg
    assert "127.0.0.1:9" in msg, "the failed download is named"
    assert "run it again where the network is reachable" in msg and str(Path("ComfyUI/models/vitmatte")) in msg, msg
    assert not (tmp_path / "cache" / "models" / "vitmatte-small" / "model.onnx").exists()


def test_fetch_when_downloads_are_off_says_so(tmp_path):
    p = _fetch_command(tmp_path, RMBG_ULTRA_OFFLINE="1")
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "downloads are off (RMBG_ULTRA_OFFLINE" in p.stderr and "127.0.0.1" not in p.stderr, p.stderr


def test_out_of_range_parameter_names_it(photo_batch):
    _, frames, _ = photo_batch
    with pytest.raises(ValueError, match=r"detail_erode = 0: allowed 1..=255"):
        run_node(**inputs(frames[:1], detail_erode=0))
    with pytest.raises(ValueError, match=r"invalid device = gpu"):
        run_node(**inputs(frames[:1], device="gpu"))
    with pytest.raises(ValueError, match=r"detail_method"):
        run_node(**inputs(frames[:1], detail_method="Matting"))


def test_pymatting_errors_are_per_node_messages(photo_batch):
    """black_point > white_point makes the original's fix_trimap raise; ours says which parameters."""
    _, frames, _ = photo_batch
    with pytest.raises((_native.RmbgUltraError, ValueError)) as e:
        run_node(**inputs(frames[:1], detail_method="PyMatting", black_point=0.9, white_point=0.5, **FAST))
    assert "black_point" in str(e.value) or "white_point" in str(e.value), str(e.value)


def test_the_package_folder_loads_as_a_custom_node(tmp_path):
    """The package folder (as unpacked from the wheel) dropped into custom_nodes/, loaded the way
    ComfyUI's nodes.load_custom_node does it, in a fresh interpreter."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    src = Path(rmbg_ultra_comfyui.__file__).parent
    dst = tmp_path / "custom_nodes" / "rmbg_ultra_comfyui"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    script = f"""
import importlib.util, os, sys
module_path = {str(dst)!r}
name = module_path.replace(".", "_x_")
spec = importlib.util.spec_from_file_location(name, os.path.join(module_path, "__init__.py"))
module = importlib.util.module_from_spec(spec)
sys.modules[name] = module
spec.loader.exec_module(module)
cls = module.NODE_CLASS_MAPPINGS["LayerMask: RmBgUltra V2"]
print(module.NODE_DISPLAY_NAME_MAPPINGS["LayerMask: RmBgUltra V2"], cls.FUNCTION, sorted(cls.INPUT_TYPES()["required"]) == sorted(
    ["image", "detail_method", "detail_erode", "detail_dilate", "black_point", "white_point", "process_detail", "device", "max_megapixels"]))
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "LayerMask: RmBgUltra V2 (rmbg-ultra) rmbg_ultra_v2 True", p.stdout
