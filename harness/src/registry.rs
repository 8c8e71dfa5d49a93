//! The one place where backends and techniques are listed.

use qbench_core::Backend;

/// Every backend qbench knows, in table order.
pub fn backends() -> Vec<Box<dyn Backend>> {
    vec![
        Box::new(qbench_ort::OrtBackend::default()),
        Box::new(qbench_tract::TractBackend::default()),
        Box::new(qbench_candle::CandleBackend),
    ]
}

/// The backend with this name.
pub fn backend(name: &str) -> Option<Box<dyn Backend>> {
    backends().into_iter().find(|b| b.name() == name)
}

/// Names of all backends.
pub fn backend_names() -> Vec<&'static str> {
    backends().iter().map(|b| b.name()).collect()
}

/// A technique row: its name and the framework whose behaviour it reproduces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TechniqueInfo {
    pub name: &'static str,
    pub framework: &'static str,
}

/// Every technique, in table order. Only the FP32 baseline exists so far.
pub fn techniques() -> Vec<TechniqueInfo> {
    vec![TechniqueInfo {
        name: "fp32",
        framework: "-",
    }]
}
