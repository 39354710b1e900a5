"""Fast loop for the quality profile's alpha: the network's soft map of every ground-truth composite
is computed once (onnxruntime, our isnet-general file) and cached, then alpha variants written in
numpy/pymatting are scored on SAD and band SAD in seconds instead of a whole benchmark run. A
variant that wins here is ported to the library and confirmed by bench_quality.py (the numbers in
BENCHMARKS.md come from there, never from here).

    .venv-ref/bin/python bench/quality/explore.py [--variants NAME,..] [--only SAMPLE,..]
"""

import argparse
import json
import os
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image
from pymatting import cf_laplacian, cg, ichol
from scipy import ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from common import ROOT, model_path  # noqa: E402
import metrics  # noqa: E402

DATA = os.path.join(ROOT, "bench-out", "quality-gt")
CACHE = os.path.join(ROOT, "bench-out", "explore-cache")


PRE = "node"


def soft_map(sess, rgb):
    """The network's map at the photo's size, as the library's soft_to_size (torch bilinear).
    PRE "lanczos": Lanczos instead of bilinear down to 1024 (sharper input)."""
    h, w = rgb.shape[:2]
    resample = Image.LANCZOS if PRE.startswith("lanczos") else Image.BILINEAR
    small = np.asarray(Image.fromarray(rgb).resize((1024, 1024), resample), dtype=np.float32)
    x = (small / 255.0 - 0.5).transpose(2, 0, 1)[None]
    name = sess.get_inputs()[0].name
    inp = x.astype(np.float16) if "float16" in sess.get_inputs()[0].type else x
    out = sess.run([sess.get_outputs()[0].name], {name: inp})[0][0, 0].astype(np.float32)
    up = cv2.resize(out, (w, h), interpolation=cv2.INTER_LANCZOS4 if PRE == "lanczos2" else cv2.INTER_LINEAR)
    return np.clip(np.nan_to_num(up), 0, 1)


def load(names=None):
    manifest = json.load(open(os.path.join(DATA, "manifest.json")))
    samples = manifest["samples"] if isinstance(manifest, dict) and "samples" in manifest else manifest
    keys = [s["name"] for s in samples] if isinstance(samples, list) else list(samples)
    os.makedirs(CACHE, exist_ok=True)
    sess = None
    out = []
    for name in keys:
        if names and not any(n in name for n in names):
            continue
        rgb = np.asarray(Image.open(os.path.join(DATA, "images", name + ".png")).convert("RGB"))
        gt = cv2.imread(os.path.join(DATA, "alpha", name + ".png"), cv2.IMREAD_UNCHANGED).astype(np.float64) / 65535
        cached = os.path.join(CACHE, name + ("" if PRE == "node" else "." + PRE) + ".npy")
        if os.path.exists(cached):
            soft = np.load(cached)
        else:
            if sess is None:
                sess = ort.InferenceSession(model_path("isnet-general"), providers=["CPUExecutionProvider"])
            soft = soft_map(sess, rgb)
            np.save(cached, soft)
        out.append((name, rgb, gt, soft))
    return out


# ---- building blocks ----------------------------------------------------------------------------

def floor_lift(soft, band_bg, q=0.99, cap=0.1):
    vals = soft[band_bg]
    f = min(float(np.quantile(vals, q)), cap) if vals.size else 0.0
    return np.clip((soft - f) / (1 - f), 0, 1) if f > 0 else soft


def disk(r):
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (xx ** 2 + yy ** 2) <= r * r


def band_trimap(soft, inner, outer, lo=0.04, hi=0.94, square=True):
    """0 bg / 1 fg / 0.5 unknown: sure regions shrunk by inner/outer px (as trimap.rs band_trimap)."""
    fg = soft >= hi
    bg = soft < lo
    def erode(m, r):
        if r <= 0:
            return m
        k = np.ones((2 * r + 1, 2 * r + 1), np.uint8) if square else disk(r).astype(np.uint8)
        return cv2.erode(m.astype(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=1).astype(bool)
    fg, bg = erode(fg, inner), erode(bg, outer)
    t = np.full(soft.shape, 0.5)
    t[fg] = 1.0
    t[bg] = 0.0
    return t


def solve_cf(rgb, trimap, prior=None, lam=0.0, eps=1e-7, radius=1):
    img = rgb.astype(np.float64) / 255.0
    known = trimap != 0.5
    L = cf_laplacian(img, epsilon=eps, radius=radius, is_known=known)
    u = ~known.ravel()
    if not u.any():
        return trimap.copy()
    Luu = L[u][:, u]
    k = known.ravel()
    ak = (trimap.ravel()[k] == 1).astype(np.float64)
    b = -(L[u][:, k] @ ak)
    if lam > 0:
        Luu = Luu + lam * __import__("scipy.sparse", fromlist=["identity"]).identity(Luu.shape[0], format="csr")
        b = b + lam * prior.ravel()[u]
    A = Luu.tocsr()
    x = cg(A, b, M=ichol(A), rtol=1e-7)
    a = trimap.ravel().copy()
    a[u] = np.clip(x, 0, 1)
    return a.reshape(trimap.shape)


def scale_px(n, shape):
    return int(round(n * max(1.0, max(shape) / 1024.0)))


# ---- variants: (rgb, soft) -> alpha ---------------------------------------------------------------

def v_soft(rgb, soft, **_):
    t = band_trimap(soft, scale_px(6, soft.shape), scale_px(6, soft.shape))
    return floor_lift(soft, t == 0)


def v_cf(rgb, soft, inner=6, outer=6, lam=1e-4, lo=0.04, hi=0.94, eps=1e-7, radius=1, **_):
    i, o = scale_px(inner, soft.shape), scale_px(outer, soft.shape)
    t = band_trimap(soft, i, o, lo, hi)
    s = floor_lift(soft, t == 0)
    return solve_cf(rgb, t, prior=s, lam=lam, eps=eps, radius=radius)


def v_gf(rgb, soft, radius=4, eps=1e-3, inner=6, outer=12, hi=0.98, **_):
    """Guided filter of the soft mask in the band (as band.rs GuidedFilter), radius at 1024 px."""
    t = band_trimap(soft, scale_px(inner, soft.shape), scale_px(outer, soft.shape), hi=hi)
    s = floor_lift(soft, t == 0)
    r = max(2, scale_px(radius, soft.shape))
    # eps for a guide in 0..1, as the library's guided_filter_u8
    q = cv2.ximgproc.guidedFilter((rgb / 255.0).astype(np.float32), s.astype(np.float32), r, eps)
    return np.where(t == 0.5, np.clip(q, 0, 1), t)


def v_soft_band(rgb, soft, inner=6, outer=12, hi=0.98, **_):
    t = band_trimap(soft, scale_px(inner, soft.shape), scale_px(outer, soft.shape), hi=hi)
    s = floor_lift(soft, t == 0)
    return np.where(t == 0.5, s, t)


def v_bound(rgb, soft, gt=None, inner=6, outer=6, hi=0.94, **_):
    """No real variant: the truth inside the band, the band's trimap outside. Its SAD is the least
    any refinement of this band can reach: the error left in what the network was sure of."""
    t = band_trimap(soft, scale_px(inner, soft.shape), scale_px(outer, soft.shape), hi=hi)
    return np.where(t == 0.5, gt, t)


VARIANTS = {
    "soft-band": (v_soft_band, {}),
    "gf-r4-e1e-3": (v_gf, {}),
    "gf-r2-e1e-3": (v_gf, {"radius": 2}),
    "gf-r4-e1e-4": (v_gf, {"eps": 1e-4}),
    "gf-r8-e1e-2": (v_gf, {"radius": 8, "eps": 1e-2}),
    "gf-r2-e1e-4": (v_gf, {"radius": 2, "eps": 1e-4}),
    "gf-r4-e1e-5": (v_gf, {"eps": 1e-5}),
    "gf-r4-e1e-6": (v_gf, {"eps": 1e-6}),
    "gf-r4-e1e-7": (v_gf, {"eps": 1e-7}),
    "gf-r2-e1e-6": (v_gf, {"radius": 2, "eps": 1e-6}),
    "gf-r6-e1e-6": (v_gf, {"radius": 6, "eps": 1e-6}),
    "bound": (v_bound, {}),
    "bound-out40": (v_bound, {"outer": 40}),
    "bound-now": (v_bound, {"outer": 12, "hi": 0.98}),
    "soft": (v_soft, {}),
    "cf-default": (v_cf, {}),
    "cf-lam0": (v_cf, {"lam": 0.0}),
    "cf-lam1e-5": (v_cf, {"lam": 1e-5}),
    "cf-wide12": (v_cf, {"inner": 6, "outer": 12}),
    "cf-wide20": (v_cf, {"inner": 6, "outer": 20}),
    "cf-wide40": (v_cf, {"inner": 6, "outer": 40}),
    "cf-wide40-lam0": (v_cf, {"inner": 6, "outer": 40, "lam": 0.0}),
    "cf-in12": (v_cf, {"inner": 12, "outer": 6}),
    "cf-lo01": (v_cf, {"lo": 0.01}),
    "cf-eps1e-6": (v_cf, {"eps": 1e-6}),
    "cf-lam1e-6": (v_cf, {"lam": 1e-6}),
    "cf-lam0-in3": (v_cf, {"lam": 0.0, "inner": 3}),
    "cf-lam0-out10": (v_cf, {"lam": 0.0, "outer": 10}),
    "cf-lam0-eps1e-6": (v_cf, {"lam": 0.0, "eps": 1e-6}),
    "cf-lam0-hi90": (v_cf, {"lam": 0.0, "hi": 0.90}),
    "cf-lam0-out8": (v_cf, {"lam": 0.0, "outer": 8}),
    "cf-lam0-hi97-out10": (v_cf, {"lam": 0.0, "hi": 0.97, "outer": 10}),
    "cf-lam0-hi97-out12": (v_cf, {"lam": 0.0, "hi": 0.97, "outer": 12}),
    "cf-lam0-hi98-out10": (v_cf, {"lam": 0.0, "hi": 0.98, "outer": 10}),
    "cf-lam0-hi98-out12": (v_cf, {"lam": 0.0, "hi": 0.98, "outer": 12}),
    "cf-lam0-out12": (v_cf, {"lam": 0.0, "outer": 12}),
    "bound-chosen": (v_bound, {"outer": 12}),
    "cf-lam0-out15": (v_cf, {"lam": 0.0, "outer": 15}),
    "cf-lam0-in8-out10": (v_cf, {"lam": 0.0, "inner": 8, "outer": 10}),
    "cf-lam0-lo02-out10": (v_cf, {"lam": 0.0, "lo": 0.02, "outer": 10}),
    "cf-lam0-hi97": (v_cf, {"lam": 0.0, "hi": 0.97}),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default="soft,cf-default")
    ap.add_argument("--only", default="")
    ap.add_argument("--pre", default="node", choices=["node", "lanczos", "lanczos2"], help="network input resampling")
    args = ap.parse_args()
    global PRE
    PRE = args.pre
    data = load([s for s in args.only.split(",") if s])
    names = [v for v in args.variants.split(",") if v]
    rows = {}
    for vname in names:
        fn, kw = VARIANTS[vname]
        tot = {"sad": 0.0, "sad_band": 0.0}
        t0 = time.time()
        per = []
        for name, rgb, gt, soft in data:
            a = np.round(np.clip(fn(rgb, soft, gt=gt, **kw), 0, 1) * 255) / 255
            band = metrics.soft_band(gt)
            s, sb = metrics.sad(a, gt), metrics.sad(a[band], gt[band])
            tot["sad"] += s
            tot["sad_band"] += sb
            per.append((name, s, sb))
        n = len(data)
        rows[vname] = per
        print(f"{vname:16s} SAD {tot['sad'] / n:8.2f}  band {tot['sad_band'] / n:8.2f}  ({time.time() - t0:.0f} s)", flush=True)
    print("\nper image SAD (band):")
    print("sample".ljust(24) + "".join(v[:14].rjust(16) for v in names))
    for i, (name, *_rest) in enumerate(data):
        print(name.ljust(24) + "".join(f"{rows[v][i][1]:7.1f} ({rows[v][i][2]:6.1f})" for v in names))


if __name__ == "__main__":
    main()
