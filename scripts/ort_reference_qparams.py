#!/usr/bin/env python3
"""Reference quantization parameters from ONNX Runtime's own quantization tool.

For the `resnet` scenario's FP32 model and its calibration split, run
onnxruntime.quantization.quantize_static (and quantize_dynamic) with the settings of qbench's
ONNX Runtime recipes, then record, for every QuantizeLinear / DequantizeLinear /
DynamicQuantizeLinear node, the quantized tensor, its scale(s), zero point(s), type and axis.
qbench's fidelity tests compare its own quantizer against these files.

Usage (needs `pip install onnxruntime==1.31.1 onnx numpy`):
    python3 scripts/ort_reference_qparams.py
Writes adapters/quant/tests/fixtures/ort_<recipe>.json (small; committed).
"""
import gzip
import json
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_dynamic, quantize_static)

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "scenarios/resnet/resnet.onnx"
CALIB = ROOT / "scenarios/resnet/data/calib-images-idx3-ubyte.gz"
OUT = ROOT / "adapters/quant/tests/fixtures"
MEAN, STD = 0.2860, 0.3530  # scenarios/resnet.toml [preprocess]
BATCH = 50


def calibration_images() -> np.ndarray:
    raw = gzip.decompress(CALIB.read_bytes())
    n, rows, cols = struct.unpack(">III", raw[4:16])
    x = np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, 1, rows, cols).astype(np.float32)
    return (x / np.float32(255.0) - np.float32(MEAN)) / np.float32(STD)


class Reader(CalibrationDataReader):
    def __init__(self, images: np.ndarray):
        self.batches = iter([images[i:i + BATCH] for i in range(0, len(images), BATCH)])

    def get_next(self):
        b = next(self.batches, None)
        return None if b is None else {"input": b}


def record(model_path: Path, settings: dict) -> dict:
    m = onnx.load(str(model_path))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    nodes = []
    for n in m.graph.node:
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"):
            continue
        entry = {"op": n.op_type, "name": n.name, "input": n.input[0], "output": n.output[0]}
        axis = [a.i for a in n.attribute if a.name == "axis"]
        entry["axis"] = axis[0] if axis else None
        if len(n.input) > 1:
            s = inits.get(n.input[1])
            entry["scale"] = None if s is None else np.asarray(s, dtype=np.float32).ravel().tolist()
        if len(n.input) > 2:
            z = inits.get(n.input[2])
            entry["zero_point"] = None if z is None else np.asarray(z).astype(np.int64).ravel().tolist()
            entry["zero_point_type"] = None if z is None else str(z.dtype)
        if n.op_type == "DequantizeLinear" and n.input[0] in inits:
            entry["quantized_initializer_type"] = str(inits[n.input[0]].dtype)
        nodes.append(entry)
    ops = [n.op_type for n in m.graph.node]
    return {"onnxruntime": onnxruntime.__version__, "settings": settings, "op_types": ops, "qdq": nodes}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    images = calibration_images()
    static = {
        "ort-static-minmax": dict(calibrate_method=CalibrationMethod.MinMax),
        "ort-static-entropy": dict(calibrate_method=CalibrationMethod.Entropy),
        "ort-static-percentile": dict(calibrate_method=CalibrationMethod.Percentile),
        "ort-static-minmax-per-channel": dict(calibrate_method=CalibrationMethod.MinMax, per_channel=True),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw in static.items():
            out = Path(tmp) / f"{name}.onnx"
            # quantize_static's defaults: QDQ, QInt8 activations and weights, per-tensor.
            quantize_static(str(MODEL), str(out), Reader(images), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, **kw)
            settings = {k: str(v) for k, v in kw.items()}
            (OUT / f"ort_{name}.json").write_text(json.dumps(record(out, settings), indent=1))
            print("wrote", OUT / f"ort_{name}.json", file=sys.stderr)
        out = Path(tmp) / "ort-dynamic.onnx"
        quantize_dynamic(str(MODEL), str(out), weight_type=QuantType.QInt8)
        (OUT / "ort_ort-dynamic.json").write_text(json.dumps(record(out, {"weight_type": "QInt8"}), indent=1))
        print("wrote", OUT / "ort_ort-dynamic.json", file=sys.stderr)


if __name__ == "__main__":
    main()
