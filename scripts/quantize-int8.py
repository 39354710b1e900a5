#!/usr/bin/env python3
"""Quantises the IS-Net general segmentation model (fp16 weights) to a static int8 QDQ model.

Run it in the pinned venv of scripts/quantize-venv.sh (reference/requirements-quantize.txt):

    .venv-quantize/bin/python scripts/quantize-int8.py MODEL_FP16.onnx OUT.onnx [--calib DIR ...]

Steps (docs/int8.md has the experiments behind each choice):
 1. fp16 -> fp32 graph: fp16 initializers and Constant tensors become fp32 (exact), the Cast nodes that
    the fp16 converter put around the graph input/outputs and around every Resize are dropped, and only
    the first output (the mask) is kept.
 2. onnxruntime.quantization.shape_inference.quant_pre_process (shape inference and ORT's basic graph
    optimisations).
 3. Calibration: every calibration image runs through the fp32 graph with all activations exposed;
    per tensor a histogram is collected (ORT's HistogramCollector, one image at a time so that memory
    stays at one image's activations). The ranges are taken from it by the chosen method (minmax,
    percentile P, entropy).
 4. quantize_static, QDQ, per-channel s8 weights, u8 activations, with the sensitive nodes (first
    conv, side heads, the final Resize/Sigmoid...) left in fp32.

Calibration images: the image files found in the --calib folders (sorted by name) plus deterministic
variations of them (mirror, crops, scale on a canvas, tone changes) and seeded synthetic composites,
so that with no folder at all the recipe still works (this is how `rmbg-ultra models fetch
isnet-general-int8` runs it). The same inputs give the same output bytes: fixed seeds, sorted files,
calibration inference single-threaded, no wall-clock or path data in the model. The output is written
to a temporary file beside OUT and renamed into place only when complete.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from PIL import Image, ImageDraw, ImageFilter, ImageOps

SIDE = 1024
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
RECIPE_VERSION = "isnet-int8-v1"

# The recipe chosen from the experiments in docs/int8.md; every field can be overridden on the command line.
DEFAULT_RECIPE = {
    "method": "percentile",
    "percentile": 99.99,
    "exclude": "head",
    "variants": 0,
    "synthetic": 0,
    "activation": "u8",
    "weight": "s8",
    "per_channel": True,
    "reduce_range": False,
}


def log(msg: str) -> None:
    print(f"[quantize-int8] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# 1. fp16 -> fp32
# ---------------------------------------------------------------------------------------------


def to_fp32(model: onnx.ModelProto, keep_outputs: int = 1) -> onnx.ModelProto:
    """The fp16-weight graph as an fp32 graph: initializers/constants converted exactly, Cast nodes
    between f16 and f32 removed (their output names are rewired to their inputs), only the first
    `keep_outputs` graph outputs kept."""
    g = model.graph
    f16 = onnx.TensorProto.FLOAT16
    f32 = onnx.TensorProto.FLOAT

    for init in g.initializer:
        if init.data_type == f16:
            arr = numpy_helper.to_array(init).astype(np.float32)
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.t.data_type == f16:
                    arr = numpy_helper.to_array(a.t).astype(np.float32)
                    a.t.CopyFrom(numpy_helper.from_array(arr, a.t.name))
        for a in node.attribute:  # e.g. Cast(to=f16) that are not removed (there are none in isnet)
            if node.op_type == "Cast" and a.name == "to" and a.i == f16:
                a.i = f32

    graph_outputs = {o.name for o in g.output}
    rename: dict[str, str] = {}
    kept = []
    for node in g.node:
        if node.op_type == "Cast":
            to = next(a.i for a in node.attribute if a.name == "to")
            if to == f32:  # after the fp16 -> fp32 rewrite above every float Cast is to f32 now
                src = node.input[0]
                src = rename.get(src, src)
                out = node.output[0]
                if out in graph_outputs:
                    # keep the graph output's name: rename the producer of src instead, below
                    rename[out] = src
                    kept.append(("graph_output", out, src))
                else:
                    rename[out] = src
                continue
        kept.append(node)

    nodes = []
    out_alias: dict[str, str] = {}  # tensor produced inside -> graph output name it must carry
    for item in kept:
        if isinstance(item, tuple):
            _, out, src = item
            out_alias[src] = out
    for item in kept:
        if isinstance(item, tuple):
            continue
        node = item
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
        nodes.append(node)
    # A tensor that became a graph output keeps the output's name: rename it everywhere.
    for node in nodes:
        for i, name in enumerate(node.output):
            if name in out_alias:
                node.output[i] = out_alias[name]
        for i, name in enumerate(node.input):
            if name in out_alias:
                node.input[i] = out_alias[name]
    del g.node[:]
    g.node.extend(nodes)

    for vi in list(g.input) + list(g.output):
        if vi.type.tensor_type.elem_type == f16:
            vi.type.tensor_type.elem_type = f32
    del g.value_info[:]  # stale f16 types; shape inference rebuilds them

    outputs = list(g.output)[:keep_outputs]
    del g.output[:]
    g.output.extend(outputs)
    prune_dead_nodes(g)
    return model


def prune_dead_nodes(g: onnx.GraphProto) -> None:
    needed = {o.name for o in g.output}
    live = []
    for node in reversed(g.node):
        if any(o in needed for o in node.output):
            live.append(node)
            needed.update(i for i in node.input if i)
    live.reverse()
    del g.node[:]
    g.node.extend(live)
    used = {i for n in g.node for i in n.input}
    inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)


# ---------------------------------------------------------------------------------------------
# Calibration images
# ---------------------------------------------------------------------------------------------


def list_images(folders: list[Path]) -> list[Path]:
    files = []
    for folder in folders:
        if folder.is_file():
            files.append(folder)
            continue
        if not folder.is_dir():
            raise SystemExit(f"calibration folder {folder} does not exist")
        files.extend(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    return sorted(set(files), key=lambda p: (p.name, str(p)))


def load_rgb(path: Path) -> Image.Image:
    im = Image.open(path)
    im.load()
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    return im.convert("RGB")


def variants(im: Image.Image, rng: np.random.Generator, count: int) -> list[Image.Image]:
    """Deterministic variations of a photo: mirror, crops, the photo scaled down on a canvas, tone."""
    w, h = im.size
    out = []
    makers = []

    def mirror():
        return ImageOps.mirror(im)

    def crop():
        f = rng.uniform(0.55, 0.85)
        cw, ch = int(w * f), int(h * f)
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        return im.crop((x, y, x + cw, y + ch))

    def canvas():
        f = rng.uniform(0.45, 0.8)
        small = im.resize((max(1, int(w * f)), max(1, int(h * f))), Image.BILINEAR)
        c = gradient((w, h), rng)
        x, y = int(rng.integers(0, w - small.width + 1)), int(rng.integers(0, h - small.height + 1))
        c.paste(small, (x, y))
        return c

    def tone():
        a = np.asarray(im, dtype=np.float32)
        gain = rng.uniform(0.6, 1.4, size=3).astype(np.float32)
        bias = rng.uniform(-40, 40)
        gamma = rng.uniform(0.7, 1.4)
        a = 255.0 * np.clip(a / 255.0, 0, 1) ** gamma * gain + bias
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))

    def rotate():
        return im.transpose(Image.Transpose.ROTATE_90 if rng.integers(0, 2) else Image.Transpose.ROTATE_270)

    def blur_noise():
        b = im.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(1, 3))))
        a = np.asarray(b, dtype=np.float32) + rng.normal(0, 8, size=(h, w, 1)).astype(np.float32)
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))

    makers = [mirror, crop, canvas, tone, crop, rotate, blur_noise, canvas]
    for i in range(count):
        out.append(makers[i % len(makers)]())
    return out


def gradient(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    w, h = size
    c0 = rng.uniform(0, 255, size=3)
    c1 = rng.uniform(0, 255, size=3)
    ang = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (np.cos(ang) * xx / max(w, 1) + np.sin(ang) * yy / max(h, 1))
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    a = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    a += rng.normal(0, rng.uniform(0, 12), size=(h, w, 1))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def texture(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """Smooth coloured noise (low-resolution noise upsampled) mixed with stripes."""
    w, h = size
    k = int(rng.integers(4, 40))
    low = rng.uniform(0, 255, size=(k, k, 3)).astype(np.uint8)
    im = Image.fromarray(low).resize((w, h), Image.BICUBIC)
    if rng.random() < 0.5:
        a = np.asarray(im, dtype=np.float32)
        period = rng.uniform(6, 60)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        s = 0.5 + 0.5 * np.sin((xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / period * 2 * np.pi)
        a = a * (0.6 + 0.4 * s[..., None])
        im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    return im


def synthetic(index: int, photos: list[Image.Image], seed: int) -> Image.Image:
    """A seeded composite: a textured or photographic background with foreground blobs/polygons
    (textured, or cut from a photo) and soft edges; 1024x1024 or a photo-like aspect."""
    rng = np.random.default_rng([seed, 1000 + index])
    w, h = [(1024, 1024), (1086, 1448), (1448, 1086), (1280, 720)][index % 4]
    bg = gradient((w, h), rng) if rng.random() < 0.5 else texture((w, h), rng)
    if photos and rng.random() < 0.4:
        p = photos[int(rng.integers(0, len(photos)))]
        bg = p.resize((w, h), Image.BILINEAR).filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0, 6))))
    for _ in range(int(rng.integers(1, 4))):
        mask = Image.new("L", (w, h), 0)
        d = ImageDraw.Draw(mask)
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        r = rng.uniform(0.12, 0.4) * min(w, h)
        if rng.random() < 0.5:
            d.ellipse([cx - r, cy - r * rng.uniform(0.5, 1.5), cx + r, cy + r * rng.uniform(0.5, 1.5)], fill=255)
        else:
            n = int(rng.integers(3, 9))
            ang = np.sort(rng.uniform(0, 2 * np.pi, size=n))
            rad = r * rng.uniform(0.5, 1.2, size=n)
            d.polygon([(float(cx + rr * np.cos(a)), float(cy + rr * np.sin(a))) for a, rr in zip(ang, rad)], fill=255)
        mask = mask.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.5, 4))))
        if photos and rng.random() < 0.6:
            p = photos[int(rng.integers(0, len(photos)))]
            fg = p.resize((w, h), Image.BILINEAR)
        else:
            fg = texture((w, h), rng)
        bg = Image.composite(fg, bg, mask)
    return bg


def to_input(im: Image.Image) -> np.ndarray:
    """Pillow BILINEAR to 1024x1024, RGB/255 - 0.5, NCHW float32 (the model's contract)."""
    r = im.convert("RGB").resize((SIDE, SIDE), Image.BILINEAR)
    a = np.asarray(r, dtype=np.float32) / 255.0 - 0.5
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None])


class CalibrationSet:
    """The calibration images, made lazily one at a time (names for the log and the cache key)."""

    def __init__(self, files: list[Path], n_variants: int, n_synthetic: int, seed: int):
        self.files = files
        self.n_variants = n_variants
        self.n_synthetic = n_synthetic
        self.seed = seed
        self.items: list[tuple[str, int, int]] = []  # (kind, file index, variant index)
        for fi, _ in enumerate(files):
            self.items.append(("photo", fi, -1))
            for vi in range(n_variants):
                self.items.append(("variant", fi, vi))
        for si in range(n_synthetic):
            self.items.append(("synthetic", -1, si))
        self._photos: list[Image.Image] | None = None

    def photos(self) -> list[Image.Image]:
        if self._photos is None:
            self._photos = [load_rgb(p) for p in self.files]
        return self._photos

    def key(self) -> str:
        h = hashlib.sha256()
        h.update(f"{RECIPE_VERSION} v{self.n_variants} s{self.n_synthetic} seed{self.seed}".encode())
        for p in self.files:
            h.update(p.name.encode())
            h.update(hashlib.sha256(p.read_bytes()).digest())
        return h.hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.items)

    def image(self, i: int) -> tuple[str, Image.Image]:
        kind, fi, vi = self.items[i]
        if kind == "photo":
            return self.files[fi].name, self.photos()[fi]
        if kind == "variant":
            rng = np.random.default_rng([self.seed, fi])
            vs = variants(self.photos()[fi], rng, self.n_variants)
            return f"{self.files[fi].name}#v{vi}", vs[vi]
        return f"synthetic#{vi}", synthetic(vi, self.photos(), self.seed)


# ---------------------------------------------------------------------------------------------
# 3. Calibration
# ---------------------------------------------------------------------------------------------


def collect_histograms(model_path: Path, calib: CalibrationSet, work: Path, num_bins: int):
    """Runs every calibration image through the augmented fp32 graph (one image at a time, one
    thread) and returns ORT's HistogramCollector with every activation's histogram."""
    import onnxruntime as ort
    from onnxruntime.quantization.calibrate import CalibrationDataReader, HistogramCalibrater

    class OneImage(CalibrationDataReader):
        def __init__(self, name, arr):
            self.data = [{name: arr}]

        def get_next(self):
            return self.data.pop() if self.data else None

    cal = HistogramCalibrater(
        model_path,
        op_types_to_calibrate=None,
        augmented_model_path=str(work / "augmented.onnx"),
        method="percentile",
        symmetric=False,
        num_bins=num_bins,
        num_quantized_bins=128,
        percentile=99.999,
    )
    cal.augment_graph()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1  # determinism: no thread-dependent reductions
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    cal.infer_session = ort.InferenceSession(cal.augmented_model_path, sess_options=so, providers=["CPUExecutionProvider"])
    input_name = cal.infer_session.get_inputs()[0].name
    # silence the per-call prints of the collector
    import contextlib
    import io

    for i in range(len(calib)):
        name, im = calib.image(i)
        arr = to_input(im)
        with contextlib.redirect_stdout(io.StringIO()):
            cal.collect_data(OneImage(input_name, arr))
        log(f"calibrated {i + 1}/{len(calib)} {name}")
    return cal


def rebin(h: np.ndarray, edges: np.ndarray, group: int) -> tuple[np.ndarray, np.ndarray]:
    pad = (-len(h)) % group
    if pad:
        step = edges[-1] - edges[-2]
        h = np.concatenate([h, np.zeros(pad, h.dtype)])
        edges = np.concatenate([edges, edges[-1] + step * np.arange(1, pad + 1, dtype=edges.dtype)])
    return h.reshape(-1, group).sum(axis=1), edges[::group]


def ranges_from(collector, method: str, percentile: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    import contextlib
    import io

    hist = collector.histogram_dict
    if method == "minmax":
        return {k: (np.array(v[2], dtype=np.float32), np.array(v[3], dtype=np.float32)) for k, v in sorted(hist.items())}
    collector.method = method
    collector.percentile = percentile
    if method == "entropy":
        # ORT's KL search is O(bins^2) per tensor: on 2048 bins it takes ~20 min here, so the
        # histograms are summed down to 256 bins (ORT's own default for entropy is 128).
        import copy

        collector = copy.copy(collector)
        group = max(1, collector.num_bins // 256)
        collector.histogram_dict = {k: (*rebin(v[0], v[1], group), *v[2:]) for k, v in hist.items()}
        collector.num_bins = collector.num_bins // group
        collector.num_quantized_bins = 128
    with contextlib.redirect_stdout(io.StringIO()):
        res = collector.compute_collection_result()
    out = {}
    for k in sorted(res):
        lo, hi = res[k][0], res[k][1]
        # never narrower than what was seen on the side that is zero (ReLU outputs start at 0)
        mn, mx = float(hist[k][2]), float(hist[k][3])
        lo = min(float(lo), 0.0) if mn >= 0 else float(lo)
        out[k] = (np.array(lo, dtype=np.float32), np.array(max(float(hi), 0.0) if mx <= 0 else float(hi), dtype=np.float32))
    return out


# ---------------------------------------------------------------------------------------------
# 4. Quantisation
# ---------------------------------------------------------------------------------------------


def excluded_nodes(model: onnx.ModelProto, preset: str) -> list[str]:
    """Node names to keep in fp32. Presets (docs/int8.md):
    none    - quantise everything ORT can
    head    - the output path: side-head convs, the Resize/Sigmoid after them, the first conv
    head+up - head, plus every Resize (the decoder upsamplings)
    head+d1 - head, plus the stage1d decoder block (highest-resolution decoder convs)
    """
    names = [n.name for n in model.graph.node]
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    out: list[str] = []
    if preset == "none":
        return out
    parts = preset.split("+")
    if "head" in parts or "out" in parts:
        out += [n for n in names if n.startswith("/side") or n in ("/Sigmoid",) or n.startswith("/Resize_5")]
        out += [n.name for n in model.graph.node if n.op_type in ("Sigmoid",)]
        # the Resize that upsamples side1 to the output
        for n in model.graph.node:
            if n.op_type == "Resize" and any(i.startswith("/side1") for i in n.input):
                out.append(n.name)
    if "head" in parts or "in" in parts:
        out.append(convs[0])
    if "up" in parts:
        out += [n.name for n in model.graph.node if n.op_type == "Resize"]
    if "d1" in parts:
        out += [n for n in names if n.startswith("/stage1d/")]
    if "conv1" in parts:
        out += convs[:2]
    return sorted(set(out))


def quantize(model_path: Path, ranges, out_path: Path, recipe: dict, work: Path) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import TensorsData
    from onnxruntime.quantization.calibrate import save_tensors_data

    model = onnx.load(str(model_path))
    exclude = excluded_nodes(model, recipe["exclude"])
    td = TensorsData(CalibrationMethod.MinMax, {k: (v[0], v[1]) for k, v in ranges.items()})
    cache = work / "ranges.json"
    save_tensors_data(td, cache)
    qt = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
    quantize_static(
        str(model_path),
        str(out_path),
        calibration_data_reader=None,
        calibration_cache_path=str(cache),
        quant_format=QuantFormat.QDQ,
        per_channel=recipe["per_channel"],
        reduce_range=recipe["reduce_range"],
        activation_type=qt[recipe["activation"]],
        weight_type=qt[recipe["weight"]],
        nodes_to_exclude=exclude,
        calibrate_method=CalibrationMethod.MinMax,
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
    )
    log(f"quantised, {len(exclude)} nodes kept in fp32")


def canonicalise(path: Path, recipe: dict) -> bytes:
    """Model bytes without anything that varies between runs, with the recipe in the metadata."""
    m = onnx.load(str(path))
    del m.metadata_props[:]
    m.producer_name = "rmbg-ultra quantize-int8.py"
    m.producer_version = RECIPE_VERSION
    m.doc_string = ""
    p = m.metadata_props.add()
    p.key = "rmbg-ultra.int8.recipe"
    p.value = json.dumps(recipe, sort_keys=True)
    return m.SerializeToString(deterministic=True)


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def prepare_fp32(model_in: Path, work: Path) -> Path:
    """fp16 file -> fp32 graph -> quant_pre_process; returns the pre-processed fp32 path."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32 = work / "fp32.onnx"
    m = to_fp32(onnx.load(str(model_in)))
    onnx.checker.check_model(m)
    onnx.save(m, str(fp32))
    pre = work / "fp32-pre.onnx"
    quant_pre_process(str(fp32), str(pre), skip_optimization=False, skip_onnx_shape=False, skip_symbolic_shape=False)
    return pre


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="the isnet-general fp16 .onnx")
    ap.add_argument("output", type=Path, help="where to write the int8 .onnx (atomically)")
    ap.add_argument("--calib", type=Path, nargs="*", default=[], help="calibration image folders or files")
    ap.add_argument("--method", choices=["minmax", "percentile", "entropy"], default=DEFAULT_RECIPE["method"])
    ap.add_argument("--percentile", type=float, default=DEFAULT_RECIPE["percentile"])
    ap.add_argument("--exclude", default=DEFAULT_RECIPE["exclude"], help="none | head | head+up | head+d1 | ...")
    ap.add_argument("--variants", type=int, default=DEFAULT_RECIPE["variants"], help="variations per photo")
    ap.add_argument("--synthetic", type=int, default=DEFAULT_RECIPE["synthetic"], help="synthetic composites")
    ap.add_argument("--activation", choices=["u8", "s8"], default=DEFAULT_RECIPE["activation"])
    ap.add_argument("--weight", choices=["u8", "s8"], default=DEFAULT_RECIPE["weight"])
    ap.add_argument("--per-tensor", action="store_true", help="per-tensor instead of per-channel weights")
    ap.add_argument("--reduce-range", action="store_true", help="7-bit weights (for CPUs without VNNI)")
    ap.add_argument("--seed", type=int, default=20260)
    ap.add_argument("--bins", type=int, default=2048)
    ap.add_argument("--work", type=Path, help="keep intermediate files (fp32 graph, histograms) here and reuse them")
    ap.add_argument("--fp32-only", action="store_true", help="write the fp32 graph (step 1+2) to OUTPUT and stop")
    args = ap.parse_args(argv)

    if not args.model.is_file():
        raise SystemExit(f"model {args.model} does not exist")
    files = list_images(args.calib)
    recipe = {
        "method": args.method,
        "percentile": args.percentile if args.method == "percentile" else None,
        "exclude": args.exclude,
        "variants": args.variants,
        "synthetic": args.synthetic,
        "activation": args.activation,
        "weight": args.weight,
        "per_channel": not args.per_tensor,
        "reduce_range": args.reduce_range,
        "seed": args.seed,
        "bins": args.bins,
        "calibration_files": [p.name for p in files],
    }
    tmp_ctx = None
    if args.work:
        work = args.work
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp_ctx = tempfile.TemporaryDirectory(prefix="quantize-int8.", dir=args.output.parent if args.output.parent.is_dir() else None)
        work = Path(tmp_ctx.name)
    try:
        src_sha = hashlib.sha256(args.model.read_bytes()).hexdigest()[:16]
        pre = work / f"fp32-pre-{src_sha}.onnx"
        if not pre.is_file():
            log("converting fp16 -> fp32 and pre-processing")
            p = prepare_fp32(args.model, work)
            os.replace(p, pre)
        if args.fp32_only:
            write_atomic(args.output, canonicalise(pre, {"fp32": True}))
            log(f"wrote {args.output}")
            return 0

        calib = CalibrationSet(files, args.variants if files else 0, args.synthetic, args.seed)
        if len(calib) == 0:
            raise SystemExit("no calibration images: give --calib folders or --synthetic N > 0")
        hist_path = work / f"hist-{src_sha}-{calib.key()}-b{args.bins}.npz"
        import pickle

        if hist_path.is_file():
            with open(hist_path, "rb") as f:
                collector = pickle.load(f)
            log(f"reusing histograms {hist_path.name}")
        else:
            log(f"calibrating on {len(calib)} images ({len(files)} files)")
            cal = collect_histograms(pre, calib, work, args.bins)
            collector = cal.collector
            del cal
            if args.work:
                with open(hist_path, "wb") as f:
                    pickle.dump(collector, f)
        ranges = ranges_from(collector, args.method, args.percentile)
        q = work / "int8.onnx"
        quantize(pre, ranges, q, recipe, work)
        data = canonicalise(q, recipe)
        write_atomic(args.output, data)
        log(f"wrote {args.output} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()})")
    finally:
        if tmp_ctx is not None:
            tmp_ctx.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
