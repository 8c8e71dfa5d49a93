#!/usr/bin/env python3
"""Already-quantized models made by ONNX Runtime's own tool, for qbench's import path.

Quantizes the `resnet` scenario's FP32 model with onnxruntime.quantization on its calibration
split, as a user would before handing the result to `qbench compare --artifact NAME=FILE`:
QDQ (uint8 activations, int8 per-channel weights), QOperator (QLinearConv) and dynamic.
The files are committed (about 95 KB each) as inputs of harness/tests/imported.rs.

Usage (needs `pip install onnxruntime==1.31.1 onnx numpy`):
    python3 scripts/ort_tool_artifacts.py
Writes harness/tests/fixtures/ort_tool_{qdq,qoperator,dynamic}.onnx.
"""
import sys
from pathlib import Path

import onnxruntime
from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ort_reference_qparams import MODEL, ROOT, Reader, calibration_images  # noqa: E402

OUT = ROOT / "harness/tests/fixtures"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    images = calibration_images()
    for name, fmt in [("qdq", QuantFormat.QDQ), ("qoperator", QuantFormat.QOperator)]:
        out = OUT / f"ort_tool_{name}.onnx"
        quantize_static(str(MODEL), str(out), Reader(images), quant_format=fmt,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=True, calibrate_method=CalibrationMethod.MinMax)
        print("wrote", out, "with onnxruntime", onnxruntime.__version__, file=sys.stderr)
    out = OUT / "ort_tool_dynamic.onnx"
    quantize_dynamic(str(MODEL), str(out), weight_type=QuantType.QInt8)
    print("wrote", out, file=sys.stderr)


if __name__ == "__main__":
    main()
