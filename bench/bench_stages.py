"""Per stage, on the shared photos: ours (examples/bench_stages.rs) against the Python reference
of each stage (Pillow, ONNX Runtime, numpy, OpenCV: reference/node_reference.py's functions), one
process each, same model, one run.

    cargo build --release -p rmbg-ultra --example bench_stages
    .venv-ref/bin/python bench/bench_stages.py
"""

import io
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "reference"))
from common import PY, ROOT, measure, model_path, photos, table  # noqa: E402

EXAMPLE = os.path.join(ROOT, "target", "release", "examples", "bench_stages")


def reference_stages(model, imgs):
    import numpy as np
    from PIL import Image

    import node_reference as ref

    t = {}

    def lap(name, start):
        t[name] = t.get(name, 0.0) + time.perf_counter() - start

    s = time.perf_counter()
    seg = ref.Segmenter(model)
    lap("load", s)
    for path in imgs:
        s = time.perf_counter()
        frame = ref.load_image(path)
        orig = Image.fromarray(ref.tensor2pil_array(frame))
        lap("decode", s)
        s = time.perf_counter()
        im = orig.resize((1024, 1024), Image.BILINEAR)
        lap("resize_1024", s)
        s = time.perf_counter()
        x = (np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0) - np.float32(0.5))[None]
        pred = seg.session.run([seg.output], {seg.input: x})[0][0, 0]
        lap("network", s)
        s = time.perf_counter()
        w, h = orig.size
        r = ref.torch_bilinear(pred, h, w)
        r = (r - r.min()) / (r.max() - r.min())
        mask = ref.tensor2pil_array((r * 255).astype(np.uint8).astype(np.float32))
        lap("upsample_binarize", s)
        s = time.perf_counter()
        g = ref.guided_filter_alpha(frame, mask, 12 // 6 + 1)
        alpha = ref.tensor2pil_array(ref.histogram_remap(g, 0.01, 0.99))[:, :, 0]
        lap("guided_filter_remap", s)
        s = time.perf_counter()
        rgba = Image.fromarray(np.dstack([np.asarray(orig), alpha]), "RGBA")
        rgba.save(io.BytesIO(), format="PNG")
        lap("compose_encode", s)
    t["peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(t))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--reference":
        return reference_stages(sys.argv[2], sys.argv[3:])
    imgs = photos()
    model = model_path()
    ours = json.loads(measure([EXAMPLE, model, *imgs])[2])
    theirs = json.loads(measure([PY, __file__, "--reference", model, *imgs])[2])
    rows = []
    for stage in ["decode", "resize_1024", "network", "upsample_binarize", "guided_filter_remap", "compose_encode", "load"]:
        rows.append([stage, f"{ours[stage]:.3f}", f"{theirs[stage]:.3f}", f"{theirs[stage] / ours[stage]:.2f}x"])
    total_o = sum(v for k, v in ours.items() if k != "peak_rss_kb")
    total_t = sum(v for k, v in theirs.items() if k != "peak_rss_kb")
    rows.append(["all stages", f"{total_o:.3f}", f"{total_t:.3f}", f"{total_t / total_o:.2f}x"])
    print(f"{len(imgs)} photos; seconds summed over them")
    table(rows, ["stage", "ours s", "reference s", "speed-up"])
    print(f"peak RSS: ours {ours['peak_rss_kb'] / 1024:.0f} MiB, reference {theirs['peak_rss_kb'] / 1024:.0f} MiB, "
          f"ratio {ours['peak_rss_kb'] / theirs['peak_rss_kb']:.2f}")


if __name__ == "__main__":
    main()
