"""The node: "LayerMask: RmBgUltra V2" with the original's inputs and outputs, run by rmbg-ultra."""

from __future__ import annotations

import logging
import sys
import time

import numpy as np

from . import _native, models

log = logging.getLogger("rmbg_ultra")

NODE_NAME = "LayerMask: RmBgUltra V2"
DISPLAY_NAME = "LayerMask: RmBgUltra V2 (rmbg-ultra)"

# The library's parameter table: the node's inputs (those with a `node` name, in the order of its
# widgets) and ours. Names, ranges, steps, defaults and lists are read from it, never written here.
PARAMS = {p["name"]: p for p in _native.PARAMS}
METHODS = list(PARAMS["method"]["node_choices"])
DEVICES = list(PARAMS["device"]["node_choices"])
PROFILES = list(PARAMS["profile"]["node_choices"])

_LEVELS = {"ERROR": logging.ERROR, "WARN": logging.WARNING, "INFO": logging.INFO}


def forward_logs():
    """The library's messages since the last call, into Python's logging (ComfyUI's console)."""
    for level, _target, message in _native.drain_logs():
        log.log(_LEVELS.get(level, logging.INFO), "rmbg-ultra: %s", message)


def _progress_bar(total):
    try:
        import comfy.utils
    except ImportError:
        return None
    return comfy.utils.ProgressBar(total)


def _interrupt_check():
    try:
        import comfy.model_management as mm
    except ImportError:
        return lambda: None
    return mm.throw_exception_if_processing_interrupted


def _as_frames(image):
    """IMAGE → (float32 C-contiguous numpy [B,H,W,C] sharing the tensor's memory when it can,
    function turning a numpy result back into the caller's kind)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(image, torch.Tensor):
        t = image.detach()
        if t.dtype != torch.float32:
            t = t.float()
        frames = t.cpu().contiguous().numpy()
        return frames, torch.from_numpy
    frames = np.ascontiguousarray(image, dtype=np.float32)
    return frames, lambda a: a


def _bound(x):
    """The original writes whole bounds as ints (max_megapixels: "min": 1, "max": 999)."""
    return int(x) if float(x).is_integer() else x


def _widget(p):
    """One of the node's inputs as INPUT_TYPES gives it, with the original's keys in its order."""
    if p["kind"] == "COMBO":
        return (list(p["node_choices"]),)
    options = {"default": p["default"]}
    if p["kind"] in ("INT", "FLOAT"):
        options.update(min=_bound(p["min"]), max=_bound(p["max"]), step=p["step"])
    if p.get("slider"):
        options["display"] = "slider"
    return (p["kind"], options)


class RmBgUltraV2:
    """Removes the background like ComfyUI_LayerStyle's RmBgUltra V2 (same inputs, outputs and
    results), with the rmbg-ultra library: models loaded once, no PyTorch inference."""

    def __init__(self):
        pass

    @classmethod
    def INPUT_TYPES(cls):
        required = {"image": ("IMAGE",)}
        required.update((p["node"], _widget(p)) for p in _native.PARAMS if p["node"])
        return {
            "required": required,
            "optional": {
                # Last and optional: workflows saved without it load unchanged and use RMBG-1.4,
                # the original's model.
                "seg_model": (list(models.SEG_MODELS), {
                    "default": models.SEG_MODELS[0],
                    "tooltip": "Segmentation model: RMBG-1.4 (the original's, non-commercial licence) or "
                               "isnet-general (IS-Net, downloaded automatically).",
                }),
                # Optional with the original's behaviour as default, so saved workflows give what
                # they gave.
                "profile": (list(PROFILES), {
                    "default": PROFILES[0],
                    "tooltip": "node: exactly the original node's output. quality: the network's soft mask "
                               "refined only around the edge, with the foreground colour estimated under it "
                               "(no background pieces, no colour fringe).",
                }),
            },
        }

    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("image", "mask")
    FUNCTION = "rmbg_ultra_v2"
    CATEGORY = "😺dzNodes/LayerMask"
    DESCRIPTION = __doc__

    def rmbg_ultra_v2(self, image, detail_method, detail_erode, detail_dilate, black_point, white_point,
                      process_detail, device, max_megapixels, seg_model=models.SEG_MODELS[0], profile=PROFILES[0]):
        start = time.perf_counter()
        if device not in DEVICES:
            raise ValueError(f"invalid device = {device}: allowed {', '.join(DEVICES)}")
        if profile not in PROFILES:
            raise ValueError(f"invalid profile = {profile}: allowed {', '.join(PROFILES)}")
        frames, back = _as_frames(image)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[0] == 0:
            raise ValueError(f"image: expected an IMAGE batch [B,H,W,C], got shape {tuple(frames.shape)}")
        n, h, w, _ = frames.shape
        params = _native.NodeParams(detail_method, int(detail_erode), int(detail_dilate), float(black_point),
                                    float(white_point), bool(process_detail), float(max_megapixels), profile)
        try:
            remover = models.get_remover(seg_model, device, detail_method)
            try:
                remover.prepare(params)
            except _native.RmbgUltraError as e:
                raise models.explain_matting_error(detail_method, e) from None
        finally:
            forward_logs()

        image_out = np.empty((n, h, w, 4), dtype=np.float32)
        mask_out = np.empty((n, h, w), dtype=np.float32)
        pbar = _progress_bar(n)
        interrupted = _interrupt_check()
        for i in range(n):
            interrupted()  # the user's Cancel, honoured between frames
            try:
                remover.process(frames[i], image_out[i], mask_out[i], params)
            finally:
                forward_logs()
            if pbar is not None:
                pbar.update(1)

        log.info("# rmbg-ultra: %s Processed %d image(s). [%s, %s on %s, profile %s, %.2f s]", NODE_NAME, n,
                 detail_method, seg_model, remover.device, profile, time.perf_counter() - start)
        return (back(image_out), back(mask_out))
