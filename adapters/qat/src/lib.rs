//! Quantization-aware training on candle: fake quantization with the straight-through
//! estimator ([`fake_quantize`]; TensorFlow's nudged form, [`tf_fake_quant`]), the
//! moving-average observers of the frameworks' QAT ([`MovingAverageMinMax`]), the QAT recipes
//! ([`QatRecipe`]), a ResNet under fake quantization ([`QatNet`]), its fine-tuning
//! ([`finetune`]) and its export through the quantizer ([`export`]). See the crate's README for
//! the sources of each rule.

mod activation_fq;
mod export;
mod fake_quant;
mod finetune;
mod net;
mod observer;
mod recipe;
mod ste;
mod tf_fake_quant;
mod weight_fq;

pub use activation_fq::ActivationFq;
pub use export::export;
pub use fake_quant::{fake_quantize, FakeQuant};
pub use finetune::{evaluate, finetune, CurvePoint, FinetuneConfig, Finetuned};
pub use net::QatNet;
pub use observer::MovingAverageMinMax;
pub use recipe::{ActivationScheme, Optimizer, QatRecipe, QatSettings, WeightScheme};
pub use tf_fake_quant::{tf_fake_quant, TfFakeQuant};
pub use weight_fq::fake_quantize_weight;
