//! Quantization parameters (`scale`, `zero_point`, integer range) and float ranges.

use crate::error::{check_finite, QuantError, Result};

/// Parameters of a uniform affine quantizer:
/// `q = clamp(round(x / scale) + zero_point, qmin, qmax)`, `x' = (q - zero_point) * scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantParams {
    /// Step between two levels; finite and > 0.
    pub scale: f32,
    /// Integer that represents real 0.
    pub zero_point: i32,
    /// Lowest integer level.
    pub qmin: i32,
    /// Highest integer level.
    pub qmax: i32,
}

impl QuantParams {
    /// Builds and validates (see [`QuantParams::validate`]).
    pub fn new(scale: f32, zero_point: i32, qmin: i32, qmax: i32) -> Result<Self> {
        let p = QuantParams {
            scale,
            zero_point,
            qmin,
            qmax,
        };
        p.validate()?;
        Ok(p)
    }

    /// Checks `scale` is finite and > 0 and `qmin < qmax`.
    ///
    /// The zero point is not required to lie in `[qmin, qmax]`: frameworks produce such
    /// parameters (e.g. PyTorch's symmetric quint8 uses 128 with a restricted range).
    pub fn validate(&self) -> Result<()> {
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(QuantError::InvalidParams(format!(
                "scale must be finite and > 0, got {}",
                self.scale
            )));
        }
        if self.qmin >= self.qmax {
            return Err(QuantError::InvalidParams(format!(
                "qmin ({}) must be < qmax ({})",
                self.qmin, self.qmax
            )));
        }
        Ok(())
    }

    /// Number of integer levels, `qmax - qmin + 1`.
    pub fn levels(&self) -> u64 {
        (self.qmax as i64 - self.qmin as i64 + 1) as u64
    }

    /// The real interval the levels cover: `((qmin - z) * s, (qmax - z) * s)`.
    pub fn representable_range(&self) -> (f32, f32) {
        let z = self.zero_point as i64;
        (
            (self.qmin as i64 - z) as f32 * self.scale,
            (self.qmax as i64 - z) as f32 * self.scale,
        )
    }

    /// Whether the zero point lies in `[qmin, qmax]` (real 0 is exactly representable).
    pub fn zero_is_representable(&self) -> bool {
        (self.qmin..=self.qmax).contains(&self.zero_point)
    }
}

/// A closed float range `[min, max]`, both finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Lower bound.
    pub min: f32,
    /// Upper bound.
    pub max: f32,
}

impl Range {
    /// Validates finiteness and `min <= max`.
    pub fn new(min: f32, max: f32) -> Result<Self> {
        if !(min.is_finite() && max.is_finite()) {
            return Err(QuantError::InvalidRange {
                what: "range".into(),
                min: min as f64,
                max: max as f64,
                reason: "bounds must be finite".into(),
            });
        }
        if min > max {
            return Err(QuantError::InvalidRange {
                what: "range".into(),
                min: min as f64,
                max: max as f64,
                reason: "min > max".into(),
            });
        }
        Ok(Range { min, max })
    }

    /// Min and max of `data`; fails on NaN/Inf (naming `what`) or on an empty slice.
    pub fn of(what: &str, data: &[f32]) -> Result<Self> {
        check_finite(what, data)?;
        if data.is_empty() {
            return Err(QuantError::Shape(format!(
                "{what}: empty tensor has no range"
            )));
        }
        let (mut lo, mut hi) = (data[0], data[0]);
        for &v in &data[1..] {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        Ok(Range { min: lo, max: hi })
    }

    /// `max(|min|, |max|)`.
    pub fn abs_max(&self) -> f32 {
        self.min.abs().max(self.max.abs())
    }

    /// The range widened to contain 0 (every framework does this before computing a scale).
    pub fn including_zero(&self) -> Range {
        Range {
            min: self.min.min(0.0),
            max: self.max.max(0.0),
        }
    }

    /// `[-abs_max, abs_max]`.
    pub fn symmetric(&self) -> Range {
        let a = self.abs_max();
        Range { min: -a, max: a }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(QuantParams::new(0.5, 0, -128, 127).is_ok());
        assert!(QuantParams::new(0.0, 0, -128, 127).is_err());
        assert!(QuantParams::new(-1.0, 0, -128, 127).is_err());
        assert!(QuantParams::new(f32::NAN, 0, -128, 127).is_err());
        assert!(QuantParams::new(f32::INFINITY, 0, 0, 255).is_err());
        assert!(QuantParams::new(1.0, 0, 5, 5).is_err());
    }

    #[test]
    fn derived_quantities_by_hand() {
        // uint8, scale 0.5, z = 10: levels 256; real range ((0-10)*0.5, (255-10)*0.5) = (-5, 122.5).
        let p = QuantParams::new(0.5, 10, 0, 255).unwrap();
        assert_eq!(p.levels(), 256);
        assert_eq!(p.representable_range(), (-5.0, 122.5));
        assert!(p.zero_is_representable());
        // PyTorch symmetric quint8 with reduce_range would use z = 128 outside [0, 127].
        let q = QuantParams::new(0.1, 128, 0, 127).unwrap();
        assert!(!q.zero_is_representable());
    }

    #[test]
    fn range_of_data() {
        let r = Range::of("t", &[3.0, -2.0, 0.5]).unwrap();
        assert_eq!((r.min, r.max), (-2.0, 3.0));
        assert_eq!(r.abs_max(), 3.0);
        assert_eq!(
            r.symmetric(),
            Range {
                min: -3.0,
                max: 3.0
            }
        );
        // Positive-only and negative-only ranges are widened to include 0.
        assert_eq!(
            Range::new(1.0, 2.0).unwrap().including_zero(),
            Range { min: 0.0, max: 2.0 }
        );
        assert_eq!(
            Range::new(-2.0, -1.0).unwrap().including_zero(),
            Range {
                min: -2.0,
                max: 0.0
            }
        );
        // A single value.
        let one = Range::of("one", &[7.0]).unwrap();
        assert_eq!((one.min, one.max), (7.0, 7.0));
    }

    #[test]
    fn range_errors() {
        assert!(Range::of("empty", &[]).is_err());
        let err = Range::of("act", &[1.0, f32::NAN]).unwrap_err();
        assert!(err.to_string().contains("act"));
        assert!(Range::new(2.0, 1.0).is_err());
        assert!(Range::new(f32::NEG_INFINITY, 1.0).is_err());
    }
}
