#!/usr/bin/env python3
"""Quantize time and peak memory: qbench's quantizer next to ONNX Runtime's Python tool.

Runs, side by side on the same machine, model and calibration split:
  * ONNX Runtime's `quantize_static` (QDQ, its defaults: S8S8, per tensor) with MinMax, Entropy
    and Percentile, each in a fresh Python process (peak RSS from getrusage), timed from reading
    the calibration split to the written model, as qbench is;
  * `qbench calibration-profile --child <technique>` for the matching qbench rows
    (`ort-static-minmax`, `-entropy`, `-percentile`), each its own process.
Repeats each measurement R times, interleaved, and prints medians and the qbench / ORT ratios as
a Markdown table. Both read the scenario's calibration split from its IDX files and normalize it
the same way, in batches of 50.

Not part of CI. Needs `pip install onnxruntime==1.31.1 numpy` and a release build of qbench:
    cargo build --release
    python3 scripts/quantize_time_vs_ort.py --scenario resnet --repeats 5
"""

import argparse
import gzip
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

METHODS = {"MinMax": "ort-static-minmax", "Entropy": "ort-static-entropy",
           "Percentile": "ort-static-percentile"}
BATCH = 50


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    _, _, kind, rank = struct.unpack(">BBBB", data[:4])
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return dims, data[4 + 4 * rank:]


def ort_child(model, images, mean, std, method, out):
    """Runs in a fresh interpreter: one quantize_static call, prints its time and peak RSS."""
    import resource

    import numpy as np
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          quantize_static)

    # The clock covers reading and normalizing the split, as qbench's does (its calibration
    # source opens the data set itself).
    start = time.perf_counter()
    dims, raw = read_idx(images)
    x = np.frombuffer(raw, dtype=np.uint8).reshape(dims[0], 1, dims[1], dims[2])
    x = ((x.astype(np.float32) / np.float32(255.0) - np.float32(mean)) / np.float32(std))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"input": x[i:i + BATCH]} for i in range(0, len(x), BATCH)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(model, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=False,
                    calibrate_method=getattr(CalibrationMethod, method))
    ms = (time.perf_counter() - start) * 1e3
    print(json.dumps({"quantize_ms": ms,
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def run_ort(args, method):
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, __file__, "--ort-child", method, "--model", args.model,
             "--images", args.images, "--mean", str(args.mean), "--std", str(args.std),
             "--out", os.path.join(tmp, "q.onnx")],
            check=True, capture_output=True, text=True, cwd=tmp)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_qbench(args, technique):
    out = subprocess.run(
        [args.qbench, "calibration-profile", "--scenario", args.scenario, "--child", technique],
        check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="resnet")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--qbench", default="target/release/qbench")
    p.add_argument("--model", default="scenarios/resnet/resnet.onnx")
    p.add_argument("--images", default="scenarios/resnet/data/calib-images-idx3-ubyte.gz")
    p.add_argument("--mean", type=float, default=0.2860)
    p.add_argument("--std", type=float, default=0.3530)
    p.add_argument("--ort-child", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.ort_child:
        ort_child(os.path.abspath(args.model), os.path.abspath(args.images), args.mean, args.std,
                  args.ort_child, args.out)
        return
    args.model, args.images = os.path.abspath(args.model), os.path.abspath(args.images)
    import onnxruntime
    results = {m: {"ort": [], "qbench": []} for m in METHODS}
    calibrated_on = set()
    for r in range(args.repeats):
        for method, technique in METHODS.items():
            # Alternate the order so that slow phases of a shared machine hit both alike.
            pair = [("ort", lambda: run_ort(args, method)),
                    ("qbench", lambda: run_qbench(args, technique))]
            for name, f in (pair if r % 2 == 0 else reversed(pair)):
                got = f()
                results[method][name].append(got)
                if name == "qbench":
                    calibrated_on.add(got.get("calibrated_on") or "?")
    med = lambda rows, k: statistics.median(x[k] for x in rows)
    print(f"qbench calibration on {', '.join(sorted(calibrated_on))}; ONNX Runtime "
          f"{onnxruntime.__version__}; {args.repeats} interleaved repeats, medians; "
          f"scenario {args.scenario}, batch {BATCH}\n")
    print("| method | qbench ms | ORT Python ms | time ratio | qbench peak MiB | ORT peak MiB | "
          "memory ratio |")
    print("|---|---|---|---|---|---|---|")
    for method in METHODS:
        q, o = results[method]["qbench"], results[method]["ort"]
        qt, ot = med(q, "quantize_ms"), med(o, "quantize_ms")
        qm, om = med(q, "peak_rss_bytes") / 2**20, med(o, "peak_rss_bytes") / 2**20
        print(f"| {method} | {qt:.0f} | {ot:.0f} | {qt / ot:.2f}x | {qm:.1f} | {om:.1f} | "
              f"{qm / om:.2f}x |")


if __name__ == "__main__":
    main()
