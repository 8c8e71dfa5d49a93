#!/usr/bin/env python3
"""Reference outputs and gradients of TensorFlow's fake_quant_with_min_max_vars.

TF-MOT's QAT fake-quantizes activations and weights with this op (through quant_ops.py); qbench's
`qbench_qat::tf_fake_quant` reproduces it. For a fixed set of inputs and (min, max, num_bits,
narrow_range) cases, record the op's outputs and the gradient with respect to the input.

Usage (needs `pip install tensorflow-cpu==2.21.0`):
    python3 scripts/tf_fake_quant_reference.py
Writes adapters/qat/tests/fixtures/tf_fake_quant.json (small; committed).
"""
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "adapters/qat/tests/fixtures/tf_fake_quant.json"

CASES = [
    # (min, max, num_bits, narrow_range)
    (-6.0, 6.0, 8, False),      # TF-MOT's initial activation range
    (-0.37, 2.9, 8, False),     # a zero point that needs nudging
    (0.1, 3.0, 8, False),       # a range above zero (nudged to include it)
    (-1.3, -0.2, 8, False),     # a range below zero
    (-0.813, 0.813, 8, True),   # symmetric narrow-range weights
    (-2.5, 1.7, 4, False),
]


def inputs():
    xs = np.linspace(-8.0, 8.0, 161, dtype=np.float32)
    # values on and next to the grid points of each case, where rounding decides
    extra = []
    for lo, hi, bits, narrow in CASES:
        qmin = 1 if narrow else 0
        qmax = (1 << bits) - 1
        scale = (hi - lo) / (qmax - qmin)
        levels = qmax - qmin
        for k in list(range(-3, 8)) + list(range(levels // 2 - 2, levels // 2 + 3)) + list(range(levels - 5, levels + 4)):
            g = lo + k * scale
            extra += [g, g + scale / 2, g - scale / 2, np.nextafter(np.float32(g + scale / 2), np.float32(9))]
    return np.concatenate([xs, np.asarray(extra, dtype=np.float32)])


def main() -> None:
    x = inputs()
    cases = []
    for lo, hi, bits, narrow in CASES:
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = tf.quantization.fake_quant_with_min_max_vars(
                xt, tf.constant(lo), tf.constant(hi), num_bits=bits, narrow_range=narrow)
            loss = tf.reduce_sum(y * tf.range(1, len(x) + 1, dtype=tf.float32))
        g = tape.gradient(loss, xt)
        cases.append({
            "min": lo, "max": hi, "num_bits": bits, "narrow_range": narrow,
            # bit patterns, so that the comparison is exact
            "output_bits": np.asarray(y.numpy(), dtype=np.float32).view(np.uint32).tolist(),
            "grad_bits": np.asarray(g.numpy(), dtype=np.float32).view(np.uint32).tolist(),
        })
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "tensorflow": tf.__version__,
        "input_bits": x.view(np.uint32).tolist(),
        "upstream": "gradient of sum(y * [1, 2, ..., n])",
        "cases": cases,
    }))
    print("wrote", OUT, len(x), "inputs x", len(cases), "cases")


if __name__ == "__main__":
    main()
