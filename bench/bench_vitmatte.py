"""Benchmark: the ViTMatte stage, ours (ONNX Runtime via the `ort` crate) against transformers
(PyTorch, CPU), on the same inputs, in one run. Not a test.

    .venv-vitmatte/bin/python scripts/make-tiny-vitmatte.py --size small --out /tmp/vitmatte-small-random
    cargo build --release -p rmbg-ultra --example bench_vitmatte
    ORT_DYLIB_PATH=/path/to/libonnxruntime.so.1.32.0 \
        .venv-vitmatte/bin/python bench/bench_vitmatte.py --model /tmp/vitmatte-small-random

The model is a random-weight ViTMatte of the real small size (hidden 384, 12 layers, 25.8 M
parameters: the speed and memory of the real one, not its output). Inputs: a synthetic picture at
1 MP (1024x1024) and 2 MP (1448x1448, just under the node's default max_megapixels 2.0, so nothing
is resized), with an elliptic trimap (0 / 127 / 255).

Both sides run the whole stage as the node does (size limit, VitMatteImageProcessor, model, crop,
u8, resize back), each in its own process so its peak RSS (wait4 ru_maxrss) is its own:
- ours: target/release/examples/bench_vitmatte (model loaded once, then timed calls);
- transformers: VitMatteForImageMatting.from_pretrained + VitMatteImageProcessorPil (the numpy
  processor the node's transformers 4.x used), under torch.no_grad().
Reported: model load, the first call, the median wall and CPU time (user + sys, all threads) of
the timed calls, peak RSS, and the ratio transformers / ours (higher = we are faster). On a busy
machine trust the CPU times more than the wall times. The node also reloads the model for every frame.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "examples" / "bench_vitmatte"
sys.path.insert(0, str(ROOT / "reference"))
sys.path.insert(0, str(ROOT / "bench"))
import vitmatte_ref  # noqa: E402 - the synthetic inputs, shared with scripts/make-tiny-vitmatte.py
from common import measure  # noqa: E402


def synthetic_case(width: int, height: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([
        128 + 100 * np.sin(xx / 23.0) * np.cos(yy / 17.0),
        255 * xx / (width - 1),
        255 * yy / (height - 1),
    ], axis=-1)
    r = np.sqrt(((xx - 0.5 * width) / (0.3 * width)) ** 2 + ((yy - 0.5 * height) / (0.35 * height)) ** 2)
    return vitmatte_ref.ellipse_case(img, r, rng, unknown_below=1.08, foreground_below=0.92)


WORKER = r"""
import json, sys, time
import numpy as np, torch
from PIL import Image
sys.path.insert(0, sys.argv[4])
sys.path.insert(0, sys.argv[5])
from common import status_kb
import vitmatte_ref as ref
from transformers import VitMatteForImageMatting
from transformers.models.vitmatte.image_processing_pil_vitmatte import VitMatteImageProcessorPil
hf, case, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
img = Image.fromarray(np.load(case + '/image.npy'))
tri = Image.fromarray(np.load(case + '/trimap.npy'))
t = time.perf_counter()
model = VitMatteForImageMatting.from_pretrained(hf).eval()
processor = VitMatteImageProcessorPil.from_pretrained(hf)
load = time.perf_counter() - t
rss_loaded = status_kb('VmRSS:')
def stage():
    # generate_VITMatte without the model reload: processor, model, crop, u8, resize back.
    image, trimap = img, tri
    size = ref.target_size(image.width, image.height, 2.0)
    if size is not None:
        image, trimap = image.resize(size, Image.BILINEAR), trimap.resize(size, Image.BILINEAR)
    inputs = processor(images=image, trimaps=trimap, return_tensors='pt')
    with torch.no_grad():
        alphas = model(**inputs).alphas
    mask = Image.fromarray(ref.tensor2pil_u8(alphas.squeeze().numpy())).crop((0, 0, image.width, image.height))
    if size is not None:
        mask = mask.resize(img.size, Image.BILINEAR)
    return np.asarray(mask)
t = time.perf_counter(); out = stage(); first = time.perf_counter() - t
ts, cpu = [], []
for _ in range(runs):
    t, c = time.perf_counter(), time.process_time(); stage(); ts.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
ts.sort(); cpu.sort()
np.save(case + '/torch.npy', out)
print(json.dumps({'load_seconds': load, 'first_seconds': first, 'seconds': ts[len(ts) // 2] if ts else first,
                  'min_seconds': ts[0] if ts else first, 'cpu_seconds': cpu[len(cpu) // 2] if cpu else None, 'runs': runs, 'threads': torch.get_num_threads(),
                  'rss_after_load_kb': rss_loaded, 'torch': torch.__version__}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="folder from make-tiny-vitmatte.py --size small")
    ap.add_argument("--sizes", default="1024x1024,1448x1448")
    ap.add_argument("--runs", type=int, default=2, help="timed calls after the first")
    args = ap.parse_args()
    if not BIN.exists():
        raise SystemExit(f"{BIN} missing: cargo build --release -p rmbg-ultra --example bench_vitmatte")
    if "ORT_DYLIB_PATH" not in os.environ:
        print("note: ORT_DYLIB_PATH not set; the example looks for the runtime in the rmbg-ultra cache", file=sys.stderr)
    onnx, hf = args.model / "model.onnx", args.model / "hf"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            w, h = map(int, size.split("x"))
            case = Path(tmp) / size
            case.mkdir()
            img, tri = synthetic_case(w, h)
            np.save(case / "image.npy", img)
            np.save(case / "trimap.npy", tri)
            wall_o, rss_o, out_o = measure([str(BIN), str(onnx), str(case), "--runs", str(args.runs)])
            ours = json.loads(out_o.strip().splitlines()[-1])
            wall_t, rss_t, out_t = measure([sys.executable, "-c", WORKER, str(hf), str(case), str(args.runs), str(ROOT / "reference"),
                                             str(ROOT / "bench")])
            theirs = json.loads(out_t.strip().splitlines()[-1])
            a, b = np.load(case / "ours.npy"), np.load(case / "torch.npy")
            agree = float(np.mean(a == b))
            mp = w * h / 2**20
            print(f"{size} ({mp:.2f} MP): ours {json.dumps(ours)}\n    transformers {json.dumps(theirs)}\n"
                  f"    process wall: ours {wall_o:.1f} s, transformers {wall_t:.1f} s; u8 alphas equal on {100 * agree:.2f}% "
                  f"(random weights amplify f32 rounding)", file=sys.stderr)
            rows.append((f"{size} ({mp:.2f} MP)", "ours (ort)", ours["load_seconds"], ours["first_seconds"], ours["seconds"],
                         ours["cpu_seconds"], rss_o, ""))
            rows.append(("", f"transformers {theirs['torch']} ({theirs['threads']} thr)", theirs["load_seconds"],
                         theirs["first_seconds"], theirs["seconds"], theirs["cpu_seconds"], rss_t, ""))
            rows.append(("", "ratio transformers/ours", theirs["load_seconds"] / ours["load_seconds"],
                         theirs["first_seconds"] / ours["first_seconds"], theirs["seconds"] / ours["seconds"],
                         theirs["cpu_seconds"] / ours["cpu_seconds"], rss_t / rss_o, ""))
    print(f"load average before the last run: {os.getloadavg()}", file=sys.stderr)
    header = ("input", "implementation", "load s", "first call s", "median call s", "median CPU s", "peak RSS MiB", "")
    fmt = lambda v: f"{v:.2f}" if isinstance(v, float) else str(v)
    widths = [max(len(fmt(r[i])) for r in rows + [header]) for i in range(len(header) - 1)]
    line = lambda r: "| " + " | ".join(fmt(c).ljust(wd) for c, wd in zip(r, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (wd + 2) for wd in widths) + "|")
    for r in rows:
        print(line(r))


if __name__ == "__main__":
    main()
