"""Writes the tiny segmentation fixtures next to this file (testdata/tiny-seg/README.md says why).

    ~/.cache/rmbg-ultra/venv-quantize/bin/python testdata/tiny-seg/make.py          # write
    ~/.cache/rmbg-ultra/venv-quantize/bin/python testdata/tiny-seg/make.py --check  # compare

Needs only the `onnx` package (1.23.2 in the quantize venv that `rmbg-ultra setup --int8` makes);
the output is byte-for-byte the same on every run, so `--check` fails when a file was edited by
hand or this script changed without rewriting them.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
SIDE = 1024  # the segmentation contract: f32 [1,3,1024,1024] = RGB/255 - 0.5 in, [1,1,1024,1024] out
OPSET = 17  # ReduceMean still takes `axes` as an attribute here
IR_VERSION = 8  # read by every ONNX Runtime the project supports
GAIN, BIAS = 40.0, -10.0


def model(name, nodes, initializers, out_dims):
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, SIDE, SIDE])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_dims)],
        initializer=initializers,
    )
    m = helper.make_model(graph, producer_name="testdata/tiny-seg/make.py", opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = IR_VERSION
    onnx.checker.check_model(m, full_check=True)
    return m.SerializeToString()


def tiny_seg():
    """sigmoid(GAIN · mean(RGB/255 − 0.5) + BIAS): 0 on dark pixels, towards 1 on bright ones. After
    the node's min-max stretch and binarisation at 1/255 it keeps the pixels brighter than about
    0.61, so every shared photo and the service tests' bright square on a dark ground have both."""
    w = numpy_helper.from_array(np.full((1, 3, 1, 1), GAIN / 3, np.float32), "W")
    b = numpy_helper.from_array(np.full(1, BIAS, np.float32), "B")
    nodes = [helper.make_node("Conv", ["input", "W", "B"], ["logits"]), helper.make_node("Sigmoid", ["logits"], ["output"])]
    return model("tiny-seg", nodes, [w, b], [1, 1, SIDE, SIDE])


def broken_seg():
    """Runs, but its output [1,1,1,1024] breaks the contract: what a wrong model file looks like."""
    nodes = [helper.make_node("ReduceMean", ["input"], ["output"], axes=[1, 2])]
    return model("broken-seg", nodes, [], [1, 1, 1, SIDE])


FIXTURES = {"tiny-seg.onnx": tiny_seg, "broken-seg.onnx": broken_seg}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare the files with what this script makes; write nothing")
    args = p.parse_args()
    stale = []
    for name, make in FIXTURES.items():
        data, path = make(), HERE / name
        if args.check:
            if not path.is_file() or path.read_bytes() != data:
                stale.append(name)
        else:
            path.write_bytes(data)
            print(f"{path} ({len(data)} bytes)")
    if stale:
        sys.exit(f"{', '.join(stale)} in {HERE} differ from what make.py writes: rerun it without --check")


if __name__ == "__main__":
    main()
