//! Export of a trained ResNet to ONNX (opset 13) with batch norm folded into the convolutions.

use candle_core::Tensor;
use qbench_onnx::{Attribute, DType, Dim, Graph, Model, Node, TensorData, ValueInfo};

use crate::layers::ConvBn;
use crate::{ResNet, TrainError};

/// Name of the model input (NCHW float, symbolic batch `N`).
pub const INPUT: &str = "input";
/// Name of the model output (logits, `N x classes`).
pub const OUTPUT: &str = "logits";

fn tensor(name: &str, t: &Tensor) -> Result<TensorData, TrainError> {
    let dims = t.dims().iter().map(|d| *d as i64).collect();
    let values = t.flatten_all()?.to_vec1::<f32>()?;
    Ok(TensorData::from_f32(name, dims, &values))
}

struct Builder {
    graph: Graph,
}

impl Builder {
    fn conv(&mut self, name: &str, c: &ConvBn, x: &str) -> Result<String, TrainError> {
        let (w, b) = c.folded()?;
        let k = w.dim(2)? as i64;
        let (wn, bn, out) = (
            format!("{name}.weight"),
            format!("{name}.bias"),
            format!("{name}.out"),
        );
        self.graph.add_initializer(tensor(&wn, &w)?);
        self.graph.add_initializer(tensor(&bn, &b)?);
        let p = c.padding as i64;
        let s = c.stride as i64;
        self.graph.add_node(
            Node::new(name, "Conv", &[x, &wn, &bn], &[&out])
                .with_attr("kernel_shape", Attribute::Ints(vec![k, k]))
                .with_attr("pads", Attribute::Ints(vec![p, p, p, p]))
                .with_attr("strides", Attribute::Ints(vec![s, s]))
                .with_attr("dilations", Attribute::Ints(vec![1, 1]))
                .with_attr("group", Attribute::Int(1)),
        );
        Ok(out)
    }

    fn unary(&mut self, name: &str, op: &str, x: &str) -> String {
        let out = format!("{name}.out");
        self.graph.add_node(Node::new(name, op, &[x], &[&out]));
        out
    }
}

impl ResNet {
    /// The inference graph: batch norm folded, ONNX opset 13, input `input` `[N, C, H, W]`.
    pub fn to_onnx(&self, height: usize, width: usize) -> Result<Model, TrainError> {
        let mut b = Builder {
            graph: Graph {
                name: "qbench_resnet".into(),
                ..Default::default()
            },
        };
        b.graph.inputs.push(ValueInfo {
            name: INPUT.into(),
            dtype: DType::F32,
            shape: vec![
                Dim::Param("N".into()),
                Dim::Fixed(self.config.in_channels as i64),
                Dim::Fixed(height as i64),
                Dim::Fixed(width as i64),
            ],
        });
        let x = b.conv("stem", &self.stem, INPUT)?;
        let mut h = b.unary("stem.relu", "Relu", &x);
        for (i, blk) in self.blocks.iter().enumerate() {
            let y = b.conv(&format!("block{i}.conv1"), &blk.conv1, &h)?;
            let y = b.unary(&format!("block{i}.relu1"), "Relu", &y);
            let y = b.conv(&format!("block{i}.conv2"), &blk.conv2, &y)?;
            let s = match &blk.shortcut {
                Some(sc) => b.conv(&format!("block{i}.shortcut"), sc, &h)?,
                None => h.clone(),
            };
            let sum = format!("block{i}.add.out");
            b.graph.add_node(Node::new(
                format!("block{i}.add"),
                "Add",
                &[&y, &s],
                &[&sum],
            ));
            h = b.unary(&format!("block{i}.relu2"), "Relu", &sum);
        }
        let pooled = b.unary("pool", "GlobalAveragePool", &h);
        let flat = "flatten.out";
        b.graph.add_node(
            Node::new("flatten", "Flatten", &[&pooled], &[flat])
                .with_attr("axis", Attribute::Int(1)),
        );
        b.graph
            .add_initializer(tensor("fc.weight", self.fc.weight.as_tensor())?);
        b.graph
            .add_initializer(tensor("fc.bias", self.fc.bias.as_tensor())?);
        b.graph.add_node(
            Node::new("fc", "Gemm", &[flat, "fc.weight", "fc.bias"], &[OUTPUT])
                .with_attr("transB", Attribute::Int(1))
                .with_attr("alpha", Attribute::Float(1.0))
                .with_attr("beta", Attribute::Float(1.0)),
        );
        b.graph.outputs.push(ValueInfo {
            name: OUTPUT.into(),
            dtype: DType::F32,
            shape: vec![
                Dim::Param("N".into()),
                Dim::Fixed(self.config.classes as i64),
            ],
        });
        Ok(Model::new(b.graph, 13))
    }
}
