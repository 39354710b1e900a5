#!/usr/bin/env python3
"""Compares segmentation models against an fp32 reference on photos: mask agreement, IoU, mean abs,
ORT CPU seconds per image and peak RSS (each model in its own process).

    .venv-quantize/bin/python scripts/eval-int8.py --ref FP32.onnx MODEL.onnx [MODEL.onnx ...] \
        [--photos 'testdata/photos/*.jpg'] [--threads 2] [--json out.json]

Per photo the model's first output (1024x1024) is resized back to the photo's size (bilinear,
half-pixel centres, no antialias: torch's F.interpolate as the node does) and compared with the
reference's: agreement = share of pixels on the same side of 0.5; IoU of the two masks at 0.5; mean
abs of the difference; `node` = agreement of the node's coarse mask (min-max normalised, then
255*r >= 1). Seconds: ORT CPU, intra-op threads as given, graph optimisation all, one warm-up run,
then the mean over the photos. RSS: ru_maxrss of the worker process (model load and all runs).
Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

SIDE = 1024


def to_input(path: str) -> tuple[np.ndarray, tuple[int, int]]:
    im = Image.open(path)
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    im = im.convert("RGB")
    size = im.size
    r = im.resize((SIDE, SIDE), Image.BILINEAR)
    a = np.asarray(r, dtype=np.float32) / 255.0 - 0.5
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None]), size


def _axis_weights(n_in: int, n_out: int):
    x = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    x = np.clip(x, 0, None)
    i0 = np.minimum(np.floor(x).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w = (x - i0).astype(np.float32)
    return i0, i1, w


def bilinear(a: np.ndarray, w_out: int, h_out: int) -> np.ndarray:
    """torch.nn.functional.interpolate(mode='bilinear', align_corners=False) of a 2-D map."""
    h, w = a.shape
    y0, y1, wy = _axis_weights(h, h_out)
    x0, x1, wx = _axis_weights(w, w_out)
    rows = a[y0] * (1 - wy)[:, None] + a[y1] * wy[:, None]
    return rows[:, x0] * (1 - wx)[None, :] + rows[:, x1] * wx[None, :]


def worker(model: str, photos: list[str], threads: int, out_dir: str) -> None:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t0 = time.perf_counter()
    sess = ort.InferenceSession(model, sess_options=so, providers=["CPUExecutionProvider"])
    load_s = time.perf_counter() - t0
    name = sess.get_inputs()[0].name
    first = sess.get_outputs()[0].name
    inputs = [to_input(p) for p in photos]
    sess.run([first], {name: inputs[0][0]})  # warm-up
    secs = []
    for i, (x, size) in enumerate(inputs):
        t = time.perf_counter()
        y = sess.run([first], {name: x})[0]
        secs.append(time.perf_counter() - t)
        np.save(os.path.join(out_dir, f"{i}.npy"), y.reshape(SIDE, SIDE).astype(np.float32))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    json.dump({"seconds": secs, "load_s": load_s, "rss_mb": rss_mb}, open(os.path.join(out_dir, "stats.json"), "w"))


def run_model(model: str, photos: list[str], threads: int, tmp: str) -> tuple[list[np.ndarray], dict]:
    out = tempfile.mkdtemp(dir=tmp)
    subprocess.run(
        [sys.executable, __file__, "--worker", model, "--threads", str(threads), "--out", out, *photos],
        check=True,
    )
    preds = [np.load(os.path.join(out, f"{i}.npy")) for i in range(len(photos))]
    return preds, json.load(open(os.path.join(out, "stats.json")))


def node_mask(r: np.ndarray) -> np.ndarray:
    lo, hi = float(r.min()), float(r.max())
    if not hi > lo:
        return np.zeros(r.shape, bool)
    n = ((r - lo) / (hi - lo)).astype(np.float32)
    return np.float32(255.0) * n >= 1.0


def compare(ref: list[np.ndarray], got: list[np.ndarray], sizes) -> dict:
    agree, iou, mad, node, maxd = [], [], [], [], []
    for a, b, (w, h) in zip(ref, got, sizes):
        ra, rb = bilinear(a, w, h), bilinear(b, w, h)
        ma, mb = ra >= 0.5, rb >= 0.5
        agree.append(float((ma == mb).mean()))
        union = np.logical_or(ma, mb).sum()
        iou.append(float(np.logical_and(ma, mb).sum() / union) if union else 1.0)
        d = np.abs(ra - rb)
        mad.append(float(d.mean()))
        maxd.append(float(d.max()))
        node.append(float((node_mask(ra) == node_mask(rb)).mean()))
    return {
        "agreement": agree,
        "iou": iou,
        "mean_abs": mad,
        "max_abs": maxd,
        "node_agreement": node,
        "agreement_min": min(agree),
        "agreement_mean": float(np.mean(agree)),
        "iou_mean": float(np.mean(iou)),
        "mean_abs_mean": float(np.mean(mad)),
        "node_agreement_min": min(node),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*")
    ap.add_argument("--ref", help="the fp32 reference model")
    ap.add_argument("--photos", default="testdata/photos/*.jpg")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write all numbers here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        worker(args.worker, args.models, args.threads, args.out)
        return 0
    if not args.ref:
        ap.error("--ref is required")
    photos = sorted(glob.glob(args.photos)) if not os.path.isfile(args.photos) else [args.photos]
    if not photos:
        raise SystemExit(f"no photos match {args.photos}")
    sizes = [Image.open(p).size for p in photos]
    results = {}
    with tempfile.TemporaryDirectory(prefix="eval-int8.") as tmp:
        ref, ref_stats = run_model(args.ref, photos, args.threads, tmp)
        results[args.ref] = {"stats": ref_stats, **compare(ref, ref, sizes)}
        for m in args.models:
            preds, stats = run_model(m, photos, args.threads, tmp)
            results[m] = {"stats": stats, **compare(ref, preds, sizes)}

    ref_s = float(np.mean(ref_stats["seconds"]))
    print(f"photos: {len(photos)} ({', '.join(Path(p).stem for p in photos)}); reference {args.ref}; threads {args.threads}")
    hdr = f"{'model':<44} {'agree@0.5 min/mean %':>21} {'IoU':>7} {'mean abs':>9} {'node mask %':>11} {'s/image':>8} {'x ref':>6} {'RSS MB':>7}"
    print(hdr)
    print("-" * len(hdr))
    for m, r in results.items():
        s = float(np.mean(r["stats"]["seconds"]))
        print(
            f"{Path(m).name[:44]:<44} {100 * r['agreement_min']:>9.3f} / {100 * r['agreement_mean']:>7.3f}   "
            f"{r['iou_mean']:>7.4f} {r['mean_abs_mean']:>9.5f} {100 * r['node_agreement_min']:>11.3f} "
            f"{s:>8.3f} {ref_s / s:>6.2f} {r['stats']['rss_mb']:>7.0f}"
        )
    for m, r in results.items():
        if m == args.ref:
            continue
        per = ", ".join(f"{Path(p).stem} {100 * a:.3f}%/{d:.4f}" for p, a, d in zip(photos, r["agreement"], r["mean_abs"]))
        print(f"  {Path(m).name}: {per}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
