#!/usr/bin/env python3
"""PyTorch's per-operator quantization decisions on a graph of the operators real models carry.

Builds a small `nn.Module` (Conv+ReLU, Conv, add and mul of two tensors, add and mul by a scalar,
MaxPool, AvgPool, Sigmoid, Hardsigmoid, cat, Tanh, Hardswish, LeakyReLU, ConvTranspose2d, ReLU6,
AdaptiveAvgPool2d, mean, interpolate, exp, flatten, reshape, Linear, Softmax) and the same graph
written by hand in ONNX with the same weights and tensor names, then runs FX graph mode
post-training quantization (`prepare_fx` with `get_default_qconfig_mapping(backend)`, seeded
calibration, `convert_fx`) for the x86 and qnnpack backends. For each it records:

* `ranges`: what each activation observer settled on (a HistogramObserver's L2 range search,
  `_non_linear_param_search`), keyed by the ONNX tensor it observes;
* `tensors`: the quantization parameters every tensor of the lowered model carries at run time
  (scale, zero point), found by running the lowered graph node by node, so the parameters the
  quantized kernels derive themselves (`add_scalar`, `mul_scalar`) are the real ones;
* `float`: the ONNX tensors the lowered model computes in float;
* `weights`: each quantized weight's scales, zero points, axis and integer values.

qbench's fidelity test (adapters/quant/tests/pytorch_graph_ops_fidelity.rs) feeds the same ranges
to its PyTorch recipes and compares every decision and every number.

Usage (needs `pip install torch onnx numpy`; checked with torch 2.15.0):
    python3 scripts/pytorch_reference_graph_ops.py
Writes adapters/quant/tests/fixtures/torch_graph_ops.onnx and torch_graph_ops_<backend>.json.
"""
import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import helper, numpy_helper

from graph_ops_onnx import graph_ops_model
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "adapters/quant/tests/fixtures"
SHAPE = (2, 3, 16, 16)
BATCHES = 4


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.maxpool = nn.MaxPool2d(2)
        self.avgpool = nn.AvgPool2d(2)
        self.sigmoid = nn.Sigmoid()
        self.hsig = nn.Hardsigmoid()
        self.tanh = nn.Tanh()
        self.hswish = nn.Hardswish()
        self.lrelu = nn.LeakyReLU(0.1)
        self.deconv = nn.ConvTranspose2d(24, 4, 2, stride=2)
        self.relu6 = nn.ReLU6()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        relu1 = self.relu1(self.conv1(x))
        conv2 = self.conv2(relu1)
        add = relu1 + conv2
        mul = add * conv2
        add_1 = mul + 1.5
        mul_1 = add_1 * 0.25
        maxpool = self.maxpool(mul_1)
        avgpool = self.avgpool(conv2)
        sigmoid = self.sigmoid(maxpool)
        hsig = self.hsig(avgpool)
        cat = torch.cat([sigmoid, hsig], 1)
        tanh = self.tanh(cat)
        hswish = self.hswish(avgpool)
        lrelu = self.lrelu(hswish)
        cat_1 = torch.cat([tanh, lrelu], 1)
        deconv = self.deconv(cat_1)
        relu6 = self.relu6(deconv)
        mean = torch.mean(relu6, (2, 3), keepdim=True)
        interpolate = F.interpolate(relu6, scale_factor=0.5, mode="nearest")
        exp = torch.exp(interpolate)
        gap = self.gap(exp)
        cat_2 = torch.cat([gap, mean], 1)
        flatten = torch.flatten(cat_2, 1)
        reshape = flatten.reshape(-1, 8)
        fc = self.fc(reshape)
        return self.softmax(fc)


def onnx_graph(net: Net) -> onnx.ModelProto:
    """`net` in ONNX, node for node, each tensor named like the FX node that computes it."""
    a = lambda t: t.detach().numpy().astype(np.float32)  # noqa: E731
    inits = [
        numpy_helper.from_array(a(net.conv1.weight), "conv1.weight"),
        numpy_helper.from_array(a(net.conv1.bias), "conv1.bias"),
        numpy_helper.from_array(a(net.conv2.weight), "conv2.weight"),
        numpy_helper.from_array(a(net.conv2.bias), "conv2.bias"),
        numpy_helper.from_array(np.array(1.5, np.float32), "c1_5"),
        numpy_helper.from_array(np.array(0.25, np.float32), "c0_25"),
        numpy_helper.from_array(a(net.deconv.weight), "deconv.weight"),
        numpy_helper.from_array(a(net.deconv.bias), "deconv.bias"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(6.0, np.float32), "six"),
        numpy_helper.from_array(np.array([1, 1, 0.5, 0.5], np.float32), "half"),
        numpy_helper.from_array(np.array([-1, 8], np.int64), "shape"),
        numpy_helper.from_array(np.array([2, 3], np.int64), "hw"),
        numpy_helper.from_array(a(net.fc.weight), "fc.weight"),
        numpy_helper.from_array(a(net.fc.bias), "fc.bias"),
    ]
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "conv1.weight", "conv1.bias"], ["conv1"], "conv1", pads=[1, 1, 1, 1]),
        n("Relu", ["conv1"], ["relu1"], "relu1"),
        n("Conv", ["relu1", "conv2.weight", "conv2.bias"], ["conv2"], "conv2", pads=[1, 1, 1, 1]),
        n("Add", ["relu1", "conv2"], ["add"], "add"),
        n("Mul", ["add", "conv2"], ["mul"], "mul"),
        n("Add", ["mul", "c1_5"], ["add_1"], "add_1"),
        n("Mul", ["add_1", "c0_25"], ["mul_1"], "mul_1"),
        n("MaxPool", ["mul_1"], ["maxpool"], "maxpool", kernel_shape=[2, 2], strides=[2, 2]),
        n("AveragePool", ["conv2"], ["avgpool"], "avgpool", kernel_shape=[2, 2], strides=[2, 2]),
        n("Sigmoid", ["maxpool"], ["sigmoid"], "sigmoid"),
        n("HardSigmoid", ["avgpool"], ["hsig"], "hsig", alpha=1.0 / 6.0, beta=0.5),
        n("Concat", ["sigmoid", "hsig"], ["cat"], "cat", axis=1),
        n("Tanh", ["cat"], ["tanh"], "tanh"),
        n("HardSwish", ["avgpool"], ["hswish"], "hswish"),
        n("LeakyRelu", ["hswish"], ["lrelu"], "lrelu", alpha=0.1),
        n("Concat", ["tanh", "lrelu"], ["cat_1"], "cat_1", axis=1),
        n("ConvTranspose", ["cat_1", "deconv.weight", "deconv.bias"], ["deconv"], "deconv",
          strides=[2, 2]),
        n("Clip", ["deconv", "zero", "six"], ["relu6"], "relu6"),
        n("ReduceMean", ["relu6", "hw"], ["mean"], "mean", keepdims=1),
        n("Resize", ["relu6", "", "half"], ["interpolate"], "interpolate", mode="nearest",
          nearest_mode="floor"),
        n("Exp", ["interpolate"], ["exp"], "exp"),
        n("GlobalAveragePool", ["exp"], ["gap"], "gap"),
        n("Concat", ["gap", "mean"], ["cat_2"], "cat_2", axis=1),
        n("Flatten", ["cat_2"], ["flatten"], "flatten", axis=1),
        n("Reshape", ["flatten", "shape"], ["reshape"], "reshape"),
        n("Gemm", ["reshape", "fc.weight", "fc.bias"], ["fc"], "fc", transB=1),
        n("Softmax", ["fc"], ["softmax"], "softmax", axis=1),
    ]
    return graph_ops_model(nodes, inits, "torch_graph_ops")


def check_same(net: Net, model: onnx.ModelProto, x: torch.Tensor):
    """The ONNX graph computes what the module does (checked with onnx's reference evaluator)."""
    from onnx.reference import ReferenceEvaluator
    got = ReferenceEvaluator(model).run(None, {"x": x.numpy()})[0]
    want = net(x).detach().numpy()
    assert np.allclose(got, want, atol=1e-5), np.abs(got - want).max()


# What the lowered graph's nodes are called, in order, for the ONNX tensors they compute.
# conv1 is the fused ConvReLU2d: its output is the ONNX Relu's.
FX_TO_ONNX = {"conv1": "relu1"}


def run_lowered(lowered, x):
    """Runs the lowered graph node by node; the value each compute node produced."""
    env = {}

    class Rec(torch.fx.Interpreter):
        def run_node(self, node):
            out = super().run_node(node)
            env[node] = out
            return out

    Rec(lowered).run(x)
    return env


def is_compute(node) -> bool:
    if node.op in ("placeholder", "output", "get_attr"):
        return False
    t = node.target
    return not (t in (torch.quantize_per_tensor,) or t == "dequantize")


def reference(backend: str, net: Net, data):
    torch.backends.quantized.engine = backend
    prepared = prepare_fx(net, get_default_qconfig_mapping(backend), (data[0],))
    for x in data:
        prepared(x)
    mods = dict(prepared.named_modules(remove_duplicate=False))
    ranges = {}
    for node in prepared.graph.nodes:
        if node.op == "call_module" and node.target.startswith("activation_post_process"):
            obs = mods[node.target]
            src = node.args[0]
            name = "x" if src.op == "placeholder" else FX_TO_ONNX.get(src.name, src.name)
            if hasattr(obs, "_non_linear_param_search"):
                lo, hi = obs._non_linear_param_search()
                ranges[name] = [float(lo), float(hi)]
            else:
                ranges[name] = None  # fixed qparams
    lowered = convert_fx(prepared)
    env = run_lowered(lowered, data[0])
    # Map the lowered compute nodes onto the module's own (same order, same count).
    traced = [n for n in torch.fx.symbolic_trace(net).graph.nodes if is_compute(n)]
    traced = [n for n in traced if n.name != "relu1"]  # fused into conv1
    lowered_nodes = [n for n in lowered.graph.nodes if is_compute(n)]
    assert len(traced) == len(lowered_nodes), (len(traced), len(lowered_nodes))
    qparams = lambda v: {"scale": float(v.q_scale()),  # noqa: E731
                         "zero_point": int(v.q_zero_point()),
                         "dtype": str(v.dtype).removeprefix("torch.")}
    onnx_name = {l: FX_TO_ONNX.get(t.name, t.name) for t, l in zip(traced, lowered_nodes)}
    tensors, floats = {}, []
    for l, name in onnx_name.items():
        v = env[l]
        if v.is_quantized:
            tensors[name] = qparams(v)
        else:
            floats.append(name)
    # Float tensors quantized for a quantized reader (the graph input, a float op's output).
    for q in lowered.graph.nodes:
        if q.target is torch.quantize_per_tensor:
            src = q.args[0]
            tensors["x" if src.op == "placeholder" else onnx_name[src]] = qparams(env[q])
    weights = {}
    lmods = dict(lowered.named_modules())
    for mod in ("conv1", "conv2", "deconv", "fc"):
        w = lmods[mod].weight()
        if w.qscheme() in (torch.per_channel_symmetric, torch.per_channel_affine):
            s = w.q_per_channel_scales().tolist()
            z = w.q_per_channel_zero_points().tolist()
            axis = int(w.q_per_channel_axis())
        else:
            s, z, axis = [float(w.q_scale())], [int(w.q_zero_point())], None
        weights[f"{mod}.weight"] = {"scale": s, "zero_point": z, "axis": axis,
                                    "values": w.int_repr().flatten().tolist()}
    return {"torch": torch.__version__, "backend": backend, "ranges": ranges,
            "tensors": tensors, "float": floats, "weights": weights}


def main():
    torch.manual_seed(11)
    net = Net().eval()
    g = torch.Generator().manual_seed(5)
    data = [torch.randn(SHAPE, generator=g) for _ in range(BATCHES)]
    model = onnx_graph(net)
    check_same(net, model, data[0])
    OUT.mkdir(parents=True, exist_ok=True)
    onnx.save(model, OUT / "torch_graph_ops.onnx")
    for backend in ("x86", "qnnpack"):
        ref = reference(backend, net, data)
        path = OUT / f"torch_graph_ops_{backend}.json"
        path.write_text(json.dumps(ref, indent=1) + "\n")
        print(f"{path}: {len(ref['tensors'])} quantized tensors, float: {ref['float']}")


if __name__ == "__main__":
    main()
