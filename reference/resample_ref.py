"""Reference resamplers for tests/parity_resample.rs.

    resample_ref.py pillow DIR   DIR/jobs.json: [{"id", "src", "w", "h", "mode"}]
        "src" is either a .npy file in DIR (u8, HxW or HxWx3) or an image file path; an image file
        is opened with Pillow, converted to `mode` (RGB or L) and saved as DIR/src_<id>.npy so the
        Rust side resizes the very same pixels.
        Writes DIR/out_<id>.npy = Image.resize((w, h), FILTER), FILTER the job's "filter":
        "bilinear" (default) or "lanczos".
    resample_ref.py torch DIR    DIR/jobs.json: [{"id", "src", "w", "h"}], src an f32 HxW .npy.
        Writes DIR/np_<id>.npy (numpy model of torch's CPU upsample_bilinear2d, f32,
        align_corners=False) and DIR/ort_<id>.npy (onnxruntime Resize, linear, half_pixel).

Only the pinned libraries of reference/requirements.txt are used (no torch, no onnx package: the
one-node Resize model is encoded by hand below).
"""

import json
import os
import sys

import numpy as np


def pillow_jobs(d):
    from PIL import Image

    jobs = json.load(open(os.path.join(d, "jobs.json")))
    cache = {}
    for job in jobs:
        src, mode = job["src"], job.get("mode", "RGB")
        if src.endswith(".npy"):
            arr = np.load(os.path.join(d, src))
            im = Image.fromarray(arr)
        else:
            key = (src, mode)
            if key not in cache:
                cache[key] = Image.open(src).convert(mode)
            im = cache[key]
            np.save(os.path.join(d, f"src_{job['id']}.npy"), np.ascontiguousarray(np.asarray(im)))
        resample = {"bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS}[job.get("filter", "bilinear")]
        out = im.resize((job["w"], job["h"]), resample)
        np.save(os.path.join(d, f"out_{job['id']}.npy"), np.ascontiguousarray(np.asarray(out)))


def torch_taps(n_in, n_out):
    f32 = np.float32
    scale = f32(n_in) / f32(n_out)
    s = scale * (np.arange(n_out, dtype=f32) + f32(0.5)) - f32(0.5)
    s = np.where(s < 0, f32(0), s).astype(f32)
    i0 = np.minimum(np.floor(s).astype(np.int64), n_in - 1)
    lam = np.clip(s - i0.astype(f32), f32(0), f32(1)).astype(f32)
    i1 = np.where(i0 < n_in - 1, i0 + 1, i0)
    return i0, i1, (f32(1) - lam).astype(f32), lam


def torch_bilinear(x, w, h):
    """upsample_bilinear2d (CPU, contiguous): (x00*wx0 + x01*wx1)*wy0 + (x10*wx0 + x11*wx1)*wy1."""
    x = x.astype(np.float32)
    yi0, yi1, wy0, wy1 = torch_taps(x.shape[0], h)
    xi0, xi1, wx0, wx1 = torch_taps(x.shape[1], w)
    r0, r1 = x[yi0], x[yi1]
    t0 = r0[:, xi0] * wx0 + r0[:, xi1] * wx1
    t1 = r1[:, xi0] * wx0 + r1[:, xi1] * wx1
    return (t0 * wy0[:, None] + t1 * wy1[:, None]).astype(np.float32)


# --- a one-node ONNX model (Resize, linear, half_pixel), protobuf encoded by hand ---------------

def _varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _f(num, payload):  # length-delimited field
    if isinstance(payload, str):
        payload = payload.encode()
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _i(num, v):  # varint field
    return _varint(num << 3) + _varint(v)


def _value_info(name, elem_type, dims):
    dim_msgs = b"".join(_f(1, _f(2, d) if isinstance(d, str) else _i(1, d)) for d in dims)
    tensor_type = _i(1, elem_type) + _f(2, dim_msgs)
    return _f(1, name) + _f(2, _f(1, tensor_type))


def resize_model():
    FLOAT, INT64, ATTR_STRING = 1, 7, 3
    attrs = [
        _f(1, "mode") + _i(20, ATTR_STRING) + _f(4, "linear"),
        _f(1, "coordinate_transformation_mode") + _i(20, ATTR_STRING) + _f(4, "half_pixel"),
    ]
    node = b"".join(_f(1, s) for s in ["X", "", "", "sizes"]) + _f(2, "Y") + _f(3, "resize") + _f(4, "Resize")
    node += b"".join(_f(5, a) for a in attrs)
    graph = _f(1, node) + _f(2, "g")
    graph += _f(11, _value_info("X", FLOAT, ["N", "C", "H", "W"]))
    graph += _f(11, _value_info("sizes", INT64, [4]))
    graph += _f(12, _value_info("Y", FLOAT, ["N", "C", "OH", "OW"]))
    opset = _f(1, "") + _i(2, 13)
    return _i(1, 8) + _f(7, graph) + _f(8, opset)


def torch_jobs(d):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(resize_model(), so, providers=["CPUExecutionProvider"])
    for job in json.load(open(os.path.join(d, "jobs.json"))):
        x = np.load(os.path.join(d, job["src"])).astype(np.float32)
        w, h = job["w"], job["h"]
        np.save(os.path.join(d, f"np_{job['id']}.npy"), np.ascontiguousarray(torch_bilinear(x, w, h)))
        sizes = np.array([1, 1, h, w], dtype=np.int64)
        (y,) = sess.run(None, {"X": x[None, None], "sizes": sizes})
        np.save(os.path.join(d, f"ort_{job['id']}.npy"), np.ascontiguousarray(y[0, 0], dtype=np.float32))


if __name__ == "__main__":
    cmd, d = sys.argv[1], sys.argv[2]
    {"pillow": pillow_jobs, "torch": torch_jobs}[cmd](d)
