//! Running max |x| (what Ristretto's `findMax` collects per layer for dynamic fixed point).

use super::{batch_min_max, Observer};
use crate::error::{QuantError, Result};
use crate::fixed_point::{DynamicFixedPoint, FixedPointRole};
use crate::params::Range;

/// Streaming max-abs observer (O(1) memory); its range is `[-max|x|, max|x|]`.
#[derive(Debug, Clone, Default)]
pub struct MaxAbsObserver {
    max_abs: f32,
    batches: usize,
}

impl MaxAbsObserver {
    /// A new observer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The largest magnitude seen so far.
    pub fn max_abs(&self) -> Result<f32> {
        if self.batches == 0 {
            return Err(QuantError::NoData {
                observer: self.name(),
            });
        }
        Ok(self.max_abs)
    }

    /// Ristretto's dynamic fixed point format for what was observed.
    pub fn fixed_point(&self, bits: u32, role: FixedPointRole) -> Result<DynamicFixedPoint> {
        DynamicFixedPoint::from_max_abs(self.max_abs()?, bits, role)
    }
}

impl Observer for MaxAbsObserver {
    fn observe(&mut self, batch: &[f32]) -> Result<()> {
        let Some((lo, hi)) = batch_min_max(self.name(), self.batches, batch)? else {
            return Ok(());
        };
        self.max_abs = self.max_abs.max(lo.abs()).max(hi.abs());
        self.batches += 1;
        Ok(())
    }

    fn range(&self) -> Result<Range> {
        let m = self.max_abs()?;
        Ok(Range { min: -m, max: m })
    }

    fn name(&self) -> &'static str {
        "maxabs"
    }

    fn batches(&self) -> usize {
        self.batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        // batches [0.5, -0.75] and [0.1]: max |x| = 0.75; weights at 8 bits -> fl = 7.
        let mut o = MaxAbsObserver::new();
        o.observe(&[0.5, -0.75]).unwrap();
        o.observe(&[0.1]).unwrap();
        assert_eq!(o.max_abs().unwrap(), 0.75);
        assert_eq!(
            o.range().unwrap(),
            Range {
                min: -0.75,
                max: 0.75
            }
        );
        assert_eq!(o.fixed_point(8, FixedPointRole::Parameters).unwrap().fl, 7);
        // Activations with max 0.75: il = ceil(log2 0.75) = 0 -> fl = 8.
        assert_eq!(o.fixed_point(8, FixedPointRole::Activations).unwrap().fl, 8);
    }

    #[test]
    fn edge_cases() {
        let mut o = MaxAbsObserver::new();
        assert!(o.range().is_err());
        o.observe(&[]).unwrap();
        assert!(o.max_abs().is_err());
        o.observe(&[0.0, -0.0]).unwrap();
        assert_eq!(o.max_abs().unwrap(), 0.0);
        o.observe(&[-2.0]).unwrap();
        assert_eq!(
            o.range().unwrap(),
            Range {
                min: -2.0,
                max: 2.0
            }
        );
        assert!(o.observe(&[f32::NAN]).is_err());
        assert_eq!(o.batches(), 2);
    }
}
