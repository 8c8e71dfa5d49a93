//! A loaded graph: initializers converted once, nodes interpreted in topological order.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use qbench_core::{AdapterError, Batch, Output, Session};
use qbench_onnx::{Model, Node};

use crate::ops;

const NAME: &str = "candle";

/// A prepared graph.
pub struct CandleSession {
    nodes: Vec<Node>,
    constants: HashMap<String, Tensor>,
    input: String,
    output: String,
    /// For each node, the values whose last reader it is (freed after it runs).
    frees: Vec<Vec<String>>,
    /// For each node, the element type of its third input when that is an initializer (the zero
    /// point of QuantizeLinear), since constants are held as float32.
    zp_dtypes: Vec<Option<qbench_onnx::DType>>,
}

impl CandleSession {
    /// Converts the model's initializers and checks that every operator is implemented.
    pub fn new(mut model: Model, input: &str, output: &str) -> Result<Self, String> {
        model.graph.topo_sort().map_err(|e| e.to_string())?;
        model
            .graph
            .check_inputs_defined()
            .map_err(|e| e.to_string())?;
        if let Some(n) = model
            .graph
            .nodes
            .iter()
            .find(|n| !n.domain.is_empty() || !ops::SUPPORTED_OPS.contains(&n.op_type.as_str()))
        {
            return Err(format!(
                "operator {}{} is not implemented by the candle backend",
                if n.domain.is_empty() {
                    ""
                } else {
                    "com.microsoft."
                },
                n.op_type
            ));
        }
        let constants = model
            .graph
            .initializers
            .iter()
            .map(|t| ops::tensor(t).map(|x| (t.name.clone(), x)))
            .collect::<Result<_, _>>()?;
        let mut last_use: HashMap<&str, usize> = HashMap::new();
        for (i, n) in model.graph.nodes.iter().enumerate() {
            for x in &n.inputs {
                last_use.insert(x.as_str(), i);
            }
        }
        let zp_dtypes = model
            .graph
            .nodes
            .iter()
            .map(|n| {
                n.inputs
                    .get(2)
                    .and_then(|z| model.graph.initializer(z))
                    .map(|t| t.dtype)
            })
            .collect();
        let mut frees = vec![Vec::new(); model.graph.nodes.len()];
        for (name, i) in last_use {
            if name != output {
                frees[i].push(name.to_string());
            }
        }
        Ok(CandleSession {
            nodes: model.graph.nodes,
            constants,
            input: input.into(),
            output: output.into(),
            frees,
            zp_dtypes,
        })
    }
}

/// Receives every tensor of a run: `(name, values)`.
pub type Sink<'a> = &'a mut dyn FnMut(&str, &[f32]) -> Result<(), String>;

impl CandleSession {
    /// Runs a batch and shows the input and every node output to `sink` as float32 values
    /// (used to calibrate quantizers on the FP32 model).
    pub fn run_visit(&mut self, batch: &Batch, sink: Sink) -> Result<(), AdapterError> {
        self.execute(batch, Some(sink)).map(|_| ())
    }

    fn execute(&mut self, batch: &Batch, mut sink: Option<Sink>) -> Result<Output, AdapterError> {
        let err = |reason: String| AdapterError::Run {
            backend: NAME,
            reason,
        };
        let x = Tensor::from_slice(batch.data, &batch.dims, &Device::Cpu)
            .map_err(|e| err(e.to_string()))?;
        let mut values: HashMap<String, Tensor> = HashMap::new();
        if let Some(sink) = sink.as_mut() {
            sink(&self.input, batch.data).map_err(err)?;
        }
        values.insert(self.input.clone(), x);
        for ((node, frees), zp) in self.nodes.iter().zip(&self.frees).zip(&self.zp_dtypes) {
            let inputs: Vec<Option<&Tensor>> = node
                .inputs
                .iter()
                .map(|n| {
                    if n.is_empty() {
                        None
                    } else {
                        values.get(n).or_else(|| self.constants.get(n))
                    }
                })
                .collect();
            let outs = ops::run(node, &inputs, *zp)
                .map_err(|r| err(format!("node {} ({}): {r}", node.name, node.op_type)))?;
            for (name, t) in node.outputs.iter().zip(outs) {
                if let Some(sink) = sink.as_mut() {
                    let v = t
                        .flatten_all()
                        .and_then(|t| t.to_vec1::<f32>())
                        .map_err(|e| err(e.to_string()))?;
                    sink(name, &v).map_err(err)?;
                }
                values.insert(name.clone(), t);
            }
            for f in frees {
                values.remove(f);
            }
        }
        let y = values
            .remove(&self.output)
            .ok_or_else(|| err(format!("output {} was not produced", self.output)))?;
        let dims = y.dims().to_vec();
        let data = y
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| err(e.to_string()))?;
        Ok(Output { data, dims })
    }
}

impl Session for CandleSession {
    fn run(&mut self, batch: &Batch) -> Result<Output, AdapterError> {
        self.execute(batch, None)
    }
}
