//! Quantization-aware training on candle: fake quantization with the straight-through
//! estimator ([`fake_quantize`]; TensorFlow's nudged form, [`tf_fake_quant`]) and the
//! moving-average observers of the frameworks' QAT ([`MovingAverageMinMax`]). See the crate's README for the sources of each rule.

mod fake_quant;
mod observer;
mod ste;
mod tf_fake_quant;

pub use fake_quant::{fake_quantize, FakeQuant};
pub use observer::MovingAverageMinMax;
pub use tf_fake_quant::{tf_fake_quant, TfFakeQuant};
