"""The ONNX model around a reference script's hand-written graph (used by
pytorch_reference_graph_ops.py and tflite_reference_graph_ops.py): input `x` (N, 3, 16, 16),
output `softmax` (N, 5), opset 18, checked by onnx's full checker."""
import onnx
from onnx import TensorProto, helper


def graph_ops_model(nodes, inits, name: str) -> onnx.ModelProto:
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("softmax", TensorProto.FLOAT, ["N", 5])],
        inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m
