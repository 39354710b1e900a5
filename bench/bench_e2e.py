"""End to end: `rmbg-ultra remove` against the Python reference pipeline of the node and against
rembg 2.0.86, one process each for the whole batch of shared photos, same ONNX model, same machine,
one run.

    scripts/pyref-venv.sh && scripts/rembg-venv.sh          # rembg is optional: its rows skip without it
    target/release/rmbg-ultra models fetch isnet-general-int8  # for the --fast rows (made once, minutes)
    .venv-ref/bin/python bench/bench_e2e.py [--methods GuidedFilter,none,PyMatting] [--repeat 1]

Rows per method: our `node` profile, our `quality` profile (fp32 model) and `--fast` (quality on the
int8 model), each against the node's reference (speed-up = reference seconds / ours, memory ratio =
ours / reference peak RSS); rembg is one row (its plain cutout, the same model file through its
`dis_custom` session) that every `quality`/`--fast` row is also compared with. `--repeat N` lists
every photo N times (a longer batch, in which our overlapped stages matter more).
"""

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from common import BIN, PY, ROOT, measure, model_path, photos, table  # noqa: E402

REMBG_PY = os.path.join(ROOT, ".venv-rembg", "bin", "python")
REMBG_RUN = os.path.join(ROOT, "bench", "quality", "rembg_run.py")


def int8_installed():
    import subprocess
    r = subprocess.run([BIN, "models", "path", "isnet-general-int8"], capture_output=True, text=True)
    return r.returncode == 0 and os.path.isfile(r.stdout.strip())


def run_rembg(imgs, tmp):
    """(seconds, peak MiB) of rembg's plain cutout, or None without .venv-rembg."""
    if not os.path.exists(REMBG_PY):
        return None
    home = os.path.join(tmp, "rembg-home")
    os.makedirs(home)
    src = model_path("isnet-general")
    dst = os.path.join(home, os.path.basename(src))
    shutil.copyfile(src, dst)
    env = dict(os.environ, U2NET_HOME=home)
    measure([REMBG_PY, REMBG_RUN, "--warmup"], env=env)
    return measure([REMBG_PY, REMBG_RUN, "--model", dst, "-o", os.path.join(tmp, "rembg"), *imgs], env=env)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", default="GuidedFilter,none")
    ap.add_argument("--repeat", type=int, default=1, help="list every photo this many times")
    args = ap.parse_args()
    base = photos()
    model = model_path()
    fast = int8_installed()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # Repeated photos need distinct names: our CLI refuses two inputs with one output name.
        imgs = []
        for i in range(args.repeat):
            for p in base:
                if args.repeat == 1:
                    imgs.append(p)
                    continue
                link = os.path.join(tmp, "in", f"{i:03d}-{os.path.basename(p)}")
                os.makedirs(os.path.dirname(link), exist_ok=True)
                os.symlink(p, link)
                imgs.append(link)
        rembg = run_rembg(imgs, tmp)
        if rembg:
            rows.append(["rembg plain", "-", len(imgs), f"{rembg[0]:.2f}", f"{rembg[1]:.0f}", "", "", "1.00x"])
        for method in args.methods.split(","):
            opts = ["--no-detail"] if method == "none" else ["--method", method]
            ref = measure([PY, os.path.join(ROOT, "reference", "node_reference.py"), "--save-rgba",
                           "-o", os.path.join(tmp, f"ref-{method}"), "--seg-model", model, *opts, *imgs])
            rows.append(["node reference (Python)", method, len(imgs), f"{ref[0]:.2f}", f"{ref[1]:.0f}", "1.00x", "1.00", ""])
            variants = [("ours --profile node", ["--profile", "node"]), ("ours --profile quality", ["--profile", "quality"])]
            if fast:
                variants.append(("ours --fast", ["--fast"]))
            for name, flags in variants:
                out = os.path.join(tmp, f"{name.split()[-1]}-{method}")
                ours = measure([BIN, "remove", *flags, "--quiet", "--save-mask", "--overwrite", "-o", out, *opts, *imgs])
                vs_rembg = f"{rembg[0] / ours[0]:.2f}x" if rembg and "node" not in name else ""
                rows.append([name, method, len(imgs), f"{ours[0]:.2f}", f"{ours[1]:.0f}", f"{ref[0] / ours[0]:.2f}x",
                             f"{ours[1] / ref[1]:.2f}", vs_rembg])
    table(rows, ["variant", "method", "images", "seconds", "peak MiB", "speed-up vs node", "memory vs node", "speed-up vs rembg"])
    if not fast:
        print("\n--fast rows skipped: run `target/release/rmbg-ultra models fetch isnet-general-int8` first")
    if not rembg:
        print("rembg row skipped: run scripts/rembg-venv.sh first")


if __name__ == "__main__":
    main()
