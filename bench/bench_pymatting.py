"""Benchmark of the "PyMatting" detail method: rmbg-ultra (examples/bench_pymatting.rs) against
pymatting as the node calls it, on the same inputs, in one run. Not a test.

    .venv-ref/bin/python bench/bench_pymatting.py [--repeat 3] [--no-build] [--keep DIR]

Cases:
  lemur  estimate_alpha_cf on testdata/lemur (pymatting's own example, a wide unknown region)
  band   the node's mask_edge_detail on a shared photo with a synthetic ellipse mask, defaults
         (detail_erode = detail_dilate = 6)
  wide   the same on a 4 MP version of the photo, detail_erode = detail_dilate = 40

Each side runs in its own fresh process per case. pymatting's first call is timed with an empty
numba cache (JIT compilation included), then warm calls; peak RSS is the process's VmHWM during
the timed call (reset before it), next to the RSS just before it.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO = os.path.join(ROOT, "testdata", "photos", "people.jpg")
sys.path.insert(0, os.path.join(ROOT, "bench"))
from common import reset_peak, status_kb  # noqa: E402


def proc_status(field):
    """A /proc/self/status field in bytes."""
    return status_kb(field) * 1024


# ---------------------------------------------------------------- the pymatting side (child)
def node_call(case, image_u8, mask_u8):
    """The node's mask_edge_detail (see reference/pymatting_ref.py), u8 result."""
    import cv2
    from pymatting import estimate_alpha_cf, fix_trimap

    i = image_u8.astype(np.float32) / 255.0
    m = mask_u8.astype(np.float32) / 255.0
    dr = case["detail_range"] // 8 + 1
    d = dr * 5 + 1
    if not d % 2:
        d += 1
    trimap = cv2.GaussianBlur(m.astype(np.float64), (d, d), 0)
    trimap = fix_trimap(trimap, case["black_point"], case["white_point"])
    alpha = estimate_alpha_cf(
        i.astype(np.float64), trimap, laplacian_kwargs={"epsilon": 1e-6}, cg_kwargs={"maxiter": 500}
    )
    return np.clip(255.0 * alpha.astype(np.float32), 0, 255).astype(np.uint8)


def alpha_call(image_u8, trimap_u8):
    from pymatting import estimate_alpha_cf

    return estimate_alpha_cf(
        image_u8 / 255.0, trimap_u8 / 255.0, laplacian_kwargs={"epsilon": 1e-6}, cg_kwargs={"maxiter": 500}
    )


def child(case_dir, repeat):
    import pymatting  # noqa: F401  (loads the modules)
    from pymatting.solver.cg import cg as pm_cg

    # `pymatting.alpha.estimate_alpha_cf` is the function; the module is in sys.modules.
    cf_module = sys.modules["pymatting.alpha.estimate_alpha_cf"]

    iterations = [0]

    def counting_cg(*args, **kwargs):
        iterations[0] = 0

        def cb(*_):
            iterations[0] += 1

        return pm_cg(*args, callback=cb, **kwargs)

    cf_module.cg = counting_cg  # only counts; same solver

    with open(os.path.join(case_dir, "case.json")) as f:
        case = json.load(f)
    image = np.load(os.path.join(case_dir, "image.npy"))
    if case["kind"] == "node":
        mask = np.load(os.path.join(case_dir, "mask.npy"))
        call = lambda: node_call(case, image, mask)
    else:
        trimap = np.load(os.path.join(case_dir, "trimap.npy"))
        call = lambda: alpha_call(image, trimap)

    saved = os.dup(1)
    os.dup2(2, 1)  # pymatting prints warnings on stdout
    try:
        reset_peak()
        rss_first = proc_status("VmRSS:")
        t = time.perf_counter()
        out = call()
        first = time.perf_counter() - t
        peak_first = proc_status("VmHWM:")
        warm, cpu, peaks, rss_warm = [], [], [], []
        for _ in range(repeat):
            reset_peak()
            rss_warm.append(proc_status("VmRSS:"))
            t, c = time.perf_counter(), time.process_time()
            out = call()
            warm.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            peaks.append(proc_status("VmHWM:"))
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    np.save(os.path.join(case_dir, "pymatting.npy"), out)
    print(
        json.dumps(
            {
                "first_s": first,
                "warm_s": warm,
                "warm_cpu_s": cpu,
                "iterations": iterations[0],
                "rss_first": rss_first,
                "peak_first": peak_first,
                "rss_warm": min(rss_warm),
                "peak_warm": max(peaks),
            }
        )
    )


# ---------------------------------------------------------------- the driver
def ellipse_mask(h, w):
    yy, xx = np.mgrid[0:h, 0:w]
    inside = ((xx - 0.5 * w) / (0.36 * w)) ** 2 + ((yy - 0.48 * h) / (0.40 * h)) ** 2 <= 1.0
    return np.where(inside, 255, 0).astype(np.uint8)


def prepare(root):
    import cv2
    from PIL import Image

    cases = []

    d = os.path.join(root, "lemur")
    os.makedirs(d, exist_ok=True)
    lemur = os.path.join(ROOT, "testdata", "lemur")
    np.save(os.path.join(d, "image.npy"), np.array(Image.open(os.path.join(lemur, "lemur.png")).convert("RGB")))
    np.save(os.path.join(d, "trimap.npy"), np.array(Image.open(os.path.join(lemur, "lemur_trimap.png")).convert("L")))
    json.dump({"kind": "alpha"}, open(os.path.join(d, "case.json"), "w"))
    cases.append(("lemur", d, "estimate_alpha_cf"))

    photo = cv2.imread(PHOTO, cv2.IMREAD_COLOR)[:, :, ::-1].copy()
    for name, img, rng in [
        ("band", photo, 12),
        ("wide", None, 80),
    ]:
        if img is None:
            h0, w0 = photo.shape[:2]
            s = (4.0e6 / (h0 * w0)) ** 0.5
            img = cv2.resize(photo, (round(w0 * s), round(h0 * s)), interpolation=cv2.INTER_CUBIC)
        d = os.path.join(root, name)
        os.makedirs(d, exist_ok=True)
        h, w = img.shape[:2]
        np.save(os.path.join(d, "image.npy"), np.ascontiguousarray(img))
        np.save(os.path.join(d, "mask.npy"), ellipse_mask(h, w))
        json.dump(
            {"kind": "node", "detail_range": rng, "black_point": 0.01, "white_point": 0.99},
            open(os.path.join(d, "case.json"), "w"),
        )
        cases.append((name, d, f"mask_edge_detail, erode+dilate={rng}"))
    return cases


def mb(b):
    return f"{b / 2**20:.0f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--keep", help="keep the cases in this folder")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--only", help="comma-separated case names")
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.repeat)

    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    exe = os.path.join(target, "release", "examples", "bench_pymatting")
    if not args.no_build:
        subprocess.run(
            ["cargo", "build", "--release", "-p", "rmbg-ultra", "--example", "bench_pymatting"], cwd=ROOT, check=True
        )
    root = args.keep or tempfile.mkdtemp(prefix="bench_pymatting_")
    os.makedirs(root, exist_ok=True)
    cases = prepare(root)
    if args.only:
        cases = [c for c in cases if c[0] in args.only.split(",")]

    rows = []
    for name, d, what in cases:
        ours = json.loads(subprocess.run([exe, d, "--repeat", str(args.repeat)], check=True, capture_output=True, text=True).stdout)
        with tempfile.TemporaryDirectory(prefix="numba_cache_") as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            pm = json.loads(
                subprocess.run(
                    [sys.executable, os.path.abspath(__file__), "--child", d, "--repeat", str(args.repeat)],
                    check=True, capture_output=True, text=True, env=env,
                ).stdout
            )
        a, b = np.load(os.path.join(d, "ours.npy")), np.load(os.path.join(d, "pymatting.npy"))
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
        img = np.load(os.path.join(d, "image.npy"))
        r = ours["report"]
        ours_s, warm_s = min(ours["seconds"]), min(pm["warm_s"])
        rows.append((name, what, img.shape, r, ours, pm, ours_s, warm_s, diff))

    print(f"\nrmbg-ultra ({rows[0][4]['threads']} threads) vs pymatting 1.1.16 (single-threaded numba), best of {args.repeat}\n")
    hdr = (
        f"{'case':6} {'size':>10} {'unknown':>8} {'iter':>6} {'ours s':>7} {'pm warm':>8} {'pm 1st':>7} {'x warm':>7}"
        f" {'x 1st':>6} {'ours cpu':>8} {'pm cpu':>7} {'x cpu':>6} {'RSS MB ours':>12} {'RSS MB pm':>12} {'diff':>10}"
    )
    print(hdr)
    print("-" * len(hdr))
    for name, what, shape, r, ours, pm, ours_s, warm_s, diff in rows:
        size = f"{shape[1]}x{shape[0]}"
        it = f"{r['iterations']}/{pm['iterations']}"
        ours_cpu, pm_cpu = min(ours["cpu_seconds"]), min(pm["warm_cpu_s"])
        rss_o = f"{mb(ours['rss_before'])}->{mb(ours['peak_rss'])}"
        rss_p = f"{mb(pm['rss_warm'])}->{mb(pm['peak_warm'])}"
        d = f"max {diff.max():.0e}" if name == "lemur" else f"mean {diff.mean():.0e}"
        print(
            f"{name:6} {size:>10} {r['unknowns']:>8} {it:>6} {ours_s:>7.3f} {warm_s:>8.3f} {pm['first_s']:>7.2f}"
            f" {warm_s / ours_s:>6.1f}x {pm['first_s'] / ours_s:>5.1f}x {ours_cpu:>8.3f} {pm_cpu:>7.3f}"
            f" {pm_cpu / ours_cpu:>5.1f}x {rss_o:>12} {rss_p:>12} {d:>10}"
        )
    print("\nours by stage (s): blur+trimap / Laplacian / incomplete Cholesky / CG; solver working set")
    for name, what, shape, r, ours, pm, ours_s, warm_s, diff in rows:
        print(
            f"  {name:6} {r['blur_s']:.3f} / {r['laplacian_s']:.3f} / {r['factor_s']:.3f} / {r['cg_s']:.3f};"
            f" L_UU {r['matrix_nnz']} nnz, factor {r['factor_nnz']} nnz, {mb(r['solver_bytes'])} MB  ({what})"
        )
    print(
        "\niter = CG iterations ours/pymatting; s = wall seconds, cpu = CPU seconds of all threads (ours uses"
        " every core: a fair measure on a busy machine); pm 1st = pymatting's first call with an empty numba"
        " cache (JIT compilation); RSS = process RSS before -> peak during the call; diff = max abs on alpha"
        " (lemur) or mean abs on the u8 mask."
    )
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
