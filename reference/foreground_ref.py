"""Reference side of tests/parity_foreground.rs and of examples/bench_foreground.rs.

Usage: foreground_ref.py DIR
    DIR/cases.txt has one case per line:
      `name ml`            pymatting.estimate_foreground_ml(image, alpha) with its defaults
      `name blur R1 R2`    blur_fusion below, radii R1 then R2
    reading DIR/name.image.npy (H x W x 3, float32) and DIR/name.alpha.npy (H x W, float32) and
    writing DIR/name.out.npy (H x W x 3: float32 for ml, float64 for blur).

Usage: foreground_ref.py --bench IMAGE.npy ALPHA.npy ITERS
    times pymatting.estimate_foreground_ml warm (numba compiled by a first call) and prints one
    JSON line {"seconds": median, "min_seconds", "runs", "numba_threads", "peak_rss_kb"}.

Blur-fusion (Forte & Pitie, ICIP 2021) as rmbg_ultra::foreground::blur_fusion states it: a box of
radius r is the (2r+1)^2 square centred on the pixel, clipped to the image, and the mean is over
the pixels inside; horizontal then vertical, each from float64 cumulative sums.
"""

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

EPS = 1e-5


def box_mean_1d(a: np.ndarray, r: int, axis: int) -> np.ndarray:
    n = a.shape[axis]
    a = np.moveaxis(a, axis, 0)
    prefix = np.concatenate([np.zeros((1,) + a.shape[1:]), np.cumsum(a, axis=0)], axis=0)
    i = np.arange(n)
    lo = np.maximum(i - r, 0)
    hi = np.minimum(i + r + 1, n)
    count = (hi - lo).astype(np.float64).reshape((n,) + (1,) * (a.ndim - 1))
    return np.moveaxis((prefix[hi] - prefix[lo]) / count, 0, axis)


def box_mean(a: np.ndarray, r: int) -> np.ndarray:
    return box_mean_1d(box_mean_1d(a, r, 1), r, 0)


def blur_fusion_pass(image, f, b, alpha, r):
    """One pass: F_hat, B_hat as alpha- and (1 - alpha)-weighted box means, then one step along
    I = alpha F + (1 - alpha) B."""
    a = alpha[:, :, None]
    mean_alpha = box_mean(a, r)
    f_hat = box_mean(a * f, r) / (mean_alpha + EPS)
    b_hat = box_mean((1.0 - a) * b, r) / ((1.0 - mean_alpha) + EPS)
    f_new = f_hat + a * (image - a * f_hat - (1.0 - a) * b_hat)
    return np.clip(f_new, 0.0, 1.0), b_hat


def blur_fusion(image, alpha, r1, r2):
    image = image.astype(np.float64)
    alpha = alpha.astype(np.float64)
    f, b = blur_fusion_pass(image, image, image, alpha, r1)
    return blur_fusion_pass(image, f, b, alpha, r2)[0]


def run_cases(d: Path) -> None:
    from pymatting import estimate_foreground_ml

    for line in (d / "cases.txt").read_text().splitlines():
        if not line.strip():
            continue
        name, kind, *params = line.split()
        image = np.load(d / f"{name}.image.npy")
        alpha = np.load(d / f"{name}.alpha.npy")
        assert image.dtype == np.float32 and alpha.dtype == np.float32, (image.dtype, alpha.dtype)
        assert image.ndim == 3 and image.shape[2] == 3 and alpha.shape == image.shape[:2], (image.shape, alpha.shape)
        if kind == "ml":
            out = np.asarray(estimate_foreground_ml(image, alpha), dtype=np.float32)
        elif kind == "blur":
            out = blur_fusion(image, alpha, int(params[0]), int(params[1]))
        else:
            raise SystemExit(f"unknown case kind {kind}")
        np.save(d / f"{name}.out.npy", np.ascontiguousarray(out))
    print("ok")


def bench(image_path: str, alpha_path: str, iters: int) -> None:
    import numba
    from pymatting import estimate_foreground_ml

    image = np.load(image_path)
    alpha = np.load(alpha_path)
    estimate_foreground_ml(image, alpha)  # compile (or load numba's cache) and warm up
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        estimate_foreground_ml(image, alpha)
        times.append(time.perf_counter() - t)
    times.sort()
    print(json.dumps({
        "seconds": times[len(times) // 2],
        "min_seconds": times[0],
        "runs": iters,
        "numba_threads": numba.get_num_threads(),
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }))


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--bench":
        bench(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 2:
        run_cases(Path(sys.argv[1]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
