//! Datasets for qbench scenarios.
//!
//! - [`read_idx`] / [`LabelledImages`]: the validating IDX (MNIST-format) reader and labelled
//!   image sets used by the MNIST scenarios.
//! - [`Dataset`]: fixed-shape, preprocessed float samples with optional labels, with the sources
//!   [`IdxSource`], [`NpySource`] (`.npy` / `.npz`), [`ImageFolder`] (torchvision layout),
//!   [`ImageCrops`] (seeded random-resized crops of a few photos), [`Synthetic`] and the view
//!   [`Subset`].
//! - [`SourceConfig`], [`Preprocess`], [`SplitConfig`] and [`open`]: the scenario TOML tables.

mod class_list;
mod config;
mod dataset;
mod error;
mod idx;
mod idx_source;
mod image_crops;
mod image_folder;
mod image_packing;
mod image_transform;
mod images;
mod label_file;
mod normalize;
mod npy_array;
mod npy_data;
mod npy_source;
mod preprocess;
mod random_resized_crop;
mod split;
mod subset;
mod synthetic;
mod text_lines;

pub use class_list::read_classes;
pub use config::{open, DistributionKind, SourceConfig};
pub use dataset::{labels, read_batch, sample_len, Dataset};
pub use error::DataError;
pub use idx::{read_idx, write_idx_gz, IdxArray};
pub use idx_source::IdxSource;
pub use image_crops::{CropLabels, ImageCrops};
pub use image_folder::ImageFolder;
pub use image_transform::{decode_image, image_dimensions, resized_size, ImageTransform};
pub use images::{LabelledImages, Normalization};
pub use label_file::{parse_text_labels, read_label_file};
pub use normalize::{channel_count, Normalizer};
pub use npy_array::NpyArray;
pub use npy_data::NpyData;
pub use npy_source::NpySource;
pub use preprocess::{ColorOrder, Crop, Layout, PerChannel, Preprocess};
pub use random_resized_crop::{CropBox, RandomResizedCrop, DEFAULT_CROP_RATIO, DEFAULT_CROP_SCALE};
pub use split::{Split, SplitConfig};
pub use subset::Subset;
pub use synthetic::{splitmix64, Distribution, Synthetic};
pub use text_lines::TextLines;
