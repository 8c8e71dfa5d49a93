//! The crate's single error type and the finiteness check every entry point uses.

use thiserror::Error;

/// Everything that can go wrong in the quantizer.
///
/// Messages name the tensor or argument at fault; wrap with [`QuantError::context`] to add the
/// caller's tensor name (e.g. `"conv1.weight"`).
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum QuantError {
    /// A NaN or an infinity was found where only finite values can be quantized or observed.
    #[error("{what}: non-finite value {value} at index {index} (NaN and Inf cannot be quantized)")]
    NonFinite {
        /// Which tensor or argument.
        what: String,
        /// Flat index of the first offending element.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// A bit width outside the supported interval.
    #[error("{what}: {bits}-bit quantization is not supported (expected {min}..={max} bits)")]
    UnsupportedBits {
        /// Which scheme or argument.
        what: String,
        /// Requested width.
        bits: u32,
        /// Smallest supported width.
        min: u32,
        /// Largest supported width.
        max: u32,
    },
    /// A float range that cannot be used (min > max, not finite, ...).
    #[error("{what}: invalid range [{min}, {max}]: {reason}")]
    InvalidRange {
        /// Which tensor or argument.
        what: String,
        /// Lower bound as given.
        min: f64,
        /// Upper bound as given.
        max: f64,
        /// Why it is rejected.
        reason: String,
    },
    /// Scale, zero point or integer range that cannot be used.
    #[error("invalid quantization parameters: {0}")]
    InvalidParams(String),
    /// Data length, dimensions, axis or block size do not fit together.
    #[error("shape error: {0}")]
    Shape(String),
    /// A range was requested from an observer that has not seen any value.
    #[error("{observer}: no data observed yet (call observe() with at least one non-empty batch)")]
    NoData {
        /// The observer's name.
        observer: &'static str,
    },
    /// Any other argument outside its domain.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The framework being reproduced has no such configuration.
    #[error("{framework} does not support {what}")]
    Unsupported {
        /// Framework name.
        framework: &'static str,
        /// The configuration it lacks.
        what: String,
    },
    /// An error with the caller's context (usually the tensor name) prepended.
    #[error("{context}: {source}")]
    Context {
        /// What the caller was doing or which tensor.
        context: String,
        /// The underlying error.
        #[source]
        source: Box<QuantError>,
    },
}

impl QuantError {
    /// Prepends context such as a tensor name: `err.context("conv1.weight")`.
    pub fn context(self, context: impl Into<String>) -> Self {
        QuantError::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// The innermost error, with every [`QuantError::Context`] layer removed.
    pub fn root(&self) -> &QuantError {
        match self {
            QuantError::Context { source, .. } => source.root(),
            other => other,
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, QuantError>;

/// Fails with [`QuantError::NonFinite`] naming `what` if `data` holds a NaN or an infinity.
pub fn check_finite(what: &str, data: &[f32]) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(QuantError::NonFinite {
            what: what.to_string(),
            index,
            value: data[index],
        }),
    }
}

/// Fails with [`QuantError::NonFinite`] if the scalar `value` is not finite.
pub fn check_finite_scalar(what: &str, value: f32) -> Result<()> {
    check_finite(what, &[value])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_data_passes() {
        assert!(check_finite("t", &[0.0, -1.0, 3.4e38]).is_ok());
        assert!(check_finite("empty", &[]).is_ok());
    }

    #[test]
    fn nan_is_rejected_with_tensor_name_and_index() {
        let err = check_finite("conv1.weight", &[1.0, f32::NAN, 2.0]).unwrap_err();
        match &err {
            QuantError::NonFinite { what, index, value } => {
                assert_eq!(what, "conv1.weight");
                assert_eq!(*index, 1);
                assert!(value.is_nan());
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("conv1.weight") && msg.contains("index 1"),
            "{msg}"
        );
    }

    #[test]
    fn infinities_are_rejected() {
        let err = check_finite("x", &[f32::NEG_INFINITY]).unwrap_err();
        assert!(err.to_string().contains("-inf"), "{err}");
        assert!(check_finite_scalar("s", f32::INFINITY).is_err());
    }

    #[test]
    fn context_wraps_and_root_unwraps() {
        let err = QuantError::InvalidArgument("bad".into()).context("layer3");
        assert_eq!(err.to_string(), "layer3: invalid argument: bad");
        assert_eq!(err.root(), &QuantError::InvalidArgument("bad".into()));
    }
}
