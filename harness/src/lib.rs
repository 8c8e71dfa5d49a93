//! qbench's harness: CLI, scenario runner, measurement, reports.
//!
//! Flow: parse the CLI -> plan the cells (technique x backend) -> run each cell in a child
//! process -> collect one [`record::Row`] per cell -> render reports.

pub mod artifacts;
pub mod calibration;
pub mod calibration_profile;
pub mod cell;
pub mod check;
pub mod check_confirm;
pub mod check_machines;
pub mod child;
pub mod cli;
pub mod compare;
pub mod data_package;
pub mod debug;
pub mod fp32_sanity;
pub mod imported;
pub mod interrupt;
pub mod machines;
pub mod measure;
pub mod memory_bound;
pub mod merge;
pub mod metrics;
pub mod model_io;
pub mod model_scenario;
pub mod orphan_watch;
pub mod ort_calibration;
pub mod out_lock;
pub mod plan;
pub mod progress;
pub mod publish;
pub mod qat_rows;
pub mod record;
pub mod registry;
pub mod report;
pub mod run_mode;
pub mod runner;
pub mod scenario;
pub mod shard;
pub mod synthetic_model;
pub mod thresholds;
pub mod timed_source;
pub mod train_cmd;
pub mod train_qat;
pub mod tune;
