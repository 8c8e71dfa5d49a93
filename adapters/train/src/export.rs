//! Export of a ResNet to ONNX (opset 13): with batch norm folded into the convolutions (what
//! qbench's own scenario ships), or unfused as `torch.onnx.export` writes it in training-export
//! mode (Conv without bias, then BatchNormalization), as third-party models arrive.

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
    /// Fold batch norm into the convolutions (else Conv + BatchNormalization).
    fold: bool,
}

impl Builder {
    fn conv(&mut self, name: &str, c: &ConvBn, x: &str) -> Result<String, TrainError> {
        if !self.fold {
            return self.conv_bn(name, c, x);
        }
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

    /// Conv (no bias) then BatchNormalization with the running statistics.
    fn conv_bn(&mut self, name: &str, c: &ConvBn, x: &str) -> Result<String, TrainError> {
        let w = c.weight.as_tensor();
        let k = w.dim(2)? as i64;
        let (wn, conv_out) = (format!("{name}.weight"), format!("{name}.out"));
        self.graph.add_initializer(tensor(&wn, w)?);
        let (p, s) = (c.padding as i64, c.stride as i64);
        self.graph.add_node(
            Node::new(name, "Conv", &[x, &wn], &[&conv_out])
                .with_attr("kernel_shape", Attribute::Ints(vec![k, k]))
                .with_attr("pads", Attribute::Ints(vec![p, p, p, p]))
                .with_attr("strides", Attribute::Ints(vec![s, s]))
                .with_attr("dilations", Attribute::Ints(vec![1, 1]))
                .with_attr("group", Attribute::Int(1)),
        );
        let bn = format!("{name}.bn");
        let params = [
            ("weight", c.gamma.as_tensor().clone()),
            ("bias", c.beta.as_tensor().clone()),
            ("running_mean", c.bn.running_mean().clone()),
            ("running_var", c.bn.running_var().clone()),
        ];
        let mut inputs = vec![conv_out];
        for (what, t) in params {
            let n = format!("{bn}.{what}");
            self.graph.add_initializer(tensor(&n, &t)?);
            inputs.push(n);
        }
        let out = format!("{bn}.out");
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        self.graph.add_node(
            Node::new(&bn, "BatchNormalization", &refs, &[&out])
                .with_attr("epsilon", Attribute::Float(crate::layers::BN_EPS as f32))
                .with_attr("momentum", Attribute::Float(0.9)),
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
        self.export(height, width, true)
    }

    /// The inference graph with batch norm unfused (Conv without bias + BatchNormalization), as
    /// `torch.onnx.export` writes a model exported in training mode.
    pub fn to_onnx_unfolded(&self, height: usize, width: usize) -> Result<Model, TrainError> {
        self.export(height, width, false)
    }

    fn export(&self, height: usize, width: usize, fold: bool) -> Result<Model, TrainError> {
        let mut b = Builder {
            graph: Graph {
                name: "qbench_resnet".into(),
                ..Default::default()
            },
            fold,
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
        if self.config.stem == crate::Stem::ImageNet {
            let out = "stem.pool.out".to_string();
            b.graph.add_node(
                Node::new("stem.pool", "MaxPool", &[&h], &[&out])
                    .with_attr("kernel_shape", Attribute::Ints(vec![3, 3]))
                    .with_attr("strides", Attribute::Ints(vec![2, 2]))
                    .with_attr("pads", Attribute::Ints(vec![1, 1, 1, 1])),
            );
            h = out;
        }
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
