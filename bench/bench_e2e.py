"""End to end: `rmbg-ultra remove` against the Python reference pipeline of the node, one process
each for the whole batch of shared photos, same ONNX model, same machine, one run.

    .venv-ref/bin/python bench/bench_e2e.py [--methods GuidedFilter,none,PyMatting]
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from common import BIN, PY, ROOT, measure, model_path, photos, table  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", default="GuidedFilter,none")
    args = ap.parse_args()
    imgs = photos()
    model = model_path()
    rows = []
    for method in args.methods.split(","):
        opts = ["--no-detail"] if method == "none" else ["--method", method]
        with tempfile.TemporaryDirectory() as tmp:
            ours = measure([BIN, "remove", "--profile", "node", "--quiet", "--save-mask", "--overwrite", "-o", os.path.join(tmp, "ours"), *opts, *imgs])
            ref = measure([PY, os.path.join(ROOT, "reference", "node_reference.py"), "--save-rgba",
                           "-o", os.path.join(tmp, "ref"), "--seg-model", model, *opts, *imgs])
        rows.append([method, len(imgs), f"{ours[0]:.2f}", f"{ref[0]:.2f}", f"{ref[0] / ours[0]:.2f}x",
                     f"{ours[1]:.0f}", f"{ref[1]:.0f}", f"{ours[1] / ref[1]:.2f}"])
    table(rows, ["method", "photos", "ours s", "reference s", "speed-up", "ours peak MiB", "reference peak MiB", "memory ratio"])


if __name__ == "__main__":
    main()
