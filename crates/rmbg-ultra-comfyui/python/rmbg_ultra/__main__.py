"""Set-up of the rmbg_ultra package, for machines without the rmbg-ultra CLI (a Ray cluster's nodes):

    python -m rmbg_ultra setup [--cuda]   ONNX Runtime + the default model (isnet-general) into the cache
    python -m rmbg_ultra fetch ID         a model into the cache (isnet-general-int8, vitmatte-small, ...)
    python -m rmbg_ultra where            the runtime and cache the package uses
"""

import logging
import sys

import rmbg_ultra
from rmbg_ultra_comfyui.commands import setup_parser


def main(argv=None):
    ap, _ = setup_parser("python -m rmbg_ultra", __doc__)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.cmd == "setup":
            runtime, model = rmbg_ultra.setup(cuda=args.cuda)
            print("ONNX Runtime:", runtime)
            print(f"{rmbg_ultra.DEFAULT_SEGMENTATION}:", model)
        elif args.cmd == "fetch":
            print(rmbg_ultra.fetch(args.id))
        elif args.cmd == "where":
            try:
                rmbg_ultra.ensure_runtime(allow_fetch=False)
                print("ONNX Runtime:", rmbg_ultra._native.runtime_library())
            except rmbg_ultra.RmbgUltraError as e:
                print("ONNX Runtime: not found:", e)
            print("cache:", rmbg_ultra.cache_root())
    except rmbg_ultra.RmbgUltraError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
