#!/usr/bin/env python3
"""ONNX Runtime's per-operator QDQ decisions on a graph of the operators real models carry.

Builds a small graph with the operators that exported CNN classifiers and detectors use
(Conv + Relu, MaxPool, a HardSwish written as Add/Clip/Mul/Div, HardSigmoid, Mul with a
constant, Concat, Transpose, Resize, ConvTranspose, Sigmoid, Pad, GlobalAveragePool, Reshape,
MatMul with a constant weight and an Add bias, Softmax), seeded calibration data, and runs
onnxruntime.quantization.quantize_static (QDQ, MinMax) under several settings. For each one it
records the calibrated ranges ONNX Runtime's MinMax calibrator computed, the operators of the
quantized graph, and every QuantizeLinear / DequantizeLinear node: the tensor, its scale(s),
zero point(s), axis and, for quantized initializers, their integer values.

qbench's fidelity test (adapters/quant/tests/ort_graph_ops_fidelity.rs) feeds the same ranges to
its own ONNX Runtime QDQ rewrite and compares every decision and every number.

Usage (needs `pip install onnxruntime==1.31.1 onnx numpy`):
    python3 scripts/ort_reference_graph_ops.py
Writes adapters/quant/tests/fixtures/graph_ops.onnx and ort_graph_ops_<setting>.json (small;
committed).
"""
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.calibrate import create_calibrator

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "adapters/quant/tests/fixtures"
BATCH, BATCHES = 2, 4


def build() -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    w2 = f(8, 8, 1, 1) * 0.3
    # A dead output channel with a live bias: per channel, its weight scale is so small that
    # the int32 bias would overflow, and ONNX Runtime raises the weight scale.
    w2[0] = 1e-7
    inits = [
        numpy_helper.from_array(f(8, 3, 3, 3) * 0.3, "w1"),
        numpy_helper.from_array(f(8) * 0.1, "b1"),
        numpy_helper.from_array(w2, "w2"),
        numpy_helper.from_array(np.array([5.0, 1, -1, 0.5, 0, 0.2, -0.3, 0.1], np.float32), "b2"),
        numpy_helper.from_array(np.array(3.0, np.float32), "three"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(6.0, np.float32), "six"),
        numpy_helper.from_array(f(1, 8, 1, 1) * 0.5 + 1.0, "gain"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
        numpy_helper.from_array(f(16, 4, 2, 2) * 0.2, "wt"),
        numpy_helper.from_array(f(4) * 0.1, "bt"),
        numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads"),
        numpy_helper.from_array(np.array([-1, 4], np.int64), "shape"),
        numpy_helper.from_array(f(4, 3), "wm"),
        numpy_helper.from_array(f(3) * 0.1, "bm"),
    ]
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], "conv1", pads=[1, 1, 1, 1]),
        n("Relu", ["c1"], ["r1"], "relu1"),
        n("MaxPool", ["r1"], ["p"], "pool", kernel_shape=[2, 2], strides=[2, 2]),
        n("Conv", ["p", "w2", "b2"], ["c2"], "conv2"),
        n("Add", ["c2", "three"], ["a3"], "add3"),
        n("Clip", ["a3", "zero", "six"], ["cl"], "clip"),
        n("Mul", ["c2", "cl"], ["m"], "mul"),
        n("Div", ["m", "six"], ["hs"], "div"),
        n("HardSigmoid", ["hs"], ["hsig"], "hardsigmoid", alpha=0.2, beta=0.5),
        n("Mul", ["hs", "hsig"], ["se"], "mul_se"),
        n("Mul", ["se", "gain"], ["g"], "mul_gain"),
        n("Concat", ["g", "p"], ["cat"], "concat", axis=1),
        n("Transpose", ["cat"], ["tr"], "transpose", perm=[0, 1, 3, 2]),
        n("Resize", ["tr", "", "scales"], ["up"], "resize", mode="nearest"),
        n("ConvTranspose", ["up", "wt", "bt"], ["ct"], "convt", strides=[2, 2]),
        n("Sigmoid", ["ct"], ["sg"], "sigmoid"),
        n("Pad", ["sg", "pads"], ["pd"], "pad", mode="constant"),
        n("GlobalAveragePool", ["pd"], ["gap"], "gap"),
        n("Reshape", ["gap", "shape"], ["rs"], "reshape"),
        n("MatMul", ["rs", "wm"], ["mm"], "matmul"),
        n("Add", ["mm", "bm"], ["lg"], "add_bias"),
        n("Softmax", ["lg"], ["y"], "softmax", axis=1),
    ]
    g = helper.make_graph(
        nodes, "graph_ops",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [BATCH, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [BATCH, 3])],
        inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="qbench")
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def batches() -> list:
    rng = np.random.default_rng(11)
    return [rng.standard_normal((BATCH, 3, 8, 8)).astype(np.float32) * 2.0 for _ in range(BATCHES)]


class Reader(CalibrationDataReader):
    def __init__(self):
        self.it = iter([{"x": b} for b in batches()])

    def get_next(self):
        return next(self.it, None)


def record(path: Path) -> dict:
    m = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    qdq = []
    for n in m.graph.node:
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        axis = [a.i for a in n.attribute if a.name == "axis"]
        s, z = inits[n.input[1]], inits[n.input[2]]
        e = {"op": n.op_type, "input": n.input[0], "output": n.output[0],
             "axis": axis[0] if axis else None,
             "scale": np.asarray(s, np.float32).ravel().tolist(),
             "zero_point": np.asarray(z).astype(np.int64).ravel().tolist(),
             "zero_point_type": str(z.dtype)}
        if n.op_type == "DequantizeLinear" and n.input[0] in inits:
            e["values"] = np.asarray(inits[n.input[0]]).astype(np.int64).ravel().tolist()
        qdq.append(e)
    return {"op_types": [n.op_type for n in m.graph.node], "qdq": qdq}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    model_path = OUT / "graph_ops.onnx"
    onnx.save(build(), str(model_path))
    settings = {
        "s8s8": dict(),
        "s8s8-per-channel": dict(per_channel=True),
        "u8s8-per-channel": dict(activation_type=QuantType.QUInt8, per_channel=True),
        "u8u8": dict(activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8),
        "s8s8-reduce-range": dict(reduce_range=True),
    }
    with tempfile.TemporaryDirectory() as tmp:
        calib = create_calibrator(model_path, [], augmented_model_path=str(Path(tmp) / "aug.onnx"),
                                  calibrate_method=CalibrationMethod.MinMax)
        calib.collect_data(Reader())
        ranges = {k: [float(np.ravel(v.range_value[0])[0]), float(np.ravel(v.range_value[1])[0])]
                  for k, v in calib.compute_data().data.items()}
        for name, kw in settings.items():
            out = Path(tmp) / f"{name}.onnx"
            kw = {"activation_type": QuantType.QInt8, "weight_type": QuantType.QInt8, **kw}
            quantize_static(str(model_path), str(out), Reader(), quant_format=QuantFormat.QDQ,
                            calibrate_method=CalibrationMethod.MinMax, **kw)
            doc = {"onnxruntime": onnxruntime.__version__,
                   "settings": {k: str(v) for k, v in kw.items()},
                   "ranges": ranges, **record(out)}
            path = OUT / f"ort_graph_ops_{name}.json"
            path.write_text(json.dumps(doc, indent=1))
            print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
