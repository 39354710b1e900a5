"""The segmentation network alone: the fp16 file we ship (and the node runs), the same graph in fp32,
and our int8 model, on the same six photos, one process per model, ONNX Runtime's CPU provider.

    target/release/rmbg-ultra setup --int8          # the int8 model, made once
    scripts/quantize-venv.sh                         # onnx + onnxruntime, pinned (the quantizer's venv)
    ~/.cache/rmbg-ultra/venv-quantize/bin/python bench/bench_network.py [--runs 2]

Per model: load seconds, seconds per image (mean over the photos after one warm-up run), the
child's own peak RSS, and GFLOP/s = the graph's convolution work (multiply-adds x 2, counted from the
fp32 graph's inferred shapes) / seconds per image, set against this CPU's fp32 peak:
cores x FMA units x 512-bit lanes (16 fp32) x 2 flop x clock, with the clock read from /proc/cpuinfo.
The FMA unit count is an assumption printed with the result (2 on Intel Xeon with AVX-512, 2 x
256-bit = 1 x 512-bit equivalent on AMD Zen 4).
"""

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import BIN, ROOT, measure, model_path, photos, table  # noqa: E402


def quantizer():
    spec = importlib.util.spec_from_file_location("quantize_int8", os.path.join(ROOT, "scripts", "quantize-int8.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def conv_gflop(fp32_path):
    """Multiply-adds x 2 of every Conv/ConvTranspose, in GFLOP, from the inferred output shapes."""
    import onnx
    from onnx import numpy_helper, shape_inference

    m = shape_inference.infer_shapes(onnx.load(fp32_path))
    g = m.graph
    shapes = {}
    for vi in list(g.value_info) + list(g.output) + list(g.input):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    weights = {i.name: list(i.dims) for i in g.initializer}
    flop = 0
    for n in g.node:
        if n.op_type not in ("Conv", "ConvTranspose"):
            continue
        w = weights.get(n.input[1])
        out = shapes.get(n.output[0])
        if not w or not out or 0 in out:
            raise SystemExit(f"no shape for {n.name}: weight {w}, output {out}")
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        if n.op_type == "Conv":  # w: [cout, cin/group, kh, kw]; every output element does cin/group*kh*kw MACs
            macs = out[0] * out[1] * out[2] * out[3] * w[1] * w[2] * w[3]
        else:  # w: [cin, cout/group, kh, kw]; every input element scatters cout/group*kh*kw MACs
            inp = shapes[n.input[0]]
            macs = inp[0] * inp[1] * inp[2] * inp[3] * w[1] * w[2] * w[3]
        flop += 2 * macs
    return flop / 1e9


def fp32_peak_gflops(fma_units):
    cores = os.cpu_count()
    mhz = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                mhz = float(line.split(":")[1])
                break
    return cores * fma_units * 16 * 2 * (mhz or 0) / 1000, cores, mhz


def child(model, images):
    import numpy as np
    import onnxruntime as ort
    from PIL import Image

    q = quantizer()
    inputs = [q.to_input(Image.open(p)) for p in images]
    t = time.perf_counter()
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    load = time.perf_counter() - t
    name = sess.get_inputs()[0].name
    dtype = np.float16 if sess.get_inputs()[0].type == "tensor(float16)" else np.float32
    sess.run(None, {name: inputs[0].astype(dtype)})  # warm-up
    times = []
    for x in inputs * RUNS:
        t = time.perf_counter()
        sess.run(None, {name: x.astype(dtype)})
        times.append(time.perf_counter() - t)
    print(json.dumps({"load": load, "times": times}))


RUNS = int(os.environ.get("BENCH_NETWORK_RUNS", "1"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1, help="passes over the photos after the warm-up")
    ap.add_argument("--fma-units", type=int, default=2, help="512-bit FMA units per core for the peak")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, photos())
        return
    q = quantizer()
    fp16 = model_path("isnet-general")
    int8 = model_path("isnet-general-int8")
    with tempfile.TemporaryDirectory() as tmp:
        import onnx

        fp32 = os.path.join(tmp, "isnet-general-fp32.onnx")
        onnx.save(q.to_fp32(onnx.load(fp16)), fp32)
        gflop = conv_gflop(fp32)
        peak, cores, mhz = fp32_peak_gflops(args.fma_units)
        rows = []
        for label, path in [("fp16 file (shipped, node)", fp16), ("fp32 graph", fp32), ("int8 QDQ (--fast)", int8)]:
            env = dict(os.environ, BENCH_NETWORK_RUNS=str(args.runs))
            _, peak_mib, out = measure([sys.executable, __file__, "--child", path], env=env)
            r = json.loads(out)
            per = sum(r["times"]) / len(r["times"])
            rows.append([label, f"{r['load']:.2f}", f"{per:.3f}", f"{min(r['times']):.3f}",
                         f"{peak_mib:.0f}", f"{gflop / per:.0f}", f"{gflop / per / peak:.2f}"])
    print(f"convolution work at 1024x1024: {gflop:.1f} GFLOP; fp32 peak {peak:.0f} GFLOP/s = {cores} cores x "
          f"{args.fma_units} FMA x 16 lanes x 2 flop x {mhz:.0f} MHz (/proc/cpuinfo); {len(photos())} photos x "
          f"{args.runs} run(s) after one warm-up")
    table(rows, ["model", "load s", "s/image", "best s", "peak MiB", "GFLOP/s", "x fp32 peak"])


if __name__ == "__main__":
    main()
