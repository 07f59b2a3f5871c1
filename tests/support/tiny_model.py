"""A tiny ONNX segmentation model made with onnx's helper API, for tests that need a real session.

The mask is sigmoid(20 * red channel) of rembg's normalised input (centred on 0 by both the ISNet
and the U2-Net normalisation), so a red, white or bright grey subject scores near 1 and a dark,
green or blue background near 0. It takes any 1x3xHxW float input and returns a 1x1xHxW mask,
like ISNet and U2-Net do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# onnxruntime 1.32 runs these; newer defaults of the onnx package may be ahead of it.
OPSET = 17
IR_VERSION = 8


def build_tiny_model(path: str | Path) -> Path:
    """Write the tiny bright-subject model to `path` and return the path."""
    weights = numpy_helper.from_array(np.array([20.0, 0.0, 0.0], np.float32).reshape(1, 3, 1, 1), "weights")
    bias = numpy_helper.from_array(np.array([0.0], np.float32), "bias")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "weights", "bias"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["mask"]),
        ],
        "tiny_red_subject",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "height", "width"])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, "height", "width"])],
        initializer=[weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="cutout-tests")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path
