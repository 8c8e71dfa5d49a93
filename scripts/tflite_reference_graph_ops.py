#!/usr/bin/env python3
"""The TFLite converter's per-operator quantization decisions on a graph of common operators.

Builds a small TensorFlow graph (Conv+ReLU, Conv, add and mul of two tensors, add and mul by a
scalar, max and average pooling, sigmoid, concatenation, tanh, hard swish, leaky ReLU, transposed
convolution + ReLU6, mean, nearest resize, exp, reshape, fully connected, softmax) and the same
graph in ONNX (NCHW, same weights, tensors named alike), then converts it with
`tf.lite.TFLiteConverter` (`Optimize.DEFAULT`, a seeded representative dataset,
`TFLITE_BUILTINS_INT8`, float input and output). For each mode (int8, and 16x8) it records:

* `ranges`: the min/max the converter's calibration stored for each tensor (a first conversion
  with `_experimental_calibrate_only`), keyed by the ONNX tensor;
* `tensors`: each quantized activation tensor's scale and zero point in the converted model;
* `float`: the tensors left in float;
* `weights`: each quantized weight's scales, zero points and integer values (in ONNX layout).

qbench's fidelity test (adapters/quant/tests/tflite_graph_ops_fidelity.rs) feeds the same ranges
to its TFLite recipe and compares every decision and every number.

Usage (needs `pip install tensorflow-cpu onnx numpy`; checked with TensorFlow 2.21.0):
    python3 scripts/tflite_reference_graph_ops.py
Writes adapters/quant/tests/fixtures/tflite_graph_ops.onnx and tflite_graph_ops_<mode>.json.
"""
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import tensorflow as tf  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402

from graph_ops_onnx import graph_ops_model  # noqa: E402
from tensorflow.lite.python import schema_py_generated as schema_fb  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "adapters/quant/tests/fixtures"
BATCH, BATCHES = 2, 8


def weights():
    rng = np.random.default_rng(3)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    return {
        "w1": f(3, 3, 3, 8) * 0.3, "b1": f(8) * 0.1,           # HWIO
        "w2": f(3, 3, 8, 8) * 0.2, "b2": f(8) * 0.1,
        "wt": f(2, 2, 4, 24) * 0.2, "bt": f(4) * 0.1,          # H, W, out, in
        "wfc": f(8, 5) * 0.5, "bfc": f(5) * 0.1,               # in, out
    }


class Net(tf.Module):
    def __init__(self, w):
        super().__init__()
        self.w = {k: tf.constant(v) for k, v in w.items()}

    @tf.function(input_signature=[tf.TensorSpec([None, 16, 16, 3], tf.float32)])
    def __call__(self, x):
        w = self.w
        relu1 = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w["w1"], 1, "SAME"), w["b1"]),
                           name="relu1")
        conv2 = tf.nn.bias_add(tf.nn.conv2d(relu1, w["w2"], 1, "SAME"), w["b2"], name="conv2")
        add = tf.add(relu1, conv2, name="add")
        mul = tf.multiply(add, conv2, name="mul")
        add_1 = tf.add(mul, 1.5, name="add_1")
        mul_1 = tf.multiply(add_1, 0.25, name="mul_1")
        maxpool = tf.nn.max_pool2d(mul_1, 2, 2, "VALID", name="maxpool")
        avgpool = tf.nn.avg_pool2d(conv2, 2, 2, "VALID", name="avgpool")
        sigmoid = tf.sigmoid(maxpool, name="sigmoid")
        cat = tf.concat([sigmoid, avgpool], 3, name="cat")
        tanh = tf.tanh(cat, name="tanh")
        hswish = tf.multiply(avgpool * tf.nn.relu6(avgpool + 3.0), 1.0 / 6.0, name="hswish")
        lrelu = tf.nn.leaky_relu(hswish, 0.1, name="lrelu")
        cat_1 = tf.concat([tanh, lrelu], 3, name="cat_1")
        n = tf.shape(x)[0]
        deconv = tf.nn.bias_add(
            tf.nn.conv2d_transpose(cat_1, w["wt"], tf.stack([n, 16, 16, 4]), 2, "VALID"),
            w["bt"], name="deconv")
        relu6 = tf.nn.relu6(deconv, name="relu6")
        mean = tf.reduce_mean(relu6, [1, 2], keepdims=True, name="mean")
        interpolate = tf.image.resize(relu6, [8, 8], method="nearest", name="interpolate")
        exp = tf.exp(interpolate, name="exp")
        gap = tf.reduce_mean(exp, [1, 2], keepdims=True, name="gap")
        cat_2 = tf.concat([gap, mean], 3, name="cat_2")
        reshape = tf.reshape(cat_2, [-1, 8], name="reshape")
        fc = tf.nn.bias_add(tf.matmul(reshape, w["wfc"]), w["bfc"], name="fc")
        return tf.nn.softmax(fc, name="softmax")


def onnx_graph(w) -> onnx.ModelProto:
    """The same graph in ONNX (NCHW), tensors named after the TensorFlow ops."""
    t = lambda a, *p: np.ascontiguousarray(a.transpose(*p))  # noqa: E731
    inits = [
        numpy_helper.from_array(t(w["w1"], 3, 2, 0, 1), "w1"),
        numpy_helper.from_array(w["b1"], "b1"),
        numpy_helper.from_array(t(w["w2"], 3, 2, 0, 1), "w2"),
        numpy_helper.from_array(w["b2"], "b2"),
        numpy_helper.from_array(np.array(1.5, np.float32), "c1_5"),
        numpy_helper.from_array(np.array(0.25, np.float32), "c0_25"),
        # ConvTranspose weights are (in, out, kH, kW).
        numpy_helper.from_array(t(w["wt"], 3, 2, 0, 1), "wt"),
        numpy_helper.from_array(w["bt"], "bt"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(6.0, np.float32), "six"),
        numpy_helper.from_array(np.array([1, 1, 0.5, 0.5], np.float32), "half"),
        numpy_helper.from_array(np.array([-1, 8], np.int64), "shape"),
        numpy_helper.from_array(np.array([2, 3], np.int64), "hw"),
        numpy_helper.from_array(t(w["wfc"], 1, 0), "wfc"),
        numpy_helper.from_array(w["bfc"], "bfc"),
    ]
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["conv1"], "conv1", pads=[1, 1, 1, 1]),
        n("Relu", ["conv1"], ["relu1"], "relu1"),
        n("Conv", ["relu1", "w2", "b2"], ["conv2"], "conv2", pads=[1, 1, 1, 1]),
        n("Add", ["relu1", "conv2"], ["add"], "add"),
        n("Mul", ["add", "conv2"], ["mul"], "mul"),
        n("Add", ["mul", "c1_5"], ["add_1"], "add_1"),
        n("Mul", ["add_1", "c0_25"], ["mul_1"], "mul_1"),
        n("MaxPool", ["mul_1"], ["maxpool"], "maxpool", kernel_shape=[2, 2], strides=[2, 2]),
        n("AveragePool", ["conv2"], ["avgpool"], "avgpool", kernel_shape=[2, 2], strides=[2, 2]),
        n("Sigmoid", ["maxpool"], ["sigmoid"], "sigmoid"),
        n("Concat", ["sigmoid", "avgpool"], ["cat"], "cat", axis=1),
        n("Tanh", ["cat"], ["tanh"], "tanh"),
        n("HardSwish", ["avgpool"], ["hswish"], "hswish"),
        n("LeakyRelu", ["hswish"], ["lrelu"], "lrelu", alpha=0.1),
        n("Concat", ["tanh", "lrelu"], ["cat_1"], "cat_1", axis=1),
        n("ConvTranspose", ["cat_1", "wt", "bt"], ["deconv"], "deconv", strides=[2, 2]),
        n("Clip", ["deconv", "zero", "six"], ["relu6"], "relu6"),
        n("ReduceMean", ["relu6", "hw"], ["mean"], "mean", keepdims=1),
        n("Resize", ["relu6", "", "half"], ["interpolate"], "interpolate", mode="nearest"),
        n("Exp", ["interpolate"], ["exp"], "exp"),
        n("ReduceMean", ["exp", "hw"], ["gap"], "gap", keepdims=1),
        n("Concat", ["gap", "mean"], ["cat_2"], "cat_2", axis=1),
        n("Reshape", ["cat_2", "shape"], ["reshape"], "reshape"),
        n("Gemm", ["reshape", "wfc", "bfc"], ["fc"], "fc", transB=1),
        n("Softmax", ["fc"], ["softmax"], "softmax", axis=1),
    ]
    return graph_ops_model(nodes, inits, "tflite_graph_ops")


def converter(net: Net, data, mode: str, calibrate_only: bool = False):
    fn = net.__call__.get_concrete_function()
    c = tf.lite.TFLiteConverter.from_concrete_functions([fn], net)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = lambda: ([d] for d in data)
    if mode == "16x8":
        c.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS]
    if calibrate_only:
        c._experimental_calibrate_only = True
    return c


def tensors(model_bytes: bytes):
    """(name, type, scales, zero points, min, max, quantized dimension, buffer) per tensor."""
    m = schema_fb.Model.GetRootAsModel(model_bytes, 0)
    g = m.Subgraphs(0)
    out = []
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        q = t.Quantization()
        get = lambda f: (f().tolist() if q is not None and not isinstance(f(), int) else [])  # noqa
        out.append({
            "index": i,
            "name": t.Name().decode(),
            "type": t.Type(),
            "scale": get(q.ScaleAsNumpy) if q else [],
            "zero_point": get(q.ZeroPointAsNumpy) if q else [],
            "min": get(q.MinAsNumpy) if q else [],
            "max": get(q.MaxAsNumpy) if q else [],
            "axis": q.QuantizedDimension() if q else 0,
            "buffer": t.Buffer(),
        })
    ops = []
    for i in range(g.OperatorsLength()):
        o = g.Operators(i)
        code = m.OperatorCodes(o.OpcodeIndex())
        ops.append((max(code.BuiltinCode(), code.DeprecatedBuiltinCode()),
                    o.InputsAsNumpy().tolist(), o.OutputsAsNumpy().tolist()))
    return out, ops


# The converter names a tensor after the TensorFlow ops it fused; the first name is the one the
# graph gave it. The ONNX tensor each one is (TFLite fuses Relu/Relu6 into the producer, so the
# conv and transposed conv outputs are the activation's).
TFLITE_TO_ONNX = {
    "serving_default_x:0": "x", "tfl.quantize": "x", "relu1": "relu1", "conv2": "conv2",
    "avgpool": "avgpool", "hswish": "hswish", "lrelu": "lrelu", "add": "add", "mul": "mul",
    "add_1": "add_1", "mul_1": "mul_1", "maxpool": "maxpool", "sigmoid": "sigmoid",
    "cat": "cat", "tanh": "tanh", "cat_1": "cat_1", "relu6_1": "relu6",
    "interpolate/ResizeNearestNeighbor": "interpolate", "exp": "exp", "gap": "gap",
    "mean": "mean", "cat_2": "cat_2", "reshape": "reshape", "MatMul;fc": "fc",
    "PartitionedCall:01": "softmax", "PartitionedCall:0": "softmax",
    # The QUANTIZE ops that requantize a fixed-parameter output for a concatenation.
    "sigmoid1": "sigmoid->cat", "tanh1": "tanh->cat_1",
}
# Weight tensors (TFLite layout) -> (ONNX initializer, axes that give the ONNX layout).
WEIGHTS = {
    "Conv2D": ("w1", (0, 3, 1, 2)), "Conv2D_1": ("w2", (0, 3, 1, 2)),
    "conv2d_transpose": ("wt", (3, 0, 1, 2)), "MatMul": ("wfc", (0, 1)),
}
INT_TYPES = {9: "int8", 7: "int16", 2: "int32"}


def onnx_name(tflite_name: str):
    """The ONNX tensor a TFLite tensor is; `a->` for a copy of `a` requantized for a
    concatenation; None for tensors without one (shapes, constants, float copies)."""
    if tflite_name in TFLITE_TO_ONNX:
        return TFLITE_TO_ONNX[tflite_name]
    # 16x8 mode: `<t>_int16` quantizes a float tensor, `<t>_requantized` rescales an input of a
    # concatenation, `<t>_float` dequantizes one for a float operator.
    for suffix, tag in (("_int16", ""), ("_requantized", "->"), ("_float", None)):
        if tflite_name.endswith(suffix):
            base = onnx_name(tflite_name[: -len(suffix)])
            return None if tag is None or base is None else base + tag
    return TFLITE_TO_ONNX.get(tflite_name.split(";")[0])


def reference(net: Net, data, mode: str):
    cal, _ = tensors(converter(net, data, mode, calibrate_only=True).convert())
    ranges = {}
    for t in cal:
        name = onnx_name(t["name"])
        if name and t["min"]:
            ranges[name] = [t["min"][0], t["max"][0]]
    q_bytes = converter(net, data, mode).convert()
    q, _ = tensors(q_bytes)
    interp = tf.lite.Interpreter(model_content=q_bytes)
    interp.allocate_tensors()
    acts, floats, weights = {}, [], {}
    for t in q:
        if t["name"] in WEIGHTS:
            name, axes = WEIGHTS[t["name"]]
            v = interp.get_tensor(t["index"]).transpose(*axes)
            per_channel = len(t["scale"]) > 1
            weights[name] = {
                "scale": t["scale"], "zero_point": t["zero_point"],
                # The output channels: axis 0 in TFLite's layouts; ConvTranspose's is 1 in ONNX.
                "axis": (1 if name == "wt" else 0) if per_channel else None,
                "values": v.flatten().tolist(),
            }
            continue
        name = onnx_name(t["name"])
        if name is None:
            continue
        if t["type"] in (7, 9) and t["scale"]:
            acts[name] = {"scale": t["scale"][0], "zero_point": t["zero_point"][0],
                          "dtype": INT_TYPES[t["type"]]}
        elif t["type"] == 0 and name not in ("x", "softmax"):
            floats.append(name)
    return {"tensorflow": tf.__version__, "mode": mode, "ranges": ranges, "tensors": acts,
            "float": floats, "weights": weights}


def main():
    w = weights()
    net = Net(w)
    rng = np.random.default_rng(5)
    data = [rng.standard_normal((BATCH, 16, 16, 3)).astype(np.float32) for _ in range(BATCHES)]
    OUT.mkdir(parents=True, exist_ok=True)
    onnx.save(onnx_graph(w), OUT / "tflite_graph_ops.onnx")
    for mode in ("int8", "16x8"):
        ref = reference(net, data, mode)
        path = OUT / f"tflite_graph_ops_{mode}.json"
        path.write_text(json.dumps(ref, indent=1) + "\n")
        print(f"{path}: {len(ref['tensors'])} quantized tensors, float: {ref['float']}")


if __name__ == "__main__":
    main()
