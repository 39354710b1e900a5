"""Benchmark: our guided filter vs cv2.ximgproc.guidedFilter, side by side, in one run.

Run with the reference venv's Python after building the example in release mode:

    cargo build --release -p rmbg-ultra --example bench_guided_filter
    .venv-ref/bin/python bench/bench_guided_filter.py [--photo testdata/photos/animal.jpg] [--iters 5]

Inputs: a shared photo as is (~1.5 MP) and resized to ~4 MP (Pillow bicubic, aspect kept), with a
binary mask (Pillow `convert('L') > 110`), radius 5 (the node's default) and 20, eps 0.015.

- ours: `target/release/examples/bench_guided_filter` on the PNG files (u8 image + mask, as the
  node's data arrive), median seconds per call and the peak RSS of that process;
- OpenCV: a separate Python process per size (so its RSS is its own), timing
  `cv2.ximgproc.guidedFilter(i, m3, r, eps)` exactly as the node calls it (f32 guide, the mask
  repeated in 3 channels) and, for reference, with a single-channel mask. Its peak RSS is
  reported together with the RSS just before the first call (interpreter + numpy + cv2 + inputs).

The ratio is OpenCV seconds / our seconds (higher = we are faster). Each configuration is run
`--rounds` times, alternating the two sides, and each timing column keeps its best round, so that a
burst of other work on the machine does not decide the result.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

OPENCV_CHILD = r"""
import json, resource, sys, time
import cv2, numpy as np
from PIL import Image
img_path, mask_path, iters = sys.argv[1], sys.argv[2], int(sys.argv[3])
radii = [int(r) for r in sys.argv[4].split(',')]
eps = float(sys.argv[5])
i = np.asarray(Image.open(img_path).convert('RGB')).astype(np.float32) / 255.0
m = np.asarray(Image.open(mask_path).convert('L')).astype(np.float32) / 255.0
m3 = np.ascontiguousarray(np.dstack([m, m, m]))
sys.path.insert(0, sys.argv[6])
from common import status_kb
before = status_kb('VmRSS:')
out = {'threads': cv2.getNumThreads(), 'rss_before_kb': before, 'runs': {}}
for r in radii:
    res = {}
    for name, src in (('3ch', m3), ('1ch', m)):
        cv2.ximgproc.guidedFilter(i, src, r, eps)  # warm-up
        ts = []
        for _ in range(iters):
            t = time.perf_counter()
            q = cv2.ximgproc.guidedFilter(i, src, r, eps)
            ts.append(time.perf_counter() - t)
            del q
        ts.sort()
        res[name] = {'seconds': ts[len(ts) // 2], 'min_seconds': ts[0]}
    out['runs'][str(r)] = res
out['peak_rss_kb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photo", default=str(ROOT / "testdata/photos/animal.jpg"))
    ap.add_argument("--bin", default=str(ROOT / "target/release/examples/bench_guided_filter"))
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="repeat the comparison; keep each column's best round")
    ap.add_argument("--radii", default="5,20")
    ap.add_argument("--eps", type=float, default=0.015)
    ap.add_argument("--megapixels", default="native,4", help="comma list: 'native' and/or target megapixels")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    from PIL import Image

    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} missing: cargo build --release -p rmbg-ultra --example bench_guided_filter")
    photo = Image.open(args.photo).convert("RGB")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for mp in args.megapixels.split(","):
            if mp == "native":
                img = photo
            else:
                s = (float(mp) * 1e6 / (photo.width * photo.height)) ** 0.5
                img = photo.resize((round(photo.width * s), round(photo.height * s)), Image.BICUBIC)
            mask = img.convert("L").point(lambda v: 255 if v > 110 else 0)
            ip, mp_path = Path(tmp) / f"img_{mp}.png", Path(tmp) / f"mask_{mp}.png"
            img.save(ip)
            mask.save(mp_path)
            best = {}
            for _ in range(args.rounds):
                cv = subprocess.run(
                    [sys.executable, "-c", OPENCV_CHILD, str(ip), str(mp_path), str(args.iters), args.radii, str(args.eps),
                     str(ROOT / "bench")],
                    check=True, capture_output=True, text=True,
                )
                cvj = json.loads(cv.stdout.strip().splitlines()[-1])
                for r in args.radii.split(","):
                    ours = subprocess.run(
                        [args.bin, "--image", str(ip), "--mask", str(mp_path), "--radius", r, "--eps", str(args.eps), "--iters", str(args.iters)],
                        check=True, capture_output=True, text=True,
                    )
                    oj = json.loads(ours.stdout.strip().splitlines()[-1])
                    c = cvj["runs"][r]
                    x = {
                        "size": f"{img.width}x{img.height}",
                        "megapixels": round(img.width * img.height / 1e6, 2),
                        "radius": int(r),
                        "eps": args.eps,
                        "ours_seconds": oj["seconds"],
                        "ours_min_seconds": oj["min_seconds"],
                        "ours_cpu_seconds": oj.get("cpu_seconds"),
                        "ours_peak_rss_kb": oj["peak_rss_kb"],
                        "ours_threads": oj["threads"],
                        "opencv_seconds": c["3ch"]["seconds"],
                        "opencv_min_seconds": c["3ch"]["min_seconds"],
                        "opencv_1ch_seconds": c["1ch"]["seconds"],
                        "opencv_1ch_min_seconds": c["1ch"]["min_seconds"],
                        "opencv_peak_rss_kb": cvj["peak_rss_kb"],
                        "opencv_rss_before_kb": cvj["rss_before_kb"],
                        "opencv_threads": cvj["threads"],
                    }
                    # Keep, per column, the best round: the machine may be busy with other work.
                    b = best.setdefault(r, x)
                    for k, v in x.items():
                        if k.endswith("seconds") and v is not None and (b[k] is None or v < b[k]):
                            b[k] = v
            for x in best.values():
                x["ratio"] = x["opencv_seconds"] / x["ours_seconds"]
                x["ratio_1ch"] = x["opencv_1ch_seconds"] / x["ours_seconds"]
                x["ratio_min"] = x["opencv_min_seconds"] / x["ours_min_seconds"]
                results.append(x)

    print(f"guided filter, eps {args.eps}: median of {args.iters} calls, best of {args.rounds} rounds; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    hdr = (f"{'size':>10} {'MP':>5} {'r':>3} | {'ours s':>7} {'min':>7} {'RSS MB':>7} | {'cv2 s':>7} {'min':>7} {'1ch s':>7} "
           f"{'RSS MB':>7} {'(base)':>7} | {'ratio':>6} {'min':>6} {'1ch':>6}")
    print(hdr)
    print("-" * len(hdr))
    for x in results:
        print(
            f"{x['size']:>10} {x['megapixels']:>5} {x['radius']:>3} | {x['ours_seconds']:>7.4f} {x['ours_min_seconds']:>7.4f} "
            f"{x['ours_peak_rss_kb'] / 1024:>7.1f} | {x['opencv_seconds']:>7.4f} {x['opencv_min_seconds']:>7.4f} "
            f"{x['opencv_1ch_seconds']:>7.4f} {x['opencv_peak_rss_kb'] / 1024:>7.1f} {x['opencv_rss_before_kb'] / 1024:>7.1f} | "
            f"{x['ratio']:>6.2f} {x['ratio_min']:>6.2f} {x['ratio_1ch']:>6.2f}"
        )
    print("ratio = cv2 median seconds (the node's call: 3-channel mask) / our median; min = the same with the fastest calls;")
    print("1ch = cv2 with a single-channel mask / ours. RSS = peak of each process; (base) = cv2 process before its first call.")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
