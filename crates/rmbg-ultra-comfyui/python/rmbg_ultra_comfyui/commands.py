"""The set-up commands both packages offer (`python -m rmbg_ultra` and `python -m rmbg_ultra_comfyui`):
one parser, so that their options stay the same."""

import argparse


def setup_parser(prog, description):
    """`setup [--cuda]`, `fetch ID` and `where`; returns the parser and its subparsers, to which a
    package adds its own commands."""
    ap = argparse.ArgumentParser(prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--cuda", action="store_true", help="the CUDA 13 build of ONNX Runtime (about 300 MB)")
    f = sub.add_parser("fetch")
    f.add_argument("id")
    sub.add_parser("where")
    return ap, sub
