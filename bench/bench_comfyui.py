"""The ComfyUI node against the original node's code path: one IMAGE batch of 8 shared photos
(the six of testdata/photos plus two mirrored, all 1086x1448 as in a ComfyUI batch), same ONNX
segmentation model (isnet-general), same machine, one child process per side.

- ours: `rmbg_ultra_comfyui` (.venv-comfy), called as ComfyUI calls it, on a torch tensor;
- reference: reference/node_reference.py's `Segmenter` + `rmbg_ultra_v2` per frame (.venv-ref:
  Pillow, OpenCV contrib, pymatting, onnxruntime), plus the original's RGBA/mask assembly.

Each child runs the batch twice: the first call includes loading the model (the original keeps
RMBG loaded after its first use, as we do), the second is warm; the children alternate (ours,
reference, ours, ...) and the best time of each side is reported, as the machine may be shared. Peak memory is the child's peak
RSS (wait4), imports included; "after imports" is its RSS before the first call.

    .venv-comfy/bin/python bench/bench_comfyui.py [--methods GuidedFilter,none,PyMatting] [--numpy]
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, measure, model_path, photos, status_kb, table  # noqa: E402

COMFY_PY = os.path.join(ROOT, ".venv-comfy", "bin", "python")
REF_PY = os.path.join(ROOT, ".venv-ref", "bin", "python")
SIZE = (1086, 1448)


def cpu_seconds():
    """User + system CPU time of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_batch(path):
    import numpy as np
    from PIL import Image, ImageOps

    frames = []
    for p in photos():
        img = ImageOps.exif_transpose(Image.open(p)).convert("RGB")
        if img.size != SIZE:
            img = img.resize(SIZE, Image.BILINEAR)
        frames.append(np.asarray(img))
    frames += [frames[0][:, ::-1], frames[2][:, ::-1]]
    batch = np.stack(frames[:8]).astype(np.float32) / np.float32(255.0)
    np.save(path, batch)
    return batch.shape


def child_ours(args):
    t = time.perf_counter()
    import numpy as np

    if not args.numpy:
        import torch
    import rmbg_ultra_comfyui

    cls = rmbg_ultra_comfyui.NODE_CLASS_MAPPINGS["LayerMask: RmBgUltra V2"]
    frames = np.load(args.frames)
    image = frames if args.numpy else torch.from_numpy(frames)
    imports = time.perf_counter() - t
    rss_imports = status_kb()
    kw = dict(image=image, detail_method=args.method if args.method != "none" else "GuidedFilter", detail_erode=6,
              detail_dilate=6, black_point=0.01, white_point=0.99, process_detail=args.method != "none", device="cpu",
              max_megapixels=2.0, seg_model="isnet-general")
    times, cpu = [], []
    for _ in range(2):
        t, c = time.perf_counter(), cpu_seconds()
        _, mask = getattr(cls(), cls.FUNCTION)(**kw)
        times.append(time.perf_counter() - t)
        cpu.append(cpu_seconds() - c)
    mask = np.asarray(mask)
    np.save(args.out, np.rint(mask.astype(np.float64) * 255).astype(np.uint8))
    print(json.dumps({"imports": imports, "first": times[0], "second": times[1], "cpu_second": cpu[1], "rss_imports_kb": rss_imports,
                      "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def child_ref(args):
    t = time.perf_counter()
    import numpy as np

    sys.path.insert(0, os.path.join(ROOT, "reference"))
    import node_reference as ref

    frames = np.load(args.frames)
    imports = time.perf_counter() - t
    rss_imports = status_kb()
    opts = argparse.Namespace(method=args.method if args.method != "none" else "GuidedFilter", erode=6, dilate=6,
                              black_point=0.01, white_point=0.99, no_detail=args.method == "none", max_megapixels=2.0)
    timings = {"segment": 0.0, "refine": 0.0}
    seg = None
    times, cpu = [], []
    for _ in range(2):
        t, c = time.perf_counter(), cpu_seconds()
        if seg is None:
            seg = ref.Segmenter(args.model)  # the original's lru_cache: loaded on first use, kept
        images, masks = [], []
        for f in frames:
            m = ref.rmbg_ultra_v2(f, seg, opts, None, timings)
            rgb = ref.tensor2pil_array(f)
            images.append(ref.pil2tensor_array(np.dstack([rgb, m]))[None])  # RGB2RGBA + pil2tensor
            masks.append(ref.pil2tensor_array(m)[None])  # image2mask
        image_out, mask_out = np.concatenate(images), np.concatenate(masks)  # torch.cat
        times.append(time.perf_counter() - t)
        cpu.append(cpu_seconds() - c)
    np.save(args.out, (mask_out * 255).round().astype(np.uint8))
    print(json.dumps({"imports": imports, "first": times[0], "second": times[1], "cpu_second": cpu[1], "rss_imports_kb": rss_imports,
                      "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="GuidedFilter,none")
    ap.add_argument("--rounds", type=int, default=2, help="alternating runs per side; the best time is reported")
    ap.add_argument("--numpy", action="store_true", help="feed ours a numpy array instead of a torch tensor (no torch import)")
    ap.add_argument("--child", choices=["ours", "ref"])
    ap.add_argument("--frames")
    ap.add_argument("--model")
    ap.add_argument("--method")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.child == "ours":
        return child_ours(args)
    if args.child == "ref":
        return child_ref(args)

    import numpy as np

    me = os.path.abspath(__file__)
    model = model_path()
    rows = []
    load0 = f"{os.getloadavg()[0]:.1f}"
    with tempfile.TemporaryDirectory() as tmp:
        frames = os.path.join(tmp, "frames.npy")
        shape = make_batch(frames)
        for method in args.methods.split(","):
            res = {"ours": [], "ref": []}
            for _ in range(args.rounds):  # alternating, so that both sides see the same machine load
                for side, py in (("ours", COMFY_PY), ("ref", REF_PY)):
                    out = os.path.join(tmp, f"{side}-{method}.npy")
                    cmd = [py, me, "--child", side, "--frames", frames, "--model", model, "--method", method, "--out", out]
                    if args.numpy:
                        cmd.append("--numpy")
                    _, peak_mib, stdout = measure(cmd, env=dict(os.environ, RMBG_ULTRA_OFFLINE="1"))
                    r = json.loads(stdout.strip().splitlines()[-1])
                    r["mask"] = np.load(out)
                    res[side].append(r)
            same = float((res["ours"][-1]["mask"] == res["ref"][-1]["mask"]).mean())
            best = {side: {k: min(r[k] for r in runs) for k in ("first", "second", "cpu_second")} for side, runs in res.items()}
            mem = {side: (max(r["rss_imports_kb"] for r in runs) / 1024, max(r["peak_kb"] for r in runs) / 1024)
                   for side, runs in res.items()}
            o, r = best["ours"], best["ref"]
            rows.append([method, f"{r['first']:.1f}", f"{o['first']:.1f}", f"{r['second']:.1f}", f"{o['second']:.1f}",
                         f"{r['second'] / o['second']:.2f}x", f"{r['cpu_second']:.1f}", f"{o['cpu_second']:.1f}",
                         "%.0f / %.0f" % mem["ref"], "%.0f / %.0f" % mem["ours"],
                         f"{100 * same:.3f}%"])
    print(f"batch {shape} float32, model isnet-general, CPU, {os.cpu_count()} cores, load average {load0} -> "
          f"{os.getloadavg()[0]:.1f}; best of {args.rounds} alternating runs per side; ours fed a "
          f"{'numpy array' if args.numpy else 'torch tensor'}")
    table(rows, ["method", "reference 1st s", "ours 1st s", "reference warm s", "ours warm s", "warm speed-up",
                 "reference warm CPU s", "ours warm CPU s",
                 "reference MiB (after imports / peak)", "ours MiB (after imports / peak)", "identical mask bytes"])


if __name__ == "__main__":
    main()
