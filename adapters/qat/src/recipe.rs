//! The QAT recipes: each framework's documented QAT defaults as data (the crate's README names
//! the source of every value).

use std::fmt;
use std::str::FromStr;

/// How a convolution's or dense layer's weight is fake-quantized during training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightScheme {
    /// PyTorch x86/fbgemm: qint8 `[-128, 127]` per output channel, symmetric; the fused
    /// kernel's training scale `max(|min| / 128, max / 127)`.
    TorchPerChannelInt8,
    /// TF-MOT: `LastValueQuantizer(8 bits, per_axis, symmetric, narrow_range)` on conv kernels
    /// (`±max|w|` per output channel, int8 `[-127, 127]`), per tensor on dense kernels.
    TfNarrowInt8,
    /// 4-bit mid-tread per output channel, step `2·absmax / 16`, levels `[-8, 7]` (the
    /// quantizer of `uniform-midtread-4bit`).
    MidTread4,
}

/// How activations are fake-quantized during training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivationScheme {
    /// PyTorch x86/fbgemm: quint8 with `reduce_range` (`[0, 127]`), affine, PyTorch's rule.
    TorchQuint8ReduceRange,
    /// TF-MOT: `fake_quant_with_min_max_vars`, 8 bits, range nudged to hold zero.
    TfMovingAverage,
    /// int8 asymmetric with ONNX Runtime's parameter rule (the activations of the 4-bit rows).
    OrtInt8,
}

/// The optimizer of the fine-tuning.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// Plain SGD (no momentum, no weight decay).
    Sgd { lr: f64 },
    /// Adam (AdamW without weight decay), optionally with a cosine decay to zero.
    Adam { lr: f64, eps: f64, cosine: bool },
}

/// Everything a QAT recipe fixes.
#[derive(Clone, Debug, PartialEq)]
pub struct QatSettings {
    pub weights: WeightScheme,
    pub activations: ActivationScheme,
    /// Fold batch norm into the fake-quantized weight during training (PyTorch's
    /// `ConvBnReLU2d._forward_approximate`); else the raw weight is quantized and batch norm
    /// runs after the convolution (TF-MOT).
    pub fold_bn: bool,
    /// Fraction of the way an activation range moves toward each batch's.
    pub averaging_constant: f32,
    /// The activation ranges' starting point (TF-MOT: -6, 6); `None`: the first batch's range.
    pub start_range: Option<(f32, f32)>,
    /// Each batch's range is extended to include zero before averaging (TF-MOT).
    pub range_includes_zero: bool,
    /// The model input's range is the running min/max of every value seen (TF-MOT's
    /// `AllValuesQuantizer`), not a moving average.
    pub input_all_values: bool,
    /// The global average pool's output has a range of its own (TFLite, ONNX Runtime); PyTorch's
    /// pooling shares its input's.
    pub pool_has_own_range: bool,
    pub optimizer: Optimizer,
    pub epochs: usize,
    pub batch_size: usize,
    /// Fraction of the training steps after which batch norm uses its running statistics.
    pub freeze_bn_at: Option<f64>,
    /// Fraction of the training steps after which the activation observers stop moving.
    pub freeze_observers_at: Option<f64>,
}

/// A QAT row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QatRecipe {
    /// PyTorch eager-mode QAT with the x86 QAT qconfig.
    PytorchQat,
    /// TF-MOT `quantize_model`, default 8-bit scheme.
    TfliteQat,
    /// 4-bit per-channel weights, 8-bit activations.
    Qat4bit,
}

impl QatRecipe {
    /// Every recipe, in table order.
    pub const ALL: [QatRecipe; 3] = [
        QatRecipe::PytorchQat,
        QatRecipe::TfliteQat,
        QatRecipe::Qat4bit,
    ];

    /// The row's technique name.
    pub fn name(self) -> &'static str {
        match self {
            QatRecipe::PytorchQat => "pytorch-qat",
            QatRecipe::TfliteQat => "tflite-qat",
            QatRecipe::Qat4bit => "qat-4bit",
        }
    }

    /// The format of the exported artifact (see `export`).
    pub fn format(self) -> qbench_core::Format {
        match self {
            QatRecipe::PytorchQat | QatRecipe::TfliteQat => qbench_core::Format::QOperator,
            QatRecipe::Qat4bit => qbench_core::Format::Qdq,
        }
    }

    /// The framework column.
    pub fn framework(self) -> &'static str {
        match self {
            QatRecipe::PytorchQat => "pytorch",
            QatRecipe::TfliteQat => "tflite",
            QatRecipe::Qat4bit => "textbook",
        }
    }

    /// The recipe's defaults. PyTorch's tutorial schedule (8 epochs, batch norm frozen after
    /// 3 of them, observers after 4) is scaled to one epoch: frozen at 3/8 and 4/8 of the steps.
    pub fn settings(self) -> QatSettings {
        let torch_like = QatSettings {
            weights: WeightScheme::TorchPerChannelInt8,
            activations: ActivationScheme::TorchQuint8ReduceRange,
            fold_bn: true,
            averaging_constant: 0.01,
            start_range: None,
            range_includes_zero: false,
            input_all_values: false,
            pool_has_own_range: false,
            optimizer: Optimizer::Sgd { lr: 1e-4 },
            epochs: 1,
            batch_size: 64,
            freeze_bn_at: Some(3.0 / 8.0),
            freeze_observers_at: Some(4.0 / 8.0),
        };
        match self {
            QatRecipe::PytorchQat => torch_like,
            QatRecipe::TfliteQat => QatSettings {
                weights: WeightScheme::TfNarrowInt8,
                activations: ActivationScheme::TfMovingAverage,
                fold_bn: false,
                averaging_constant: 0.001,
                start_range: Some((-6.0, 6.0)),
                range_includes_zero: true,
                input_all_values: true,
                pool_has_own_range: true,
                // Keras `compile(optimizer="adam")`, as TF-MOT's QAT guide fine-tunes.
                optimizer: Optimizer::Adam {
                    lr: 1e-3,
                    eps: 1e-7,
                    cosine: false,
                },
                freeze_bn_at: None,
                freeze_observers_at: None,
                ..torch_like
            },
            QatRecipe::Qat4bit => QatSettings {
                weights: WeightScheme::MidTread4,
                activations: ActivationScheme::OrtInt8,
                pool_has_own_range: true,
                optimizer: Optimizer::Adam {
                    lr: 1e-4,
                    eps: 1e-8,
                    cosine: true,
                },
                ..torch_like
            },
        }
    }
}

impl fmt::Display for QatRecipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for QatRecipe {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        QatRecipe::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                let known: Vec<_> = QatRecipe::ALL.iter().map(|r| r.name()).collect();
                format!("unknown QAT recipe {s:?} (known: {})", known.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_unknown_ones_are_refused() {
        for r in QatRecipe::ALL {
            assert_eq!(r.name().parse::<QatRecipe>().unwrap(), r);
        }
        let err = "pytorch".parse::<QatRecipe>().unwrap_err();
        assert!(err.contains("pytorch-qat, tflite-qat, qat-4bit"), "{err}");
    }
}
