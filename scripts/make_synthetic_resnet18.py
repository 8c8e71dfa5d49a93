#!/usr/bin/env python3
"""A ResNet-18-shaped ONNX model at 224x224 with synthetic weights, for latency and throughput
at the scale where int8 compute pays (until qbench ships its ImageNet-scale scenario).

torchvision's ResNet-18 architecture (7x7 stem, max pool, four stages of two basic blocks, global
average pooling, a 1000-way fully connected layer), batch norm unfused as `torch.onnx.export`
writes it, opset 13, dynamic batch. Weights: He-normal, seeded. Batch-norm statistics: measured
layer by layer on seeded N(0, 1) inputs with ONNX Runtime, so activations keep a sane scale.
The weights are not trained: use it for speed and for fidelity against FP32, never for accuracy.

Not part of CI. Needs `pip install onnx numpy onnxruntime`:
    python3 scripts/make_synthetic_resnet18.py /tmp/resnet18.onnx
    qbench compare --model /tmp/resnet18.onnx --backends ort --throughput-batch 64
"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("out", help="where to write the .onnx file")
args = p.parse_args()
rng = np.random.default_rng(0)
nodes, inits = [], []
def init(name, a): inits.append(nh.from_array(a.astype(np.float32), name)); return name
cnt = [0]
def nm(p): cnt[0]+=1; return f"{p}{cnt[0]}"
def conv(x, cin, cout, k, s, p):
    w = rng.normal(0, np.sqrt(2.0/(cout*k*k)), (cout, cin, k, k))
    n = nm("conv"); y = n+"_out"
    nodes.append(h.make_node("Conv", [x, init(n+".w", w)], [y], name=n, kernel_shape=[k,k], strides=[s,s], pads=[p,p,p,p]))
    return y
def bn(x, c, scale=1.0):
    n = nm("bn"); y = n+"_out"
    nodes.append(h.make_node("BatchNormalization", [x, init(n+".g", np.full(c, scale)), init(n+".b", np.zeros(c)), init(n+".m", np.zeros(c)), init(n+".v", np.ones(c))], [y], name=n, epsilon=1e-5))
    return y
def relu(x): n=nm("relu"); nodes.append(h.make_node("Relu",[x],[n],name=n)); return n
def add(a,b): n=nm("add"); nodes.append(h.make_node("Add",[a,b],[n],name=n)); return n
x = "input"
y = relu(bn(conv(x,3,64,7,2,3),64))
n=nm("pool"); nodes.append(h.make_node("MaxPool",[y],[n],name=n,kernel_shape=[3,3],strides=[2,2],pads=[1,1,1,1])); y=n
cin=64
for i,(c,s) in enumerate([(64,1),(128,2),(256,2),(512,2)]):
    for b in range(2):
        st = s if b==0 else 1
        idt = y
        o = relu(bn(conv(y,cin,c,3,st,1),c))
        o = bn(conv(o,c,c,3,1,1),c,0.5)
        if st!=1 or cin!=c: idt = bn(conv(y,cin,c,1,st,0),c)
        y = relu(add(o,idt)); cin=c
n=nm("gap"); nodes.append(h.make_node("GlobalAveragePool",[y],[n],name=n)); y=n
n=nm("flat"); nodes.append(h.make_node("Flatten",[y],[n],name=n,axis=1)); y=n
nodes.append(h.make_node("Gemm",[y, init("fc.w", rng.normal(0,0.01,(1000,512))), init("fc.b", np.zeros(1000))],["logits"],name="fc",transB=1))
g = h.make_graph(nodes,"resnet18",[h.make_tensor_value_info("input",T.FLOAT,["N",3,224,224])],[h.make_tensor_value_info("logits",T.FLOAT,["N",1000])],inits)
m = h.make_model(g, opset_imports=[h.make_opsetid("",13)]); m.ir_version=8
# BN statistics: run with onnxruntime exposing the BN inputs, set mean/var layer by layer.
import onnxruntime as ort
xb = rng.normal(0,1,(16,3,224,224)).astype(np.float32)
bns = [nd for nd in g.node if nd.op_type=="BatchNormalization"]
for nd in bns:
    mm = onnx.ModelProto(); mm.CopyFrom(m)
    mm.graph.output.append(h.make_tensor_value_info(nd.input[0], T.FLOAT, None))
    s = ort.InferenceSession(mm.SerializeToString(), providers=["CPUExecutionProvider"])
    a = s.run([nd.input[0]], {"input": xb})[0]
    mean = a.mean(axis=(0,2,3)); var = a.var(axis=(0,2,3))
    for t in m.graph.initializer:
        if t.name == nd.input[3]: t.CopyFrom(nh.from_array(mean.astype(np.float32), t.name))
        if t.name == nd.input[4]: t.CopyFrom(nh.from_array(var.astype(np.float32), t.name))
onnx.checker.check_model(m)
onnx.save(m, args.out)
s = ort.InferenceSession(args.out, providers=["CPUExecutionProvider"])
out = s.run(None, {"input": xb[:4]})[0]
print(out.shape, out.std(), out.argmax(1))
