"""One-time conversion of the weights ComfyUI users already have into the ONNX files rmbg-ultra runs.

- RMBG-1.4 `model.pth` / `model.safetensors` (BRIA's PyTorch state dict, as ComfyUI_LayerStyle keeps
  it in `models/rmbg/RMBG-1.4/`) → the segmentation contract: input `input` f32 [1,3,1024,1024],
  output `output` f32 [1,1,1024,1024] = sigmoid of the first side output, upsampled to 1024².
- A transformers ViTMatte folder (`config.json` + `model.safetensors`, as the node keeps it in
  `models/vitmatte` / `models/vitmatte-base-composition-1k`) → the matting contract: input
  `pixel_values` f32 [1,4,H,W] (any H, W multiple of 32), output `alphas` f32 [1,1,H,W].

Both run with the torch ComfyUI already has (plus the `onnx` package, which torch's exporter needs),
are checked against PyTorch with rmbg-ultra's own ONNX Runtime before they are kept, and are written
atomically next to the weights as `model.onnx` with a `model.onnx.rmbg-ultra.json` note of what they
were made from (a later change of the weights makes a new conversion).

The network below is written from the published description of BRIA's RMBG-1.4 (an IS-Net, i.e.
U²-Net-style nested U-blocks; docs/node-behaviour.md §4.2); module names follow the weight file's keys.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path

SEG_INPUT = "input"
SEG_OUTPUT = "output"
SEG_SIDE = 1024
VITMATTE_INPUT = "pixel_values"
VITMATTE_OUTPUT = "alphas"
NOTE_SUFFIX = ".rmbg-ultra.json"
CONVERTER_VERSION = 1


class ConversionError(RuntimeError):
    """The weights could not be turned into ONNX; the message says what to install or fix."""


def _need(module: str, why: str):
    try:
        return __import__(module)
    except ImportError as e:
        raise ConversionError(
            f"{why} needs the Python package `{module}` in ComfyUI's Python "
            f"(install it with `python -m pip install {module}`, using the python that runs ComfyUI): {e}"
        ) from None


# --- BRIA RMBG-1.4 (IS-Net) --------------------------------------------------------------------

def build_bria_rmbg():
    """The RMBG-1.4 network as a torch module whose `forward(x)` returns only what the node uses:
    sigmoid(bilinear_upsample(side1(stage1d output)) to the input size)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    def resize_like(x, ref):
        return F.interpolate(x, size=ref.shape[2:], mode="bilinear", align_corners=False)

    def pool():
        return nn.MaxPool2d(2, stride=2, ceil_mode=True)

    class ConvBnRelu(nn.Module):
        """3×3 convolution (padding = dilation) → BatchNorm → ReLU."""

        def __init__(self, cin, cout, dilation=1):
            super().__init__()
            self.conv_s1 = nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation)
            self.bn_s1 = nn.BatchNorm2d(cout)
            self.relu_s1 = nn.ReLU(inplace=True)

        def forward(self, x):
            return self.relu_s1(self.bn_s1(self.conv_s1(x)))

    class UBlock(nn.Module):
        """Residual U-block of `depth` levels (RSU-7 … RSU-4): an input conv, an encoder that halves
        the size between its first depth-1 levels, a dilated bottom, a decoder that concatenates
        each level's skip; the result is added to the input conv's output."""

        def __init__(self, depth, cin, mid, cout):
            super().__init__()
            self.depth = depth
            self.rebnconvin = ConvBnRelu(cin, cout)
            self.rebnconv1 = ConvBnRelu(cout, mid)
            for level in range(2, depth):
                setattr(self, f"rebnconv{level}", ConvBnRelu(mid, mid))
            setattr(self, f"rebnconv{depth}", ConvBnRelu(mid, mid, dilation=2))
            for level in range(1, depth - 1):
                setattr(self, f"pool{level}", pool())
            for level in range(depth - 1, 1, -1):
                setattr(self, f"rebnconv{level}d", ConvBnRelu(2 * mid, mid))
            self.rebnconv1d = ConvBnRelu(2 * mid, cout)

        def forward(self, x):
            top = self.rebnconvin(x)
            skips = [self.rebnconv1(top)]
            for level in range(2, self.depth):
                down = getattr(self, f"pool{level - 1}")(skips[-1])
                skips.append(getattr(self, f"rebnconv{level}")(down))
            y = getattr(self, f"rebnconv{self.depth}")(skips[-1])
            for level in range(self.depth - 1, 0, -1):
                y = getattr(self, f"rebnconv{level}d")(torch.cat((y, skips[level - 1]), 1))
                if level > 1:
                    y = resize_like(y, skips[level - 2])
            return y + top

    class DilatedUBlock(nn.Module):
        """RSU-4F: the U-block without pooling, dilations 1, 2, 4, 8 down and 4, 2, 1 up."""

        def __init__(self, cin, mid, cout):
            super().__init__()
            self.rebnconvin = ConvBnRelu(cin, cout)
            self.rebnconv1 = ConvBnRelu(cout, mid)
            self.rebnconv2 = ConvBnRelu(mid, mid, 2)
            self.rebnconv3 = ConvBnRelu(mid, mid, 4)
            self.rebnconv4 = ConvBnRelu(mid, mid, 8)
            self.rebnconv3d = ConvBnRelu(2 * mid, mid, 4)
            self.rebnconv2d = ConvBnRelu(2 * mid, mid, 2)
            self.rebnconv1d = ConvBnRelu(2 * mid, cout)

        def forward(self, x):
            top = self.rebnconvin(x)
            e1 = self.rebnconv1(top)
            e2 = self.rebnconv2(e1)
            e3 = self.rebnconv3(e2)
            e4 = self.rebnconv4(e3)
            d3 = self.rebnconv3d(torch.cat((e4, e3), 1))
            d2 = self.rebnconv2d(torch.cat((d3, e2), 1))
            return self.rebnconv1d(torch.cat((d2, e1), 1)) + top

    class RmbgNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_in = nn.Conv2d(3, 64, 3, stride=2, padding=1)
            self.pool_in = pool()  # defined by the original, never used
            self.stage1 = UBlock(7, 64, 32, 64)
            self.pool12 = pool()
            self.stage2 = UBlock(6, 64, 32, 128)
            self.pool23 = pool()
            self.stage3 = UBlock(5, 128, 64, 256)
            self.pool34 = pool()
            self.stage4 = UBlock(4, 256, 128, 512)
            self.pool45 = pool()
            self.stage5 = DilatedUBlock(512, 256, 512)
            self.pool56 = pool()
            self.stage6 = DilatedUBlock(512, 256, 512)
            self.stage5d = DilatedUBlock(1024, 256, 512)
            self.stage4d = UBlock(4, 1024, 128, 256)
            self.stage3d = UBlock(5, 512, 64, 128)
            self.stage2d = UBlock(6, 256, 32, 64)
            self.stage1d = UBlock(7, 128, 16, 64)
            for i, ch in enumerate((64, 64, 128, 256, 512, 512), start=1):
                setattr(self, f"side{i}", nn.Conv2d(ch, 1, 3, padding=1))

        def forward(self, x):
            h1 = self.stage1(self.conv_in(x))
            h2 = self.stage2(self.pool12(h1))
            h3 = self.stage3(self.pool23(h2))
            h4 = self.stage4(self.pool34(h3))
            h5 = self.stage5(self.pool45(h4))
            h6 = self.stage6(self.pool56(h5))
            d5 = self.stage5d(torch.cat((resize_like(h6, h5), h5), 1))
            d4 = self.stage4d(torch.cat((resize_like(d5, h4), h4), 1))
            d3 = self.stage3d(torch.cat((resize_like(d4, h3), h3), 1))
            d2 = self.stage2d(torch.cat((resize_like(d3, h2), h2), 1))
            d1 = self.stage1d(torch.cat((resize_like(d2, h1), h1), 1))
            # Only the first side output reaches the node: logits upsampled, then the sigmoid.
            return torch.sigmoid(resize_like(self.side1(d1), x))

    return RmbgNet()


def load_rmbg_state_dict(path: Path):
    """BRIA's weights from `model.pth` (torch, weights_only) or `model.safetensors`."""
    import torch

    if path.suffix == ".safetensors":
        _need("safetensors", f"reading {path}")
        from safetensors.torch import load_file

        state = load_file(str(path), device="cpu")
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ConversionError(f"{path} does not hold a state dict (got {type(state).__name__})")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def rmbg_from_weights(path: Path):
    model = build_bria_rmbg()
    state = load_rmbg_state_dict(path)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConversionError(
            f"{path} is not BRIA RMBG-1.4's state dict ({len(missing)} weights missing, e.g. {missing[:3]}; "
            f"{len(unexpected)} unexpected, e.g. {unexpected[:3]}). Take model.pth from "
            "the Hugging Face repository briaai/RMBG-1.4"
        )
    return model.eval()


def export_rmbg(model, path: Path, exporter: str, opset: int = 17) -> None:
    """Writes the segmentation ONNX (fixed 1024×1024 input)."""
    import torch

    x = torch.zeros(1, 3, SEG_SIDE, SEG_SIDE)
    with torch.inference_mode(False), torch.no_grad():
        _export(model, x, path, SEG_INPUT, SEG_OUTPUT, opset, None, exporter)


EXPORTERS = ("torchscript", "dynamo")


def _export(model, x, path: Path, input_name, output_name, opset, dynamic, exporter):
    """torch.onnx.export with the TorchScript exporter (needs only `onnx`) or the dynamo one (also
    needs `onnxscript`); `dynamic`: the input whose height and width are left free."""
    import warnings

    import torch

    _need("onnx", "converting a model to ONNX")
    if exporter == "torchscript":
        kwargs = {}
        if dynamic:
            kwargs["dynamic_axes"] = {input_name: {2: "height", 3: "width"}, output_name: {2: "height", 3: "width"}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=[input_name],
                              output_names=[output_name], opset_version=opset, **kwargs)
    else:
        _need("onnxscript", "the dynamo ONNX exporter")
        kwargs = {}
        if dynamic:
            h = torch.export.Dim("h32", min=1, max=1024) * 32
            w = torch.export.Dim("w32", min=1, max=1024) * 32
            kwargs["dynamic_shapes"] = {dynamic: {2: h, 3: w}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (x,), dynamo=True, input_names=[input_name], output_names=[output_name],
                                        opset_version=max(opset, 18), external_data=False, verbose=False, **kwargs)
        program.save(str(path), external_data=False)


def _export_checked(export, check):
    """Tries each exporter until one gives a file that agrees with PyTorch; returns (difference, exporter)."""
    errors = []
    for exporter in EXPORTERS:
        try:
            export(exporter)
            return check(), exporter
        except ConversionError as e:
            errors.append(f"{exporter} exporter: {e}")
            if "needs the Python package `onnx`" in str(e):
                break
        except Exception as e:  # noqa: BLE001 - an exporter failing is reported with the others
            errors.append(f"{exporter} exporter: {type(e).__name__}: {e}")
    raise ConversionError("; ".join(errors))


def check_against_torch(model, onnx_path: Path, inputs, tol: float) -> float:
    """Runs `onnx_path` with rmbg-ultra's ONNX Runtime and `model` with torch on each input; returns
    the largest difference, raises ConversionError above `tol`."""
    import numpy as np
    import torch

    from . import _native

    worst = 0.0
    for x in inputs:
        with torch.inference_mode(False), torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        shape, data = _native.run_onnx(str(onnx_path), np.ascontiguousarray(x, dtype=np.float32))
        got = np.frombuffer(data, dtype=np.float32).reshape(shape)
        if got.shape != want.shape:
            raise ConversionError(f"{onnx_path}: output shape {got.shape}, PyTorch gives {want.shape}")
        worst = max(worst, float(np.abs(got - want).max()))
    if not worst <= tol:
        raise ConversionError(f"{onnx_path}: the ONNX export differs from PyTorch by {worst:.2e} (> {tol:g}); not used")
    return worst


def _rmbg_check_inputs():
    import numpy as np

    yy, xx = np.mgrid[0:SEG_SIDE, 0:SEG_SIDE].astype(np.float32) / SEG_SIDE
    x = np.stack([np.sin(9 * xx) * 0.5, np.cos(7 * yy) * 0.5, (xx - yy) * 0.5])[None].astype(np.float32)
    return [np.ascontiguousarray(x)]


# --- ViTMatte (transformers) ---------------------------------------------------------------------

def _vitmatte_patches():
    """transformers' VitDet decides in Python whether to resize its position tables (`get_rel_pos`:
    `if rel_pos.shape[0] != max_rel_dist`) and turns the token count into a Python int, which would
    freeze an export's global-attention blocks to the size it was traced at. These replacements
    compute the same numbers without branches on sizes (resizing a table to its own length is the
    identity for linear/bicubic interpolation with align_corners=False; VitDet always uses equal
    query and key sizes). scripts/export-vitmatte-onnx.py exports with these too."""
    import torch
    from torch import nn

    def get_rel_pos(q_size, k_size, rel_pos):
        if not isinstance(q_size, torch.Tensor):  # torch.export's symbolic sizes; the TorchScript tracer's are tensors
            torch._check(q_size == k_size)
        max_rel_dist = 2 * q_size - 1
        resized = nn.functional.interpolate(
            rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1), size=max_rel_dist, mode="linear"
        ).reshape(-1, max_rel_dist).permute(1, 0)
        coords = torch.arange(q_size)[:, None] - torch.arange(k_size)[None, :] + (k_size - 1)
        return resized[coords]

    def add_decomposed_relative_positions(attn, queries, rel_pos_h, rel_pos_w, q_size, k_size):
        qh, qw = q_size
        kh, kw = k_size
        rh = get_rel_pos(qh, kh, rel_pos_h)
        rw = get_rel_pos(qw, kw, rel_pos_w)
        b, _, dim = queries.shape
        r_q = queries.reshape(b, qh, qw, dim)
        rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, rh)
        rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, rw)
        attn = attn.view(b, qh, qw, kh, kw) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]
        return attn.view(b, qh * qw, kh * kw)

    def get_absolute_positions(self, abs_pos_embeddings, has_cls_token, height, width):
        if has_cls_token:
            abs_pos_embeddings = abs_pos_embeddings[:, 1:]
        size = int(math.sqrt(abs_pos_embeddings.shape[1]))
        resized = nn.functional.interpolate(
            abs_pos_embeddings.reshape(1, size, size, -1).permute(0, 3, 1, 2),
            size=(height, width), mode="bicubic", align_corners=False,
        )
        return resized.permute(0, 2, 3, 1)

    return get_rel_pos, add_decomposed_relative_positions, get_absolute_positions


class _Patched:
    def __enter__(self):
        from transformers.models.vitdet import modeling_vitdet as m

        self.m = m
        self.saved = (m.get_rel_pos, m.add_decomposed_relative_positions, m.VitDetEmbeddings.get_absolute_positions)
        m.get_rel_pos, m.add_decomposed_relative_positions, m.VitDetEmbeddings.get_absolute_positions = _vitmatte_patches()
        return self

    def __exit__(self, *exc):
        m = self.m
        m.get_rel_pos, m.add_decomposed_relative_positions, m.VitDetEmbeddings.get_absolute_positions = self.saved
        return False


def vitmatte_from_folder(folder: Path):
    _need("transformers", f"converting the ViTMatte weights in {folder}")
    from transformers import VitMatteForImageMatting

    return VitMatteForImageMatting.from_pretrained(str(folder)).eval()


def alphas_only(model):
    """`model` as a module whose output is the alphas tensor alone (the ONNX file's one output)."""
    from torch import nn

    class AlphasOnly(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model  # the ONNX weights' names start with `model.`

        def forward(self, pixel_values):
            return self.model(pixel_values=pixel_values).alphas

    return AlphasOnly(model).eval()


def export_vitmatte(model, path: Path, exporter: str, opset: int = 18, example_hw=(224, 288)) -> None:
    """Writes `model` with free H and W (multiples of 32); `example_hw` is the size it is traced at."""
    import torch

    wrapper = alphas_only(model)
    x = torch.zeros(1, 4, *example_hw)
    with torch.inference_mode(False), torch.no_grad(), _Patched():
        _export(wrapper, x, path, VITMATTE_INPUT, VITMATTE_OUTPUT, opset, VITMATTE_INPUT, exporter)


def vitmatte_check_inputs(sizes=((224, 224), (160, 288), (96, 384), (512, 384)), seed=0):
    """Random pixel values in [-1, 1] with a trimap channel of 0 / 127/255 / 1, one input a size."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for h, w in sizes:
        x = rng.uniform(-1, 1, size=(1, 4, h, w)).astype(np.float32)
        x[:, 3] = rng.choice([0.0, 127 / 255, 1.0], size=(h, w))
        out.append(x)
    return out


# --- bookkeeping: convert once, next to the weights ----------------------------------------------

def _note_for(weights: Path) -> dict:
    st = weights.stat()
    return {"source": weights.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "converter": CONVERTER_VERSION}


def note_path(onnx_path: Path) -> Path:
    return onnx_path.with_name(onnx_path.name + NOTE_SUFFIX)


def is_current(onnx_path: Path, weights: Path) -> bool:
    """Whether `onnx_path` is our conversion of `weights` as they are now."""
    try:
        return onnx_path.is_file() and json.loads(note_path(onnx_path).read_text()) == _note_for(weights)
    except (OSError, ValueError):
        return False


def made_by_us(onnx_path: Path) -> bool:
    return note_path(onnx_path).is_file()


def convert(kind: str, weights: Path, target: Path, log=None) -> Path:
    """Converts `weights` (kind `rmbg` or `vitmatte`; for vitmatte, the folder) into `target`
    atomically, checks it against PyTorch and writes the note. Returns `target`."""
    torch = _need("torch", f"converting {weights} to ONNX")
    target.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    if log:
        log(f"converting {weights} to ONNX ({target}), once; this takes a minute")
    # ComfyUI runs nodes under torch.inference_mode(); the exporter needs ordinary tensors.
    with torch.inference_mode(False), torch.no_grad(), \
            tempfile.TemporaryDirectory(dir=target.parent, prefix=".rmbg-ultra-convert-") as tmp:
        tmp_path = Path(tmp) / "model.onnx"
        if kind == "rmbg":
            model = rmbg_from_weights(weights)
            diff, exporter = _export_checked(
                lambda exporter: export_rmbg(model, tmp_path, exporter),
                lambda: check_against_torch(model, tmp_path, _rmbg_check_inputs(), tol=2e-4),
            )
            source = weights
        elif kind == "vitmatte":
            model = vitmatte_from_folder(weights)
            diff, exporter = _export_checked(
                lambda exporter: export_vitmatte(model, tmp_path, exporter),
                lambda: check_against_torch(alphas_only(model), tmp_path, vitmatte_check_inputs(), tol=1e-4),
            )
            source = weights_file(weights)
        else:
            raise ValueError(kind)
        os.replace(tmp_path, target)
    note_path(target).write_text(json.dumps(_note_for(source)))
    if log:
        log(f"converted {weights} to {target} in {time.perf_counter() - t:.1f} s "
            f"({exporter} exporter, max |onnx - torch| = {diff:.1e})")
    return target


def weights_file(folder: Path):
    """The transformers weight file of a ViTMatte folder, or None."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    return None
