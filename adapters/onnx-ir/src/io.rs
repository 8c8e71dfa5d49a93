//! Conversion between the IR and ONNX protobuf ([`crate::pb`]), and file I/O.

use std::path::Path;

use crate::pb;
use prost::Message;

use crate::{Attribute, DType, Dim, Graph, IrError, Model, Node, TensorData, ValueInfo};

impl Model {
    /// Reads an ONNX file.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, IrError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| IrError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Model::from_bytes(&bytes).map_err(|e| match e {
            IrError::Decode { reason, .. } => IrError::Decode {
                path: path.to_path_buf(),
                reason,
            },
            other => IrError::Decode {
                path: path.to_path_buf(),
                reason: other.to_string(),
            },
        })
    }

    /// Decodes an ONNX protobuf.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, IrError> {
        let proto = pb::ModelProto::decode(bytes).map_err(|e| IrError::Decode {
            path: Default::default(),
            reason: e.to_string(),
        })?;
        Model::from_proto(proto)
    }

    /// Encodes to ONNX protobuf bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// Writes an ONNX file atomically (temporary file, then rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), IrError> {
        let path = path.as_ref();
        let err = |source| IrError::Write {
            path: path.to_path_buf(),
            source,
        };
        let tmp = path.with_extension("onnx.tmp");
        std::fs::write(&tmp, self.to_bytes()).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    fn from_proto(p: pb::ModelProto) -> Result<Model, IrError> {
        let graph = p.graph.ok_or(IrError::NoGraph)?;
        Ok(Model {
            ir_version: p.ir_version,
            opset_imports: p
                .opset_import
                .into_iter()
                .map(|o| (o.domain, o.version))
                .collect(),
            producer_name: p.producer_name,
            producer_version: p.producer_version,
            metadata: p
                .metadata_props
                .into_iter()
                .map(|e| (e.key, e.value))
                .collect(),
            graph: graph_from_proto(graph)?,
        })
    }

    fn to_proto(&self) -> pb::ModelProto {
        pb::ModelProto {
            ir_version: self.ir_version,
            opset_import: self
                .opset_imports
                .iter()
                .map(|(d, v)| pb::OperatorSetIdProto {
                    domain: d.clone(),
                    version: *v,
                })
                .collect(),
            producer_name: self.producer_name.clone(),
            producer_version: self.producer_version.clone(),
            metadata_props: self
                .metadata
                .iter()
                .map(|(k, v)| pb::StringStringEntryProto {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            graph: Some(graph_to_proto(&self.graph)),
            ..Default::default()
        }
    }
}

fn graph_from_proto(g: pb::GraphProto) -> Result<Graph, IrError> {
    Ok(Graph {
        name: g.name,
        nodes: g
            .node
            .into_iter()
            .map(node_from_proto)
            .collect::<Result<_, _>>()?,
        initializers: g
            .initializer
            .into_iter()
            .map(tensor_from_proto)
            .collect::<Result<_, _>>()?,
        inputs: g
            .input
            .into_iter()
            .map(value_from_proto)
            .collect::<Result<_, _>>()?,
        outputs: g
            .output
            .into_iter()
            .map(value_from_proto)
            .collect::<Result<_, _>>()?,
        value_info: g
            .value_info
            .into_iter()
            .filter_map(|v| value_from_proto(v).ok())
            .collect(),
    })
}

fn graph_to_proto(g: &Graph) -> pb::GraphProto {
    pb::GraphProto {
        name: g.name.clone(),
        node: g.nodes.iter().map(node_to_proto).collect(),
        initializer: g.initializers.iter().map(tensor_to_proto).collect(),
        input: g.inputs.iter().map(value_to_proto).collect(),
        output: g.outputs.iter().map(value_to_proto).collect(),
        value_info: g.value_info.iter().map(value_to_proto).collect(),
        ..Default::default()
    }
}

fn node_from_proto(n: pb::NodeProto) -> Result<Node, IrError> {
    let attributes = n
        .attribute
        .into_iter()
        .map(|a| {
            let name = a.name.clone();
            attr_from_proto(a)
                .map(|v| (name.clone(), v))
                .map_err(|reason| IrError::Node {
                    node: n.name.clone(),
                    reason,
                })
        })
        .collect::<Result<_, _>>()?;
    Ok(Node {
        name: n.name,
        op_type: n.op_type,
        domain: n.domain,
        inputs: n.input,
        outputs: n.output,
        attributes,
    })
}

fn node_to_proto(n: &Node) -> pb::NodeProto {
    pb::NodeProto {
        name: n.name.clone(),
        op_type: n.op_type.clone(),
        domain: n.domain.clone(),
        input: n.inputs.clone(),
        output: n.outputs.clone(),
        attribute: n
            .attributes
            .iter()
            .map(|(k, v)| attr_to_proto(k, v))
            .collect(),
        ..Default::default()
    }
}

fn attr_from_proto(a: pb::AttributeProto) -> Result<Attribute, String> {
    use pb::attribute_proto::AttributeType as T;
    let kind = T::try_from(a.r#type).unwrap_or(T::Undefined);
    Ok(match kind {
        T::Float => Attribute::Float(a.f),
        T::Int => Attribute::Int(a.i),
        T::String => Attribute::String(String::from_utf8_lossy(&a.s).into_owned()),
        T::Tensor => Attribute::Tensor(
            tensor_from_proto(a.t.ok_or("tensor attribute without a tensor")?)
                .map_err(|e| e.to_string())?,
        ),
        T::Floats => Attribute::Floats(a.floats),
        T::Ints => Attribute::Ints(a.ints),
        other => {
            return Err(format!(
                "attribute {} has unsupported type {:?}",
                a.name, other
            ))
        }
    })
}

fn attr_to_proto(name: &str, v: &Attribute) -> pb::AttributeProto {
    use pb::attribute_proto::AttributeType as T;
    let mut a = pb::AttributeProto {
        name: name.to_string(),
        ..Default::default()
    };
    let kind = match v {
        Attribute::Float(f) => {
            a.f = *f;
            T::Float
        }
        Attribute::Int(i) => {
            a.i = *i;
            T::Int
        }
        Attribute::String(s) => {
            a.s = s.as_bytes().to_vec();
            T::String
        }
        Attribute::Tensor(t) => {
            a.t = Some(tensor_to_proto(t));
            T::Tensor
        }
        Attribute::Floats(f) => {
            a.floats = f.clone();
            T::Floats
        }
        Attribute::Ints(i) => {
            a.ints = i.clone();
            T::Ints
        }
    };
    a.r#type = kind as i32;
    a
}

fn tensor_from_proto(t: pb::TensorProto) -> Result<TensorData, IrError> {
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        return Err(IrError::Tensor {
            name: t.name,
            reason: "external data is not supported (embed the weights in the .onnx file)".into(),
        });
    }
    let dtype = DType::from_onnx(t.data_type)?;
    let raw = if !t.raw_data.is_empty() {
        t.raw_data
    } else {
        match dtype {
            DType::F32 => t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::I64 => t.int64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            // ONNX stores 8/16-bit types and float16 widened in int32_data.
            DType::I32 => t.int32_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::U8 | DType::I8 => t.int32_data.iter().map(|v| *v as u8).collect(),
            DType::U16 | DType::I16 | DType::F16 => t
                .int32_data
                .iter()
                .flat_map(|v| (*v as u16).to_le_bytes())
                .collect(),
        }
    };
    let tensor = TensorData {
        name: t.name,
        dtype,
        dims: t.dims,
        raw,
    };
    tensor.validate()?;
    Ok(tensor)
}

fn tensor_to_proto(t: &TensorData) -> pb::TensorProto {
    pb::TensorProto {
        name: t.name.clone(),
        dims: t.dims.clone(),
        data_type: t.dtype.onnx_code(),
        raw_data: t.raw.clone(),
        ..Default::default()
    }
}

fn value_from_proto(v: pb::ValueInfoProto) -> Result<ValueInfo, IrError> {
    use pb::tensor_shape_proto::dimension::Value as D;
    let Some(pb::type_proto::Value::TensorType(tt)) = v.r#type.and_then(|t| t.value) else {
        return Err(IrError::Tensor {
            name: v.name,
            reason: "value is not a tensor".into(),
        });
    };
    let shape = tt
        .shape
        .map(|s| {
            s.dim
                .into_iter()
                .map(|d| match d.value {
                    Some(D::DimValue(x)) => Dim::Fixed(x),
                    Some(D::DimParam(p)) => Dim::Param(p),
                    None => Dim::Unknown,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ValueInfo {
        name: v.name,
        dtype: DType::from_onnx(tt.elem_type)?,
        shape,
    })
}

fn value_to_proto(v: &ValueInfo) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value as D, Dimension};
    let dim = v
        .shape
        .iter()
        .map(|d| Dimension {
            value: match d {
                Dim::Fixed(x) => Some(D::DimValue(*x)),
                Dim::Param(p) => Some(D::DimParam(p.clone())),
                Dim::Unknown => None,
            },
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: v.name.clone(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: v.dtype.onnx_code(),
                // An empty shape is written as unknown (rank included): the IR does not tell a
                // scalar from a value whose shape nobody declared.
                shape: (!v.shape.is_empty()).then_some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Model {
        let mut g = Graph {
            name: "g".into(),
            ..Default::default()
        };
        g.inputs.push(ValueInfo {
            name: "x".into(),
            dtype: DType::F32,
            shape: vec![Dim::Param("N".into()), Dim::Fixed(3)],
        });
        g.outputs.push(ValueInfo {
            name: "y".into(),
            dtype: DType::F32,
            shape: vec![],
        });
        g.add_initializer(TensorData::from_f32("w", vec![3], &[1.0, 2.0, 3.0]));
        g.add_node(
            Node::new("mul", "Mul", &["x", "w"], &["t"]).with_attr("k", Attribute::Ints(vec![1])),
        );
        g.add_node(Node::new("relu", "Relu", &["t"], &["y"]));
        Model::new(g, 13)
    }

    #[test]
    fn bytes_round_trip_is_identity() {
        let m = tiny();
        let back = Model::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(m, back);
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let mut bytes = tiny().to_bytes();
        bytes.truncate(bytes.len() / 2);
        assert!(Model::from_bytes(&bytes).is_err());
        assert!(Model::from_bytes(&[0xff, 0xff, 0xff]).is_err());
    }
}
