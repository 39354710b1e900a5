"""Matting metrics (numpy/scipy only). Alphas are float64 in 0..1, images/foregrounds float64 0..1.

Over the WHOLE image (there is no trimap here; the band metrics below stand in for the unknown
region of the matting literature):
    sad       sum |a - g| / 1000
    mse       mean (a - g)^2 (reported x1e3 by the runner)
    grad      Rhemann et al. 2009 gradient error as in the DIM evaluation code: gradient magnitude
              with first-order Gaussian-derivative filters (sigma 1.4, kernel normalised to unit
              L2 norm, replicate border), sum of squared differences / 1000
    conn      Rhemann et al. 2009 connectivity error as in the DIM code: thresholds 0, 0.1, .., 1,
              largest 4-connected component of (a >= t) & (g >= t), theta 0.15, sum |phi_a - phi_g| / 1000
    sad_band  SAD in the soft band: pixels with 0 < g < 1, dilated by BAND_RADIUS px, / 1000
    recomp / recomp_band
              mean abs difference on 0..255 between the cutout (F_tool, a) and the ground truth
              (F_gt, g) both composited over the same NEW background, everywhere / in the band

    .venv-ref/bin/python bench/quality/metrics.py --selftest
"""

import sys

import numpy as np
from scipy import ndimage

BAND_RADIUS = 5


def sad(a, g):
    return float(np.abs(a - g).sum() / 1000)


def mse(a, g):
    return float(((a - g) ** 2).mean())


def _gauss_kernels(sigma=1.4, eps=1e-2):
    half = int(np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * eps))))
    x = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-x ** 2 / (2 * sigma ** 2)) / (sigma * np.sqrt(2 * np.pi))
    dgauss = -x * gauss / sigma ** 2
    hx = gauss[:, None] * dgauss[None, :]  # rows: gauss(i), columns: dgauss(j)
    hx /= np.sqrt((hx ** 2).sum())
    return hx, hx.T


def grad_magnitude(a, sigma=1.4):
    hx, hy = _gauss_kernels(sigma)
    gx = ndimage.convolve(a, hx, mode="nearest")
    gy = ndimage.convolve(a, hy, mode="nearest")
    return np.sqrt(gx ** 2 + gy ** 2)


def grad_error(a, g, sigma=1.4):
    return float(((grad_magnitude(a, sigma) - grad_magnitude(g, sigma)) ** 2).sum() / 1000)


def conn_error(a, g, step=0.1, theta=0.15):
    steps = np.round(np.arange(0, 1 + step / 2, step), 10)
    l_map = np.full(a.shape, -1.0)
    four = ndimage.generate_binary_structure(2, 1)
    for i in range(1, len(steps)):
        both = (a >= steps[i]) & (g >= steps[i])
        lab, n = ndimage.label(both, structure=four)
        omega = np.zeros(a.shape, bool)
        if n:
            sizes = np.bincount(lab.ravel())
            sizes[0] = 0
            omega = lab == sizes.argmax()
        flag = (l_map == -1) & ~omega
        l_map[flag] = steps[i - 1]
    l_map[l_map == -1] = 1
    da, dg = a - l_map, g - l_map
    phi_a = 1 - da * (da >= theta)
    phi_g = 1 - dg * (dg >= theta)
    return float(np.abs(phi_a - phi_g).sum() / 1000)


def soft_band(g, radius=BAND_RADIUS):
    soft = (g > 0) & (g < 1)
    if radius <= 0:
        return soft
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return ndimage.binary_dilation(soft, structure=(xx ** 2 + yy ** 2) <= radius ** 2)


def composite(f, a, b):
    return a[..., None] * f + (1 - a[..., None]) * b


def all_metrics(a, g, f_tool=None, f_gt=None, new_bg=None, band=None):
    """Every metric of one prediction; f_tool/f_gt/new_bg (H, W, 3) 0..1 for the recomposite."""
    if band is None:
        band = soft_band(g)
    m = {"sad": sad(a, g), "mse": mse(a, g), "grad": grad_error(a, g), "conn": conn_error(a, g),
         "sad_band": float(np.abs(a - g)[band].sum() / 1000)}
    if f_tool is not None:
        diff = np.abs(composite(f_tool, a, new_bg) - composite(f_gt, g, new_bg)) * 255
        m["recomp"] = float(diff.mean())
        m["recomp_band"] = float(diff[band].mean()) if band.any() else 0.0
    return m


def selftest():
    rng = np.random.default_rng(0)
    h, w = 64, 80
    yy, xx = np.mgrid[0:h, 0:w]
    g = np.clip((20 - np.hypot(yy - 32, xx - 40)) / 4, 0, 1)  # a disc with a 4 px soft ramp
    f = rng.random((h, w, 3))
    b = rng.random((h, w, 3))
    m = all_metrics(g, g, f, f, b)
    assert all(v == 0 for v in m.values()), m
    # a hard square shifted by one column: SAD = 2 * height of the square (one column gained, one lost)
    sq = np.zeros((h, w))
    sq[10:40, 10:40] = 1
    sh = np.roll(sq, 1, axis=1)
    assert abs(sad(sh, sq) - 60 / 1000) < 1e-12, sad(sh, sq)
    assert abs(mse(sh, sq) - 60 / (h * w)) < 1e-12
    assert grad_error(sh, sq) > 0 and conn_error(sh, sq) > 0
    # constant offset: SAD = offset * pixels; gradient error 0 (no gradient changes in the interior,
    # and replicate borders); connectivity symmetric
    g2 = np.full((h, w), 0.5)
    assert abs(sad(g2 + 0.1, g2) - 0.1 * h * w / 1000) < 1e-9
    assert grad_error(g2 + 0.1, g2) < 1e-20
    assert abs(conn_error(sq, g) - conn_error(g, sq)) < 1e-12
    # the Gaussian-derivative kernel: sigma 1.4, eps 0.01 give a 9x9 kernel (half size 4) of unit L2 norm,
    # odd in x and even in y; a unit ramp has gradient magnitude constant in the interior
    hx, hy = _gauss_kernels()
    assert hx.shape == (9, 9) and abs((hx ** 2).sum() - 1) < 1e-12
    assert np.allclose(hx, -hx[:, ::-1]) and np.allclose(hx, hx[::-1, :]) and np.allclose(hy, hx.T)
    ramp = np.tile(np.arange(w, dtype=np.float64) / w, (h, 1))
    gm = grad_magnitude(ramp)[10:-10, 10:-10]
    assert gm.std() < 1e-12 and gm.mean() > 0
    # connectivity: a prediction that misses a detached soft island is penalised, an identical one not
    g3 = sq.copy()
    g3[50:55, 60:70] = 0.6
    assert conn_error(sq, g3) > 0 and conn_error(g3, g3) == 0
    # band: the soft ring of the disc, dilated by BAND_RADIUS
    band = soft_band(g)
    ring = (g > 0) & (g < 1)
    assert band[ring].all() and band.sum() > ring.sum()
    assert not band[32, 40] and not band[0, 0]
    # recomposite: a foreground off by 0.1 everywhere on a fully opaque alpha -> 25.5 on 0..255;
    # alpha 0 -> no error whatever the foreground
    one = np.ones((h, w))
    r = all_metrics(one, one, np.clip(f + 0.1, 0, 1.1), f, b)
    assert abs(r["recomp"] - 25.5) < 1e-9, r
    r0 = all_metrics(np.zeros((h, w)), np.zeros((h, w)), f, b, b)
    assert r0["recomp"] == 0
    # u8 quantisation of the ground truth: SAD at most 0.5/255 per pixel
    q = np.round(g * 255) / 255
    assert sad(q, g) <= 0.5 / 255 * h * w / 1000 + 1e-12
    print("metrics selftest: 11 checks passed")


if __name__ == "__main__":
    if "--selftest" in sys.argv:
        selftest()
    else:
        print(__doc__)
