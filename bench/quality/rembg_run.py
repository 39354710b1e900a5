"""rembg side of bench_quality.py: one process, one session, every image; runs in .venv-rembg.

    .venv-rembg/bin/python bench/quality/rembg_run.py --model FILE.onnx -o OUT [--opts JSON] IMAGES...
    .venv-rembg/bin/python bench/quality/rembg_run.py --check-opts JSON    # exit 3 if unsupported
    .venv-rembg/bin/python bench/quality/rembg_run.py --warmup             # compile numba kernels

Session dis_custom with the given ONNX file (the caller sets U2NET_HOME to a folder holding a copy,
so nothing downloads). Writes OUT/NAME.png (rembg's RGBA cutout, as rembg returns it) and prints
one JSON line per image with its in-process seconds, then a summary line.
"""

import argparse
import inspect
import json
import os
import sys
import time


def check(opts):
    from rembg import remove
    params = inspect.signature(remove).parameters
    missing = [k for k in opts if k not in params]
    if missing:
        print(json.dumps({"unsupported": missing}))
        sys.exit(3)
    print(json.dumps({"ok": True}))


def warmup():
    # pymatting's numba kernels are compiled on first use and cached in the venv (cache=True):
    # compile them once on a tiny image so that no timed run pays for it
    import numpy as np
    from pymatting import estimate_alpha_cf, estimate_foreground_ml
    rng = np.random.default_rng(0)
    img = rng.random((48, 48, 3))
    tri = np.full((48, 48), 0.5)
    tri[:10] = 0
    tri[-10:] = 1
    a = estimate_alpha_cf(img, tri)
    estimate_foreground_ml(img, a)
    print(json.dumps({"warmup": "ok"}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("-o", "--out")
    ap.add_argument("--opts", default="{}")
    ap.add_argument("--check-opts")
    ap.add_argument("--warmup", action="store_true")
    ap.add_argument("images", nargs="*")
    args = ap.parse_args()
    if args.check_opts is not None:
        return check(json.loads(args.check_opts))
    if args.warmup:
        return warmup()
    t0 = time.perf_counter()
    from PIL import Image
    from rembg import new_session, remove
    opts = json.loads(args.opts)
    session = new_session("dis_custom", model_path=args.model, providers=["CPUExecutionProvider"])
    load = time.perf_counter() - t0
    os.makedirs(args.out, exist_ok=True)
    per = []
    for path in args.images:
        t = time.perf_counter()
        img = Image.open(path)
        img.load()
        cut = remove(img, session=session, **opts)
        name = os.path.splitext(os.path.basename(path))[0]
        out = os.path.join(args.out, name + ".png")
        cut.save(out)
        dt = time.perf_counter() - t
        per.append(dt)
        print(json.dumps({"input": path, "outputs": [out], "seconds": dt}), flush=True)
    print(json.dumps({"summary": {"load_seconds": load, "seconds": time.perf_counter() - t0,
                                  "images": len(per)}}))


if __name__ == "__main__":
    main()
