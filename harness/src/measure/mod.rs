//! Measurement: timing rules, statistics, accuracy and the machine description.

pub mod accuracy;
pub mod build_info;
pub mod latency;
pub mod logits;
pub mod machine;
pub mod memory;
pub mod stats;
