//! The in-memory graph: nodes, initializers, typed inputs/outputs, opset imports.

use std::collections::{HashMap, HashSet};

use crate::{DType, IrError, TensorData};

/// One dimension of a value's shape.
#[derive(Clone, Debug, PartialEq)]
pub enum Dim {
    Fixed(i64),
    /// Symbolic dimension such as the batch size `N`.
    Param(String),
    Unknown,
}

/// A graph input, output or intermediate value with its element type and shape.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<Dim>,
}

/// A node attribute value. Types are always explicit when written (proto3 schema).
#[derive(Clone, Debug, PartialEq)]
pub enum Attribute {
    Float(f32),
    Int(i64),
    String(String),
    Tensor(TensorData),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
}

/// One operator application. An empty input name means an omitted optional input.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    /// Operator domain: "" for the default ONNX domain, "com.microsoft" for ORT contrib ops.
    pub domain: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: Vec<(String, Attribute)>,
}

impl Node {
    /// A node in the default domain with no attributes.
    pub fn new(name: impl Into<String>, op_type: &str, inputs: &[&str], outputs: &[&str]) -> Self {
        Node {
            name: name.into(),
            op_type: op_type.to_string(),
            domain: String::new(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            attributes: Vec::new(),
        }
    }

    /// Adds an attribute (builder style).
    pub fn with_attr(mut self, name: &str, value: Attribute) -> Self {
        self.attributes.push((name.to_string(), value));
        self
    }

    /// Looks up an attribute by name.
    pub fn attr(&self, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
    }

    /// Integer attribute or a default.
    pub fn attr_int(&self, name: &str, default: i64) -> i64 {
        match self.attr(name) {
            Some(Attribute::Int(v)) => *v,
            _ => default,
        }
    }

    /// Float attribute or a default.
    pub fn attr_float(&self, name: &str, default: f32) -> f32 {
        match self.attr(name) {
            Some(Attribute::Float(v)) => *v,
            _ => default,
        }
    }

    /// Integer-list attribute, if present.
    pub fn attr_ints(&self, name: &str) -> Option<&[i64]> {
        match self.attr(name) {
            Some(Attribute::Ints(v)) => Some(v),
            _ => None,
        }
    }
}

/// A computation graph.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub initializers: Vec<TensorData>,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    pub value_info: Vec<ValueInfo>,
}

/// A whole model: the graph plus the opset imports and metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub ir_version: i64,
    /// (domain, version); domain "" is the default ONNX operator set.
    pub opset_imports: Vec<(String, i64)>,
    pub producer_name: String,
    pub producer_version: String,
    pub metadata: Vec<(String, String)>,
    pub graph: Graph,
}

impl Model {
    /// A new model with ONNX IR version 8 and the given default-domain opset.
    pub fn new(graph: Graph, opset: i64) -> Self {
        Model {
            ir_version: 8,
            opset_imports: vec![(String::new(), opset)],
            producer_name: "qbench".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            metadata: Vec::new(),
            graph,
        }
    }

    /// The default-domain opset version, if imported.
    pub fn opset(&self) -> Option<i64> {
        self.opset_imports
            .iter()
            .find(|(d, _)| d.is_empty() || d == "ai.onnx")
            .map(|(_, v)| *v)
    }

    /// Imports an operator domain (e.g. "com.microsoft") if not yet present.
    pub fn import_domain(&mut self, domain: &str, version: i64) {
        if !self.opset_imports.iter().any(|(d, _)| d == domain) {
            self.opset_imports.push((domain.to_string(), version));
        }
    }
}

impl Graph {
    /// The initializer with this name.
    pub fn initializer(&self, name: &str) -> Option<&TensorData> {
        self.initializers.iter().find(|t| t.name == name)
    }

    /// Mutable access to the initializer with this name.
    pub fn initializer_mut(&mut self, name: &str) -> Option<&mut TensorData> {
        self.initializers.iter_mut().find(|t| t.name == name)
    }

    /// Adds (or replaces) an initializer.
    pub fn add_initializer(&mut self, tensor: TensorData) {
        match self.initializer_mut(&tensor.name) {
            Some(slot) => *slot = tensor,
            None => self.initializers.push(tensor),
        }
    }

    /// Removes initializers that no node reads any more.
    pub fn prune_initializers(&mut self) {
        let used: HashSet<&str> = self
            .nodes
            .iter()
            .flat_map(|n| n.inputs.iter().map(String::as_str))
            .chain(self.outputs.iter().map(|o| o.name.as_str()))
            .collect();
        let keep: Vec<TensorData> = self
            .initializers
            .iter()
            .filter(|t| used.contains(t.name.as_str()))
            .cloned()
            .collect();
        self.initializers = keep;
    }

    /// Appends a node.
    pub fn add_node(&mut self, node: Node) {
        self.nodes.push(node);
    }

    /// Declares an existing value as an extra graph output.
    pub fn add_output(&mut self, info: ValueInfo) {
        if !self.outputs.iter().any(|o| o.name == info.name) {
            self.outputs.push(info);
        }
    }

    /// A value name not used anywhere in the graph, derived from `base`.
    pub fn fresh_name(&self, base: &str) -> String {
        let used = self.all_names();
        if !used.contains(base) {
            return base.to_string();
        }
        (1..)
            .map(|i| format!("{base}_{i}"))
            .find(|n| !used.contains(n))
            .expect("unbounded")
    }

    fn all_names(&self) -> HashSet<String> {
        let mut s: HashSet<String> = self.initializers.iter().map(|t| t.name.clone()).collect();
        s.extend(self.inputs.iter().map(|v| v.name.clone()));
        for n in &self.nodes {
            s.insert(n.name.clone());
            s.extend(n.inputs.iter().cloned());
            s.extend(n.outputs.iter().cloned());
        }
        s
    }

    /// Map from value name to the index of the node producing it.
    pub fn producers(&self) -> HashMap<&str, usize> {
        let mut m = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for o in &n.outputs {
                m.insert(o.as_str(), i);
            }
        }
        m
    }

    /// Map from value name to the indices of the nodes reading it.
    pub fn consumers(&self) -> HashMap<&str, Vec<usize>> {
        let mut m: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for x in n.inputs.iter().filter(|x| !x.is_empty()) {
                m.entry(x.as_str()).or_default().push(i);
            }
        }
        m
    }

    /// Checks that every node input is produced by a node, an input or an initializer.
    pub fn check_inputs_defined(&self) -> Result<(), IrError> {
        let mut known: HashSet<&str> = self.inputs.iter().map(|v| v.name.as_str()).collect();
        known.extend(self.initializers.iter().map(|t| t.name.as_str()));
        known.extend(
            self.nodes
                .iter()
                .flat_map(|n| n.outputs.iter().map(String::as_str)),
        );
        for n in &self.nodes {
            if let Some(x) = n
                .inputs
                .iter()
                .find(|x| !x.is_empty() && !known.contains(x.as_str()))
            {
                return Err(IrError::Node {
                    node: n.name.clone(),
                    reason: format!("input {x} is not defined in the graph"),
                });
            }
        }
        Ok(())
    }
}
