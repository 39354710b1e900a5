"""Removes the background of every image under a folder on a Ray cluster, as `rmbg-ultra remove
FOLDER -o OUT` does on one machine: same outputs, byte for byte, and a bad file is reported and
skipped (exit status 1 when any failed).

    python examples/ray/remove_folder.py photos/ -o cutouts/ --actors 2 --method GuidedFilter
    python examples/ray/remove_folder.py s3://bucket/photos -o s3://bucket/cutouts --address auto --actors 8 --num-cpus 4

Without --address a local Ray cluster is started for the run. Every node needs the wheel
(`pip install rmbg_ultra_comfyui-*.whl`) and, once, `python -m rmbg_ultra setup`.
"""

import argparse
import sys
import time

import ray

from rmbg_ultra.ray_data import remove_folder


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="a folder (searched recursively for jpg, jpeg, png, webp, tif, tiff, bmp, gif), a file or a URI")
    ap.add_argument("-o", "--output", required=True, help="output folder or URI: <relative path>.png per input")
    ap.add_argument("--address", help="the Ray cluster to join (e.g. auto); default: start a local one")
    ap.add_argument("--actors", type=int, default=2, help="actors, each with the models loaded once (default 2)")
    ap.add_argument("--num-cpus", type=float, default=1,
                    help="Ray CPUs each actor holds (default 1); leave some for reading and writing")
    ap.add_argument("--batch-size", type=int, default=4, help="images per call of an actor (default 4)")
    ap.add_argument("--profile", default="quality")
    ap.add_argument("--method", default=None, help="detail method (default: the profile's, as the CLI's)")
    ap.add_argument("--seg-model", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--save-mask", action="store_true")
    ap.add_argument("--format", default="png")
    ap.add_argument("--offline", action="store_true", help="never download a model (a missing one fails each image)")
    args = ap.parse_args(argv)

    ray.init(address=args.address, include_dashboard=False)
    options = dict(profile=args.profile, method=args.method, device=args.device, offline=args.offline)
    if args.seg_model:
        options["seg_model"] = args.seg_model
    start = time.perf_counter()
    rows = remove_folder(args.input, args.output, concurrency=args.actors, num_cpus=args.num_cpus,
                         batch_size=args.batch_size, save_mask=args.save_mask, format=args.format, **options)
    failed = [r for r in rows if r["error"]]
    print(f"{len(rows) - len(failed)} written, {len(failed)} failed in {time.perf_counter() - start:.1f} s "
          f"with {args.actors} actor(s)", file=sys.stderr)
    for r in failed:
        print(f"  failed: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
