#!/usr/bin/env python3
"""PyTorch's own QAT of the `resnet` scenario's model: the yardstick for qbench's `pytorch-qat` row.

Builds the scenario's ResNet-8 in PyTorch eager mode (QuantStub, Conv+BN+ReLU fused with
`fuse_modules_qat`, residual adds through `FloatFunctional.add_relu`, DeQuantStub), loads the
trained FP32 weights and batch-norm statistics qbench trained (`scenarios/resnet/resnet.safetensors`),
and runs PyTorch's QAT with the x86 QAT qconfig (`get_default_qat_qconfig("x86")`) on the same
data and schedule as `qbench train --qat pytorch-qat`: the 60,000 Fashion-MNIST training images,
normalized as the scenario says, one epoch in batches of 64, SGD lr 1e-4 without momentum
(PyTorch's static-quantization tutorial), batch-norm statistics frozen after 3/8 of the steps and
observers after 4/8 (the tutorial's epochs 3 and 4 of 8, scaled to one epoch). It then converts
the model (`torch.ao.quantization.convert`, x86 engine) and measures top-1 on the 10,000 test
images, for each seed given (the seed changes the shuffling only: the weights are the same).

For the first seed it also exports the fine-tuned QAT model to ONNX (`torch.onnx.export` of the
model with its fake-quant modules, opset 13, TorchScript exporter: QuantizeLinear/
DequantizeLinear pairs), which `qbench compare --artifact torch-qat=FILE` measures as an
imported row.

Usage (needs `pip install torch onnx numpy`; checked with torch 2.15.0, CPU):
    python3 scripts/pytorch_qat_reference.py [--seeds 1,2,3] [--data /usr/share/datasets/fashion-mnist]
        [--onnx scenarios/resnet/imported/torch_qat.onnx]
Prints one line per seed, and the mean and spread.
"""
import argparse
import gzip
import json
import struct
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.ao.quantization import (
    DeQuantStub,
    QuantStub,
    convert,
    disable_observer,
    fuse_modules_qat,
    get_default_qat_qconfig,
    prepare_qat,
)

ROOT = Path(__file__).resolve().parent.parent
MEAN, STD = 0.2860, 0.3530
WIDTHS, FIRST_STRIDE = [16, 32, 64], 2


def idx(path):
    data = gzip.open(path).read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def safetensors(path):
    raw = Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        assert t["dtype"] == "F32", name
        out[name] = torch.from_numpy(
            np.frombuffer(raw[8 + n + a : 8 + n + b], np.float32).reshape(t["shape"]).copy()
        )
    return out


def conv_bn(c_in, c_out, k, stride, relu):
    layers = [
        nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False),
        nn.BatchNorm2d(c_out, eps=1e-5, momentum=0.1),
    ]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Block(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = conv_bn(c_in, c_out, 3, stride, True)
        self.conv2 = conv_bn(c_out, c_out, 3, 1, False)
        self.shortcut = conv_bn(c_in, c_out, 1, stride, False) if stride != 1 or c_in != c_out else None
        self.add = nn.quantized.FloatFunctional()

    def forward(self, x):
        s = self.shortcut(x) if self.shortcut is not None else x
        return self.add.add_relu(self.conv2(self.conv1(x)), s)


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = QuantStub()
        self.stem = conv_bn(1, WIDTHS[0], 3, 1, True)
        blocks, c = [], WIDTHS[0]
        for i, w in enumerate(WIDTHS):
            blocks.append(Block(c, w, FIRST_STRIDE if i == 0 else 2))
            c = w
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, 10)
        self.dequant = DeQuantStub()

    def forward(self, x):
        h = self.stem(self.quant(x))
        for b in self.blocks:
            h = b(h)
        return self.dequant(self.fc(torch.flatten(self.pool(h), 1)))

    def fuse(self):
        fuse_modules_qat(self.stem, [["0", "1", "2"]], inplace=True)
        for b in self.blocks:
            fuse_modules_qat(b.conv1, [["0", "1", "2"]], inplace=True)
            fuse_modules_qat(b.conv2, [["0", "1"]], inplace=True)
            if b.shortcut is not None:
                fuse_modules_qat(b.shortcut, [["0", "1"]], inplace=True)


def load(model, tensors):
    def conv(prefix, seq):
        seq[0].weight.data.copy_(tensors[f"{prefix}.weight"])
        bn = seq[1]
        bn.weight.data.copy_(tensors[f"{prefix}.bn.weight"])
        bn.bias.data.copy_(tensors[f"{prefix}.bn.bias"])
        bn.running_mean.copy_(tensors[f"{prefix}.bn.running_mean"])
        bn.running_var.copy_(tensors[f"{prefix}.bn.running_var"])

    conv("stem", model.stem)
    for i, b in enumerate(model.blocks):
        conv(f"block{i}.conv1", b.conv1)
        conv(f"block{i}.conv2", b.conv2)
        if b.shortcut is not None:
            conv(f"block{i}.shortcut", b.shortcut)
    model.fc.weight.data.copy_(tensors["fc.weight"])
    model.fc.bias.data.copy_(tensors["fc.bias"])


def normalize(images):
    return torch.from_numpy(((images.astype(np.float32) / 255.0 - MEAN) / STD)[:, None])


def accuracy(model, x, y):
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 500]).argmax(1) for i in range(0, len(x), 500)])
    return (pred == y).float().mean().item()


def qat(seed, train_x, train_y, test_x, test_y, onnx_path=None):
    torch.manual_seed(seed)
    torch.backends.quantized.engine = "x86"
    model = ResNet()
    load(model, safetensors(ROOT / "scenarios/resnet/resnet.safetensors"))
    model.eval()
    fp32 = accuracy(model, test_x, test_y)
    model.fuse()
    model.qconfig = get_default_qat_qconfig("x86")
    model.train()
    prepare_qat(model, inplace=True)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    batch = 64
    steps = len(train_x) // batch
    freeze_bn, freeze_obs = round(3 / 8 * steps), round(4 / 8 * steps)
    order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))
    start = time.time()
    for step in range(steps):
        if step == freeze_bn:
            model.apply(torch.ao.nn.intrinsic.qat.freeze_bn_stats)
        if step == freeze_obs:
            model.apply(disable_observer)
        idx = order[step * batch : (step + 1) * batch]
        loss = nn.functional.cross_entropy(model(train_x[idx]), train_y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.time() - start
    model.eval()
    fake_quant = accuracy(model, test_x, test_y)
    quantized = convert(model, inplace=False)
    if onnx_path:
        export(model, test_x[:1], onnx_path)
    return fp32, fake_quant, accuracy(quantized, test_x, test_y), seconds


def export(model, example, path):
    """The QAT model with its fake quantizers as QuantizeLinear/DequantizeLinear pairs. The x86
    QAT qconfig's `FusedMovingAvgObsFakeQuantize` runs `aten::fused_moving_avg_obs_fake_quant`,
    which the ONNX exporter does not know; with its observer off it computes
    `fake_quantize_per_{tensor,channel}_affine` with its settled scale and zero point, which the
    exporter writes as Q/DQ, so each is swapped for that for the export."""
    from torch.ao.quantization.fake_quantize import FusedMovingAvgObsFakeQuantize

    class Frozen(nn.Module):
        def __init__(self, fq):
            super().__init__()
            self.per_channel = fq.is_per_channel
            self.axis = fq.ch_axis
            self.register_buffer("scale", fq.scale.detach().clone())
            self.register_buffer("zero_point", fq.zero_point.detach().clone())
            self.qmin, self.qmax = fq.quant_min, fq.quant_max

        def forward(self, x):
            if self.per_channel:
                return torch.fake_quantize_per_channel_affine(
                    x, self.scale, self.zero_point.int(), self.axis, self.qmin, self.qmax
                )
            return torch.fake_quantize_per_tensor_affine(
                x, float(self.scale), int(self.zero_point), self.qmin, self.qmax
            )

    import copy

    m = copy.deepcopy(model)
    for name, mod in list(m.named_modules()):
        for child_name, child in list(mod.named_children()):
            if isinstance(child, FusedMovingAvgObsFakeQuantize):
                setattr(mod, child_name, Frozen(child))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            m,
            example,
            path,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
            opset_version=13,
            dynamo=False,
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--onnx", default=str(ROOT / "scenarios/resnet/imported/torch_qat.onnx"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    d = Path(args.data)
    train_x = normalize(idx(d / "train-images-idx3-ubyte.gz"))
    train_y = torch.from_numpy(idx(d / "train-labels-idx1-ubyte.gz").astype(np.int64))
    test_dir = ROOT / "scenarios/resnet/data"
    test_x = normalize(idx(test_dir / "t10k-images-idx3-ubyte.gz"))
    test_y = torch.from_numpy(idx(test_dir / "t10k-labels-idx1-ubyte.gz").astype(np.int64))
    results = []
    for i, seed in enumerate(int(s) for s in args.seeds.split(",")):
        fp32, fq, q, secs = qat(seed, train_x, train_y, test_x, test_y, args.onnx if i == 0 else None)
        results.append(q)
        print(
            f"seed {seed}: FP32 {fp32:.2%}, QAT fake-quantized {fq:.2%}, converted (x86) {q:.2%}, "
            f"{secs:.0f} s of training"
        )
    a = np.array(results)
    print(
        f"converted top-1 over {len(a)} seeds: mean {a.mean():.2%}, min {a.min():.2%}, "
        f"max {a.max():.2%}, spread (max - min) {100 * (a.max() - a.min()):.2f} points"
    )
    print(f"torch {torch.__version__}; ONNX export of seed {args.seeds.split(',')[0]}: {args.onnx}")


if __name__ == "__main__":
    main()
