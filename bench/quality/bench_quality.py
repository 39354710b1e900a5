"""Ground-truth matting quality: rmbg-ultra's profiles and methods against rembg 2.0.86, same ONNX
model (isnet-general), on the composites of make_dataset.py. One process per variant over the whole
set; writes a markdown table to stdout and bench-out/quality-results.md, per-image rows to
bench-out/quality-results.csv.

    scripts/pyref-venv.sh && scripts/rembg-venv.sh
    .venv-ref/bin/python bench/quality/bench_quality.py [--variants node,rembg] [--reuse]

Variants whose CLI flags `rmbg-ultra remove --help` does not list are skipped (noted in the
output); `--profile node` is dropped, not skipped, on a CLI without --profile (that CLI is the node
profile). ViTMatte variants run only when `rmbg-ultra models list` says the model is installed.
"""

import argparse
import contextlib
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from common import BIN, ROOT, measure, model_path, table  # noqa: E402
import make_dataset  # noqa: E402
import metrics  # noqa: E402

REMBG_PY = os.path.join(ROOT, ".venv-rembg", "bin", "python")
REMBG_RUN = os.path.join(HERE, "rembg_run.py")
OUT = os.path.join(ROOT, "bench-out")

# ---- the variants: (name, tool, arguments, required model or None) --------------------------------
# tool "ours": arguments are `rmbg-ultra remove` flags; "rembg": keyword arguments of rembg.remove();
# "gt-u8": the ground truth quantised to 8 bits (the floor of any 8-bit output), no process.
VARIANTS = []
for _method, _mflags in (("GuidedFilter", ["--method", "GuidedFilter"]),
                         ("PyMatting", ["--method", "PyMatting"]),
                         ("no-detail", ["--no-detail"])):
    for _fg in ("ml", "blur", "off"):
        VARIANTS.append((f"quality {_method} fg={_fg}", "ours",
                         ["--profile", "quality", *_mflags, "--foreground", _fg], None))
# --fast: the same profile on the int8 model (issue 11: SAD within 3 % of fp32).
for _method, _mflags, _fgs in (("GuidedFilter", ["--method", "GuidedFilter"], ("ml",)),
                               ("PyMatting", ["--method", "PyMatting"], ("ml",)),
                               ("no-detail", ["--no-detail"], ("ml", "blur"))):
    for _fg in _fgs:
        VARIANTS.append((f"fast {_method} fg={_fg}", "ours", ["--fast", *_mflags, "--foreground", _fg], "isnet-general-int8"))
VARIANTS += [
    ("quality VITMatte fg=ml", "ours", ["--profile", "quality", "--method", "VITMatte", "--foreground", "ml"],
     "vitmatte-small"),
    ("node GuidedFilter", "ours", ["--profile", "node", "--method", "GuidedFilter"], None),
    ("node PyMatting", "ours", ["--profile", "node", "--method", "PyMatting"], None),
    ("node no-detail", "ours", ["--profile", "node", "--no-detail"], None),
    ("node VITMatte", "ours", ["--profile", "node", "--method", "VITMatte"], "vitmatte-small"),
    ("rembg plain", "rembg", {}, None),
    ("rembg alpha_matting", "rembg", {"alpha_matting": True}, None),
    ("rembg decontaminate", "rembg", {"decontaminate": True}, None),
    ("ground truth through u8", "gt-u8", None, None),
]
# Flags the CLI of today may lack and that are dropped (not a reason to skip) when it does.
DROPPABLE = {("--profile", "node")}

METRICS = [("sad", "SAD", 1), ("mse", "MSE×1e3", 1e3), ("grad", "Grad", 1), ("conn", "Conn", 1),
           ("sad_band", "SAD band", 1), ("recomp", "recomp", 1), ("recomp_band", "recomp band", 1)]


def slug(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def cli_flags():
    out = subprocess.run([BIN, "remove", "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", out))


def installed_models():
    out = subprocess.run([BIN, "models", "list"], capture_output=True, text=True).stdout
    return {ln.split()[0] for ln in out.splitlines()[1:] if len(ln.split()) > 2 and ln.split()[2] == "installed"}


def adapt(flags, supported):
    """(flags to pass, None) or (None, reason to skip)."""
    out, i = [], 0
    while i < len(flags):
        f = flags[i]
        val = flags[i + 1] if i + 1 < len(flags) and not flags[i + 1].startswith("--") else None
        if f not in supported:
            if (f, val) in DROPPABLE:
                i += 2
                continue
            return None, f"CLI has no {f}"
        out.append(f)
        if val is not None:
            out.append(val)
            i += 1
        i += 1
    return out, None


def cutout_of(outputs):
    return next(o for o in outputs if ".mask." not in os.path.basename(o))


def run_ours(name, flags, img_dir, out_dir, n):
    t0 = time.time()
    sec, rss, stdout = measure([BIN, "remove", img_dir, "-o", out_dir, "--save-mask", "--overwrite", "--json", *flags])
    files, inproc = {}, []
    for ln in stdout.splitlines():
        j = json.loads(ln)
        if "summary" in j:
            continue
        if j.get("error"):
            raise SystemExit(f"{name}: {j['input']}: {j['error']}")
        files[os.path.splitext(os.path.basename(j["input"]))[0]] = cutout_of(j["outputs"])
        inproc.append(sum(j["seconds"].values()))
    return {"wall": sec, "rss": rss, "inproc": float(np.mean(inproc)), "files": files, "n": n, "at": t0}


def rembg_env():
    home = os.path.join(OUT, "rembg-home")
    os.makedirs(home, exist_ok=True)
    src = model_path("isnet-general")
    dst = os.path.join(home, os.path.basename(src))
    if not os.path.exists(dst) or os.path.getsize(dst) != os.path.getsize(src):
        shutil.copyfile(src, dst)
    env = dict(os.environ, U2NET_HOME=home)
    return env, dst


def run_rembg(name, opts, images, out_dir, env, model):
    chk = subprocess.run([REMBG_PY, REMBG_RUN, "--check-opts", json.dumps(opts)], capture_output=True, text=True, env=env)
    if chk.returncode == 3:
        return None, f"rembg 2.0.86 has no {json.loads(chk.stdout)['unsupported']}"
    if chk.returncode:
        raise SystemExit(chk.stderr)
    sec, rss, stdout = measure([REMBG_PY, REMBG_RUN, "--model", model, "-o", out_dir, "--opts", json.dumps(opts),
                                *images], env=env)
    files, inproc = {}, []
    for ln in stdout.splitlines():
        j = json.loads(ln)
        if "summary" in j:
            continue
        files[os.path.splitext(os.path.basename(j["input"]))[0]] = j["outputs"][0]
        inproc.append(j["seconds"])
    return {"wall": sec, "rss": rss, "inproc": float(np.mean(inproc)), "files": files, "n": len(images)}, None


def read_rgba(path):
    x = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if x is None:
        raise SystemExit(f"cannot read {path}")
    if x.ndim == 2:
        return None, x.astype(np.float64) / 255
    if x.shape[2] == 3:
        return x[..., ::-1].astype(np.float64) / 255, np.ones(x.shape[:2])
    return x[..., 2::-1].astype(np.float64) / 255, x[..., 3].astype(np.float64) / 255


def read_rgb(path):
    return cv2.imread(path, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float64) / 255


def fmt(v, k):
    if v is None:
        return "–"
    return f"{v:.3f}" if k in ("recomp", "recomp_band", "mse") else f"{v:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(OUT, "quality-gt"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", default=os.path.join(OUT, "quality-runs"), help="outputs of every variant")
    ap.add_argument("--variants", default="", help="comma-separated substrings of variant names to run")
    ap.add_argument("--reuse", action="store_true", help="reuse a variant's outputs and timing from --runs "
                    "when its arguments are unchanged")
    ap.add_argument("--results", default=os.path.join(OUT, "quality-results"))
    args = ap.parse_args()

    manifest = make_dataset.build(args.data, args.seed)
    names = [s["name"] for s in manifest["samples"]]
    kinds = {s["name"]: s["kind"] for s in manifest["samples"]}
    img_dir = os.path.join(args.data, "images")
    images = [os.path.join(img_dir, n + ".png") for n in names]
    want = [w for w in args.variants.split(",") if w]
    supported, models = cli_flags(), installed_models()
    env = model = None

    runs, notes = {}, []
    for name, tool, targs, need in VARIANTS:
        if want and not any(w in name for w in want):
            continue
        if tool == "gt-u8":
            runs[name] = {"n": len(names)}
            continue
        if need and need not in models:
            notes.append(f"{name}: skipped, model {need} not installed (`rmbg-ultra models list`)")
            continue
        out_dir = os.path.join(args.runs, slug(name))
        if tool == "ours":
            flags, why = adapt(targs, supported)
            if why:
                notes.append(f"{name}: skipped, {why}")
                continue
            key = {"tool": tool, "args": flags, "bin_mtime": os.path.getmtime(BIN)}
        else:
            if not os.path.exists(REMBG_PY):
                notes.append(f"{name}: skipped, no .venv-rembg (scripts/rembg-venv.sh)")
                continue
            key = {"tool": tool, "args": targs}
        stamp = os.path.join(out_dir, "run.json")
        if args.reuse and os.path.exists(stamp):
            with open(stamp) as fh:
                r = json.load(fh)
            if r.get("key") == key and sorted(r["files"]) == sorted(names) and all(map(os.path.exists, r["files"].values())):
                runs[name] = r
                print(f"{name}: reused {stamp}", file=sys.stderr)
                continue
        shutil.rmtree(out_dir, ignore_errors=True)
        print(f"{name}: running {tool} {targs if tool == 'rembg' else ' '.join(flags)}", file=sys.stderr)
        try:
            if tool == "ours":
                r = run_ours(name, flags, img_dir, out_dir, len(names))
                if "--profile" not in supported and ("--profile", "node") in zip(targs, targs[1:]):
                    notes.append(f"{name}: run without --profile (today's CLI is the node profile)")
            else:
                if env is None:
                    env, model = rembg_env()
                    subprocess.run([REMBG_PY, REMBG_RUN, "--warmup"], env=env, check=True, capture_output=True)
                r, why = run_rembg(name, targs, images, out_dir, env, model)
                if why:
                    notes.append(f"{name}: skipped, {why}")
                    continue
        except SystemExit as e:
            notes.append(f"{name}: FAILED: {str(e).strip().splitlines()[-1] if str(e).strip() else e}")
            continue
        r["key"] = key
        with open(stamp, "w") as fh:
            json.dump(r, fh, indent=1)
        runs[name] = r
        print(f"{name}: {r['wall']:.1f} s, {r['rss']:.0f} MiB", file=sys.stderr)

    builds = sorted({r["key"]["bin_mtime"] for r in runs.values() if r.get("key", {}).get("bin_mtime")})
    if len(builds) > 1:
        notes.append(f"ours: the variants come from {len(builds)} different builds of {BIN} (it was rebuilt "
                     "during or between runs; see bin_mtime in each run.json): rerun without --reuse to compare "
                     "one build")

    # ---- evaluation: image by image (the ground truth is loaded once per image) -------------------
    rows = []
    t_eval = time.time()
    for n in names:
        g16 = cv2.imread(os.path.join(args.data, "alpha", n + ".png"), cv2.IMREAD_UNCHANGED)
        g = g16.astype(np.float64) / 65535
        f_gt = read_rgb(os.path.join(args.data, "fg", n + ".png"))
        new_bg = read_rgb(os.path.join(args.data, "newbg", n + ".png"))
        band = metrics.soft_band(g)
        for name, r in runs.items():
            if "files" not in r:  # the ground truth through u8
                a, f = np.round(g * 255) / 255, f_gt
            else:
                f, a = read_rgba(r["files"][n])
                if a.shape != g.shape:
                    raise SystemExit(f"{name}: {n}: output {a.shape} vs ground truth {g.shape}")
                if f is None:
                    f = read_rgb(os.path.join(img_dir, n + ".png"))
            m = metrics.all_metrics(a, g, f, f_gt, new_bg, band)
            rows.append({"variant": name, "image": n, "kind": kinds[n], **m})
        print(f"evaluated {n}", file=sys.stderr)
    t_eval = time.time() - t_eval

    # ---- report --------------------------------------------------------------------------------------
    lines = [f"Ground-truth matting set: {len(names)} composites from make_dataset.py (seed {args.seed}), "
             f"{sum(s['width'] * s['height'] for s in manifest['samples']) / 1e6 / len(names):.2f} MP on average; "
             f"metrics over the whole image, means over the images (lower is better); "
             f"SAD, Grad, Conn /1000; band = soft pixels of the ground truth dilated by {metrics.BAND_RADIUS} px; "
             f"recomp = mean abs error (0..255) of the cutout over a new background.", ""]
    hdr = ["variant", *[h for _, h, _ in METRICS], "s/img wall", "s/img in-proc", "peak MiB"]
    tab = []
    for name, r in runs.items():
        mine = [x for x in rows if x["variant"] == name]
        vals = [fmt(float(np.mean([x[k] for x in mine])) * s, k) for k, _, s in METRICS]
        if "wall" in r:
            t = [f"{r['wall'] / r['n']:.2f}", f"{r['inproc']:.2f}", f"{r['rss']:.0f}"]
        else:
            t = ["–", "–", "–"]
        tab.append([name, *vals, *t])
    lines += md_table(tab, hdr)
    kind_list = sorted(set(kinds.values()))
    lines += ["", "SAD in the band / recomp in the band, by kind of image:", ""]
    tab2 = []
    for name in runs:
        row = [name]
        for kd in kind_list:
            mine = [x for x in rows if x["variant"] == name and x["kind"] == kd]
            row.append(f"{np.mean([x['sad_band'] for x in mine]):.2f} / {np.mean([x['recomp_band'] for x in mine]):.2f}")
        tab2.append(row)
    lines += md_table(tab2, ["variant", *[f"{kd} ({sum(1 for v in kinds.values() if v == kd)})" for kd in kind_list]])
    if notes:
        lines += ["", "Notes:", ""] + [f"- {x}" for x in notes]
    lines += ["", f"Evaluation took {t_eval:.0f} s."]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    with open(args.results + ".md", "w") as fh:
        fh.write(text)
    with open(args.results + ".csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()) if rows else ["variant"])
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {args.results}.md and .csv", file=sys.stderr)


def md_table(rows, header):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        table(rows, header)
    return buf.getvalue().splitlines()


if __name__ == "__main__":
    main()
