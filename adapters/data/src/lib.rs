//! Datasets for qbench scenarios: a validating IDX (MNIST-format) reader and labelled image sets.

mod error;
mod idx;
mod images;

pub use error::DataError;
pub use idx::{read_idx, write_idx_gz, IdxArray};
pub use images::{LabelledImages, Normalization};
