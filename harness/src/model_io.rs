//! The model's own inputs and outputs: which input qbench feeds, the shape of one sample, the
//! batch dimension, and the output the metric reads. Dynamic dimensions other than the batch
//! must be fixed (`--input-shape NAME=1,3,224,224` or the scenario's `model.shape`).

use std::path::Path;

use anyhow::{bail, Context, Result};
use qbench_onnx::{DType, Dim, Model, ValueInfo};

use crate::scenario::Scenario;

/// One `--input-shape NAME=D0,D1,...` argument: the full shape, batch first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputShape {
    pub name: String,
    pub dims: Vec<usize>,
}

impl std::str::FromStr for InputShape {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, dims) = s
            .split_once('=')
            .ok_or_else(|| format!("'{s}': expected NAME=D0,D1,... (e.g. input=1,3,224,224)"))?;
        let dims = dims
            .split(',')
            .map(|d| match d.trim().parse::<usize>() {
                Ok(v) if v > 0 => Ok(v),
                _ => Err(format!("'{s}': '{d}' is not a positive dimension")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if name.is_empty() {
            return Err(format!("'{s}': the input name is empty"));
        }
        Ok(InputShape {
            name: name.to_string(),
            dims,
        })
    }
}

/// The graph inputs that are fed at run time (older exporters also list initializers).
pub fn runtime_inputs(model: &Model) -> Vec<&ValueInfo> {
    model
        .graph
        .inputs
        .iter()
        .filter(|i| model.graph.initializer(&i.name).is_none())
        .collect()
}

fn dim_name(d: &Dim) -> String {
    match d {
        Dim::Fixed(v) => v.to_string(),
        Dim::Param(p) => format!("'{p}'"),
        Dim::Unknown => "?".into(),
    }
}

/// Fills the scenario's `model.input`, `model.output`, `model.shape` and `model.fixed_batch`
/// from the ONNX model and the `--input-shape` arguments; every open dimension other than the
/// batch must be fixed by one of them.
pub fn resolve(scenario: &mut Scenario, shapes: &[InputShape]) -> Result<()> {
    crate::data_package::resolve(scenario)?;
    crate::synthetic_model::resolve(scenario)?;
    if let Some(pkg) = scenario.model.package.clone() {
        // Fetched once into the cache; children get the absolute path with the scenario.
        let cache = qbench_provision::cache_dir()?;
        let path = qbench_provision::provide(&pkg, &cache).with_context(|| {
            format!(
                "scenario '{}': cannot provide its model from {} {}",
                scenario.name, pkg.package, pkg.version
            )
        })?;
        scenario.model.path = path;
        scenario.model.package = None;
    }
    let path = scenario.resolve(&scenario.model.path);
    if !path.is_file() && scenario.train.is_some() {
        bail!(
            "model {} not found: run `qbench train --scenario {}` first",
            path.display(),
            scenario.name
        );
    }
    let model = load(&path)?;
    resolve_with(scenario, &model, &path, shapes)
}

/// Loads the model, naming the file on error.
pub fn load(path: &Path) -> Result<Model> {
    if !path.is_file() {
        bail!("model {} not found", path.display());
    }
    Model::load(path).with_context(|| format!("cannot read the ONNX model {}", path.display()))
}

/// [`resolve`] on a loaded model.
pub fn resolve_with(
    scenario: &mut Scenario,
    model: &Model,
    path: &Path,
    shapes: &[InputShape],
) -> Result<()> {
    let inputs = runtime_inputs(model);
    let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    let input = match &scenario.model.input {
        Some(n) => inputs
            .iter()
            .find(|i| &i.name == n)
            .copied()
            .with_context(|| {
                format!(
                    "{}: the model has no input named '{n}' (inputs: {names:?})",
                    path.display()
                )
            })?,
        None if inputs.len() == 1 => inputs[0],
        None if inputs.is_empty() => bail!("{}: the model has no input", path.display()),
        None => bail!(
            "{}: the model has {} inputs {names:?}; qbench feeds one float input today \
             (name it with model.input in a scenario file; models whose other inputs are needed \
             are not supported yet)",
            path.display(),
            inputs.len()
        ),
    };
    if inputs.len() > 1 {
        bail!(
            "{}: the model has {} inputs {names:?}; qbench feeds one float input today",
            path.display(),
            inputs.len()
        );
    }
    if input.dtype != DType::F32 {
        bail!(
            "{}: input '{}' is {:?}; qbench feeds float32 inputs",
            path.display(),
            input.name,
            input.dtype
        );
    }
    for s in shapes {
        if !names.contains(&s.name.as_str()) {
            bail!(
                "--input-shape {}: the model has no input named '{}' (inputs: {names:?})",
                s.name,
                s.name
            );
        }
    }
    let given = shapes.iter().find(|s| s.name == input.name);
    let rank = input.shape.len();
    if rank == 0 {
        bail!(
            "{}: input '{}' is a scalar; qbench feeds batched tensors",
            path.display(),
            input.name
        );
    }
    let mut full: Vec<Option<usize>> = input
        .shape
        .iter()
        .map(|d| match d {
            Dim::Fixed(v) if *v > 0 => Some(*v as usize),
            _ => None,
        })
        .collect();
    let fixed_batch = full[0];
    if let Some(g) = given {
        if g.dims.len() != rank {
            bail!(
                "--input-shape {}: {} dimensions given, the model's input has {rank} ({})",
                g.name,
                g.dims.len(),
                input
                    .shape
                    .iter()
                    .map(dim_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for (i, (slot, v)) in full.iter_mut().zip(&g.dims).enumerate().skip(1) {
            match slot {
                Some(m) if *m != *v => bail!(
                    "--input-shape {}: dimension {i} is {v} but the model fixes it to {m}",
                    g.name
                ),
                _ => *slot = Some(*v),
            }
        }
    } else if let Some(shape) = &scenario.model.shape {
        if shape.len() + 1 != rank {
            bail!(
                "{}: model.shape {shape:?} has {} dimensions; input '{}' has {rank} including \
                 the batch",
                path.display(),
                shape.len(),
                input.name
            );
        }
        for (i, (slot, v)) in full.iter_mut().skip(1).zip(shape).enumerate() {
            match slot {
                Some(m) if *m != *v => bail!(
                    "model.shape {shape:?}: dimension {} is {v} but the model fixes it to {m}",
                    i + 1
                ),
                _ => *slot = Some(*v),
            }
        }
    }
    if let Some(i) = full.iter().skip(1).position(Option::is_none) {
        let i = i + 1;
        bail!(
            "{}: dimension {i} ({}) of input '{}' [{}] is dynamic: fix it with --input-shape {}={}",
            path.display(),
            dim_name(&input.shape[i]),
            input.name,
            input
                .shape
                .iter()
                .map(dim_name)
                .collect::<Vec<_>>()
                .join(", "),
            input.name,
            input
                .shape
                .iter()
                .enumerate()
                .map(|(k, d)| match d {
                    Dim::Fixed(v) if *v > 0 => v.to_string(),
                    _ if k == 0 => "1".into(),
                    _ => "N".into(),
                })
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    let outputs: Vec<&str> = model
        .graph
        .outputs
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    let output = match &scenario.model.output {
        Some(o) if outputs.contains(&o.as_str()) => o.clone(),
        Some(o) => bail!(
            "{}: the model has no output named '{o}' (outputs: {outputs:?})",
            path.display()
        ),
        None => outputs
            .first()
            .map(|s| s.to_string())
            .with_context(|| format!("{}: the model has no output", path.display()))?,
    };
    scenario.model.input = Some(input.name.clone());
    scenario.model.shape = Some(full[1..].iter().map(|d| d.unwrap_or(1)).collect());
    scenario.model.fixed_batch = fixed_batch;
    scenario.model.output = Some(output);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbench_onnx::{Graph, Node};

    fn model(shape: Vec<Dim>) -> Model {
        let mut g = Graph::default();
        g.inputs.push(ValueInfo {
            name: "x".into(),
            dtype: DType::F32,
            shape,
        });
        g.outputs.push(ValueInfo {
            name: "y".into(),
            dtype: DType::F32,
            shape: vec![],
        });
        g.nodes.push(Node::new("r", "Relu", &["x"], &["y"]));
        Model::new(g, 13)
    }

    fn scenario() -> Scenario {
        toml::from_str(
            r#"
name = "t"
description = "t"
[model]
path = "m.onnx"
[data.eval.source]
kind = "synthetic"
shape = [3]
count = 4
seed = 1
[data.calibration.source]
kind = "synthetic"
shape = [3]
count = 4
seed = 2
[metric]
kind = "fidelity"
"#,
        )
        .unwrap()
    }

    #[test]
    fn parses_input_shapes() {
        let s: InputShape = "input=1,3,224,224".parse().unwrap();
        assert_eq!(s.dims, vec![1, 3, 224, 224]);
        assert!("input".parse::<InputShape>().is_err());
        assert!("input=1,0".parse::<InputShape>().is_err());
        assert!("=1".parse::<InputShape>().is_err());
    }

    #[test]
    fn dynamic_batch_and_fixed_rest() {
        let m = model(vec![
            Dim::Param("N".into()),
            Dim::Fixed(3),
            Dim::Fixed(8),
            Dim::Fixed(8),
        ]);
        let mut s = scenario();
        resolve_with(&mut s, &m, Path::new("m.onnx"), &[]).unwrap();
        assert_eq!(s.model.shape, Some(vec![3, 8, 8]));
        assert_eq!(s.model.fixed_batch, None);
        assert_eq!(s.model.input.as_deref(), Some("x"));
        assert_eq!(s.model.output.as_deref(), Some("y"));
    }

    #[test]
    fn an_open_dimension_is_named() {
        let m = model(vec![
            Dim::Fixed(1),
            Dim::Fixed(3),
            Dim::Param("height".into()),
            Dim::Param("width".into()),
        ]);
        let mut s = scenario();
        let err = resolve_with(&mut s, &m, Path::new("m.onnx"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("dimension 2 ('height')"), "{err}");
        assert!(err.contains("--input-shape x=1,3,N,N"), "{err}");
        let shapes = ["x=1,3,32,48".parse().unwrap()];
        resolve_with(&mut s, &m, Path::new("m.onnx"), &shapes).unwrap();
        assert_eq!(s.model.shape, Some(vec![3, 32, 48]));
        assert_eq!(s.model.fixed_batch, Some(1));
    }

    #[test]
    fn a_shape_that_contradicts_the_model_is_refused() {
        let m = model(vec![Dim::Param("N".into()), Dim::Fixed(3)]);
        let mut s = scenario();
        let shapes = ["x=1,4".parse().unwrap()];
        let err = resolve_with(&mut s, &m, Path::new("m.onnx"), &shapes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("fixes it to 3"), "{err}");
        let shapes = ["z=1,3".parse().unwrap()];
        let err = resolve_with(&mut s, &m, Path::new("m.onnx"), &shapes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no input named 'z'"), "{err}");
    }
}
