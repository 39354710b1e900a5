"""A Python reference pipeline of the ComfyUI node "LayerMask: RmBgUltra V2".

Written from docs/node-behaviour.md with the libraries the node itself uses (Pillow, numpy, OpenCV
contrib, pymatting), with ONNX Runtime running the same ONNX files our Rust code runs (the node
runs RMBG in torch; the graph and its numbers are the same). Used by the end-to-end parity tests
and as the baseline of the benchmarks.

    python node_reference.py --seg-model M.onnx --method GuidedFilter -o OUT a.jpg b.jpg ...

writes OUT/<stem>.mask.png (the node's MASK output as u8) for every input and prints one JSON line
with seconds per stage and the peak RSS.
"""

import argparse
import json
import math
import os
import resource
import sys
import time

import numpy as np
from PIL import Image, ImageOps

METHODS = ["VITMatte", "VITMatte(local)", "vitmatte-base-composition-1k", "PyMatting", "GuidedFilter"]


# --- conversions (docs/node-behaviour.md §3) -------------------------------------------------------

def tensor2pil_array(t):
    """`tensor2pil`: clip(255·t) in f32, truncated to u8."""
    return np.clip(255.0 * np.asarray(t, dtype=np.float32), 0, 255).astype(np.uint8)


def pil2tensor_array(a):
    return np.asarray(a).astype(np.float32) / 255.0


def histogram_remap(x, black_point, white_point):
    bp = min(black_point, white_point - 0.001)
    scale = 1 / (white_point - bp)
    return np.clip((x - bp) * scale, 0.0, 1.0)


# --- RMBG stage (§4) -----------------------------------------------------------------------------

def torch_bilinear(src, out_h, out_w):
    """F.interpolate(mode='bilinear', align_corners=False, antialias=False) on a 2-D f32 map."""
    src = np.asarray(src, dtype=np.float32)
    in_h, in_w = src.shape

    def axis(n_in, n_out):
        scale = np.float32(n_in / n_out)
        real = scale * (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
        real = np.maximum(real, np.float32(0))
        i0 = np.minimum(np.floor(real).astype(np.int64), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        l1 = np.clip(real - i0.astype(np.float32), 0, 1).astype(np.float32)
        return i0, i1, (np.float32(1) - l1).astype(np.float32), l1

    y0, y1, hy0, hy1 = axis(in_h, out_h)
    x0, x1, wx0, wx1 = axis(in_w, out_w)
    rows0 = src[y0]
    rows1 = src[y1]
    top = wx0 * rows0[:, x0] + wx1 * rows0[:, x1]
    bottom = wx0 * rows1[:, x0] + wx1 * rows1[:, x1]
    return (hy0[:, None] * top + hy1[:, None] * bottom).astype(np.float32)


class Segmenter:
    def __init__(self, path):
        import onnxruntime as ort

        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.output = self.session.get_outputs()[0].name

    def rmbg(self, orig):
        """The node's RMBG(): a binary 0/255 mask (quirk §9.1)."""
        w, h = orig.size
        im = orig.resize((1024, 1024), Image.BILINEAR)
        x = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0)
        x = (x - np.float32(0.5)) / np.float32(1.0)
        pred = self.session.run([self.output], {self.input: x[None]})[0][0, 0]
        r = torch_bilinear(pred, h, w)
        ma, mi = r.max(), r.min()
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (r - mi) / (ma - mi)
        u = np.nan_to_num(r * 255).astype(np.uint8)
        return tensor2pil_array(u.astype(np.float32))


# --- detail methods ------------------------------------------------------------------------------

def guided_filter_alpha(i, mask_u8, filter_radius):
    """§5: cv2.ximgproc.guidedFilter on the mask repeated over 3 channels."""
    import cv2

    sigma = 0.15
    d = filter_radius + 1
    if not bool(d % 2):
        d += 1
    mask = pil2tensor_array(np.repeat(mask_u8[:, :, None], 3, axis=2))
    return cv2.ximgproc.guidedFilter(i, mask, d, sigma / 10)


def mask_edge_detail(i, mask_u8, detail_range, black_point, white_point):
    """§6: Gaussian-blurred binary mask → fix_trimap → estimate_alpha_cf."""
    import cv2
    from pymatting import estimate_alpha_cf, fix_trimap

    matte = pil2tensor_array(mask_u8).astype(np.float64)
    image = i.astype(np.float64)
    if detail_range > 0:
        d = detail_range * 5 + 1
        if not bool(d % 2):
            d += 1
        matte = cv2.GaussianBlur(matte, (d, d), 0)
    matte = fix_trimap(matte, black_point, white_point)
    alpha = estimate_alpha_cf(image, matte, laplacian_kwargs={"epsilon": 1e-6}, cg_kwargs={"maxiter": 500})
    return alpha.astype(np.float32)


def dilate_erode_trimap(mask_u8, erode, dilate):
    """§7.1: generate_VITMatte_trimap → L image with 0 / 127 / 255."""
    import cv2

    mb = mask_u8
    eroded = cv2.erode(mb, np.ones((erode, erode), np.uint8), iterations=5)
    dilated = cv2.dilate(mb, np.ones((dilate, dilate), np.uint8), iterations=5)
    trimap = np.zeros_like(mb, dtype=np.float32)
    trimap[dilated == 255] = 0.5
    trimap[eroded == 255] = 1.0
    return tensor2pil_array(trimap)


def vitmatte_target_size(w, h, max_megapixels):
    max_pixels = max_megapixels * 1048576
    if w * h <= max_pixels:
        return None
    ratio = w / h
    tw = math.sqrt(ratio * max_pixels)
    th = tw / ratio
    return int(tw), int(th)


class VitMatte:
    def __init__(self, path):
        import onnxruntime as ort

        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])

    def alpha(self, orig, trimap_u8, max_megapixels):
        """§7.2 with VitMatteImageProcessor's preprocessing restated in numpy."""
        w, h = orig.size
        image, trimap = orig, Image.fromarray(trimap_u8, "L")
        size = vitmatte_target_size(w, h, max_megapixels)
        if size:
            image = image.resize(size, Image.BILINEAR)
            trimap = trimap.resize(size, Image.BILINEAR)
        x = ((np.asarray(image, dtype=np.float64) * (1 / 255)).astype(np.float32) - 0.5) / 0.5
        t = (np.asarray(trimap, dtype=np.float64) * (1 / 255)).astype(np.float32)
        stacked = np.concatenate([x, t[:, :, None]], axis=2).transpose(2, 0, 1)
        ih, iw = stacked.shape[1:]
        ph, pw = -(-ih // 32) * 32, -(-iw // 32) * 32
        padded = np.zeros((4, ph, pw), np.float32)
        padded[:, :ih, :iw] = stacked
        alphas = self.session.run(["alphas"], {"pixel_values": padded[None]})[0][0, 0]
        a = Image.fromarray(tensor2pil_array(alphas)).crop((0, 0, iw, ih))
        if size:
            a = a.resize((w, h), Image.BILINEAR)
        return np.asarray(a)


# --- the node (§2) -------------------------------------------------------------------------------

def load_image(path):
    """ComfyUI LoadImage: EXIF transpose, RGB, /255 in f32."""
    img = ImageOps.exif_transpose(Image.open(path))
    return pil2tensor_array(img.convert("RGB"))


def rmbg_ultra_v2(frame, seg, args, matting=None, timings=None):
    """One frame of the node; returns the MASK output as u8."""
    i = pil2tensor_array(Image.fromarray(tensor2pil_array(frame)).convert("RGB"))
    orig = Image.fromarray(tensor2pil_array(i)).convert("RGB")
    t = time.perf_counter()
    mask = seg.rmbg(orig)
    timings["segment"] += time.perf_counter() - t
    t = time.perf_counter()
    detail_range = args.erode + args.dilate
    if args.no_detail:
        out = mask
    elif args.method == "GuidedFilter":
        g = guided_filter_alpha(i, mask, detail_range // 6 + 1)
        out = tensor2pil_array(histogram_remap(g, args.black_point, args.white_point))[:, :, 0]
    elif args.method == "PyMatting":
        a = mask_edge_detail(i, mask, detail_range // 8 + 1, args.black_point, args.white_point)
        out = tensor2pil_array(a)
    else:
        trimap = dilate_erode_trimap(mask, args.erode, args.dilate)
        a = matting.alpha(orig, trimap, args.max_megapixels)
        out = tensor2pil_array(histogram_remap(pil2tensor_array(a), args.black_point, args.white_point))
    timings["refine"] += time.perf_counter() - t
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--seg-model", required=True)
    p.add_argument("--matting-model")
    p.add_argument("--method", default="GuidedFilter", choices=METHODS)
    p.add_argument("--erode", type=int, default=6)
    p.add_argument("--dilate", type=int, default=6)
    p.add_argument("--black-point", type=float, default=0.01)
    p.add_argument("--white-point", type=float, default=0.99)
    p.add_argument("--no-detail", action="store_true")
    p.add_argument("--max-megapixels", type=float, default=2.0)
    p.add_argument("--save-rgba", action="store_true", help="also write OUT/<stem>.png (RGBA)")
    args = p.parse_args()

    os.makedirs(args.output, exist_ok=True)
    start = time.perf_counter()
    seg = Segmenter(args.seg_model)
    matting = VitMatte(args.matting_model) if args.method in METHODS[:3] and not args.no_detail else None
    timings = {"load": time.perf_counter() - start, "segment": 0.0, "refine": 0.0, "decode": 0.0, "encode": 0.0}
    for path in args.inputs:
        t = time.perf_counter()
        frame = load_image(path)
        timings["decode"] += time.perf_counter() - t
        mask = rmbg_ultra_v2(frame, seg, args, matting, timings)
        t = time.perf_counter()
        stem = os.path.splitext(os.path.basename(path))[0]
        Image.fromarray(mask, "L").save(os.path.join(args.output, stem + ".mask.png"))
        if args.save_rgba:
            rgb = tensor2pil_array(frame)
            Image.fromarray(np.dstack([rgb, mask]), "RGBA").save(os.path.join(args.output, stem + ".png"))
        timings["encode"] += time.perf_counter() - t
    timings["total"] = time.perf_counter() - start
    timings["peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(timings))


if __name__ == "__main__":
    sys.exit(main())
