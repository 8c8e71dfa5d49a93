//! The crop box of torchvision's `RandomResizedCrop` (`get_params`): an area fraction uniform
//! in `scale` and a log-uniform aspect ratio (width / height) in `ratio`, placed uniformly;
//! after 10 attempts that do not fit, a central crop clamped to the ratio range.

use rand::Rng;

use crate::DataError;

/// torchvision's default area fractions.
pub const DEFAULT_CROP_SCALE: [f64; 2] = [0.08, 1.0];
/// torchvision's default aspect ratios (width / height).
pub const DEFAULT_CROP_RATIO: [f64; 2] = [3.0 / 4.0, 4.0 / 3.0];

/// Attempts at a random box before the central fallback (torchvision's 10).
const ATTEMPTS: usize = 10;

/// A crop window in pixels: top-left corner and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropBox {
    pub top: u32,
    pub left: u32,
    pub height: u32,
    pub width: u32,
}

/// Validated `scale` and `ratio` ranges of a random-resized crop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomResizedCrop {
    scale: [f64; 2],
    ratio: [f64; 2],
}

/// Python's `round` (half to even) to a non-negative integer size.
fn round_size(x: f64) -> u64 {
    x.round_ties_even().max(0.0) as u64
}

impl RandomResizedCrop {
    /// Checks `0 < scale[0] <= scale[1] <= 1` and `0 < ratio[0] <= ratio[1]` (all finite).
    pub fn new(scale: [f64; 2], ratio: [f64; 2]) -> Result<Self, DataError> {
        let bad = |m: String| Err(DataError::Config(format!("image-crops: {m}")));
        let [s0, s1] = scale;
        if !(s0.is_finite() && s1.is_finite() && s0 > 0.0 && s0 <= s1 && s1 <= 1.0) {
            return bad(format!(
                "scale (the crop's fraction of the image area) must be [low, high] with \
                 0 < low <= high <= 1, got [{s0}, {s1}]"
            ));
        }
        let [r0, r1] = ratio;
        if !(r0.is_finite() && r1.is_finite() && r0 > 0.0 && r0 <= r1) {
            return bad(format!(
                "ratio (the crop's width / height) must be [low, high] with 0 < low <= high, \
                 got [{r0}, {r1}]"
            ));
        }
        Ok(RandomResizedCrop { scale, ratio })
    }

    /// A box inside a `width x height` image (both > 0), drawn from `rng`.
    pub fn sample(&self, width: u32, height: u32, rng: &mut impl Rng) -> CropBox {
        let (iw, ih) = (width as u64, height as u64);
        let area = (iw * ih) as f64;
        let [s0, s1] = self.scale;
        let (l0, l1) = (self.ratio[0].ln(), self.ratio[1].ln());
        for _ in 0..ATTEMPTS {
            // Uniform draws as `a + (b - a) * u`: an empty range (a == b) is allowed.
            let target = area * (s0 + (s1 - s0) * rng.gen::<f64>());
            let aspect = (l0 + (l1 - l0) * rng.gen::<f64>()).exp();
            let w = round_size((target * aspect).sqrt());
            let h = round_size((target / aspect).sqrt());
            if 0 < w && w <= iw && 0 < h && h <= ih {
                let top = rng.gen_range(0..=ih - h);
                let left = rng.gen_range(0..=iw - w);
                return CropBox {
                    top: top as u32,
                    left: left as u32,
                    height: h as u32,
                    width: w as u32,
                };
            }
        }
        // Central fallback; sizes are kept >= 1 for extreme ratios on tiny images.
        let in_ratio = iw as f64 / ih as f64;
        let (w, h) = if in_ratio < self.ratio[0] {
            (iw, round_size(iw as f64 / self.ratio[0]).clamp(1, ih))
        } else if in_ratio > self.ratio[1] {
            (round_size(ih as f64 * self.ratio[1]).clamp(1, iw), ih)
        } else {
            (iw, ih)
        };
        CropBox {
            top: ((ih - h) / 2) as u32,
            left: ((iw - w) / 2) as u32,
            height: h as u32,
            width: w as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn crop(scale: [f64; 2], ratio: [f64; 2]) -> RandomResizedCrop {
        RandomResizedCrop::new(scale, ratio).unwrap()
    }

    fn boxes(c: RandomResizedCrop, w: u32, h: u32, n: usize) -> Vec<CropBox> {
        let mut rng = StdRng::seed_from_u64(5);
        (0..n).map(|_| c.sample(w, h, &mut rng)).collect()
    }

    fn inside(b: &CropBox, w: u32, h: u32) -> bool {
        b.width > 0 && b.height > 0 && b.left + b.width <= w && b.top + b.height <= h
    }

    #[test]
    fn boxes_lie_inside_with_the_requested_area_and_aspect() {
        // On a square image, area <= 0.5 and aspect in [3/4, 4/3] always fit: no fallback.
        let c = crop([0.1, 0.5], DEFAULT_CROP_RATIO);
        let all = boxes(c, 500, 500, 2000);
        for b in &all {
            assert!(inside(b, 500, 500), "{b:?}");
            let frac = (b.width * b.height) as f64 / 250_000.0;
            let aspect = b.width as f64 / b.height as f64;
            // Rounding each side (>= 137 px here) moves these by well under 1%.
            assert!((0.099..=0.505).contains(&frac), "{b:?}: area {frac}");
            assert!((0.745..=1.34).contains(&aspect), "{b:?}: aspect {aspect}");
        }
        let (small, large) = all.iter().fold((1.0f64, 0.0f64), |(lo, hi), b| {
            let f = (b.width * b.height) as f64 / 250_000.0;
            (lo.min(f), hi.max(f))
        });
        assert!(
            small < 0.12 && large > 0.48,
            "spans the scale: {small}..{large}"
        );
        let tops: std::collections::BTreeSet<u32> = all.iter().map(|b| b.top).collect();
        assert!(tops.len() > 100, "placed anywhere, not only centered");

        // Default parameters on odd sizes, including ones that force the fallback.
        for (w, h) in [(640, 480), (480, 640), (37, 5), (1, 1), (1, 300), (3, 2)] {
            for b in boxes(crop(DEFAULT_CROP_SCALE, DEFAULT_CROP_RATIO), w, h, 300) {
                assert!(inside(&b, w, h), "{w}x{h}: {b:?}");
            }
        }
    }

    #[test]
    fn fallback_is_the_central_crop_within_the_ratio() {
        let one = |c, w, h| boxes(c, w, h, 1)[0];
        // Too wide a ratio for the image: full width, height from the lowest ratio.
        let b = one(crop([1.0, 1.0], [2.0, 3.0]), 100, 100);
        assert_eq!((b.left, b.top, b.width, b.height), (0, 25, 100, 50));
        // Too tall: full height, width from the highest ratio.
        let b = one(crop([1.0, 1.0], [0.25, 0.5]), 100, 100);
        assert_eq!((b.left, b.top, b.width, b.height), (25, 0, 50, 100));
        // Whole image when its ratio is in range (or an attempt lands on it exactly).
        let b = one(crop([1.0, 1.0], [0.5, 2.0]), 100, 100);
        assert_eq!((b.left, b.top, b.width, b.height), (0, 0, 100, 100));
        // 7x5 with scale 1 and ratio 1: sqrt(35) rounds to 6 > 5, so fall back to 5x5 centered
        // (offsets floor-divided as torchvision: (7 - 5) // 2 = 1).
        let b = one(crop([1.0, 1.0], [1.0, 1.0]), 7, 5);
        assert_eq!((b.left, b.top, b.width, b.height), (1, 0, 5, 5));
        // A ratio no box can reach on a 1-pixel-wide image still gives a non-empty box.
        let b = one(crop([0.5, 1.0], [100.0, 200.0]), 1, 10);
        assert_eq!((b.left, b.top, b.width, b.height), (0, 4, 1, 1));
    }

    #[test]
    fn same_rng_state_same_box() {
        let c = crop(DEFAULT_CROP_SCALE, DEFAULT_CROP_RATIO);
        assert_eq!(boxes(c, 300, 200, 50), boxes(c, 300, 200, 50));
    }

    #[test]
    fn rejects_bad_ranges() {
        let err = |s, r| RandomResizedCrop::new(s, r).unwrap_err().to_string();
        for s in [
            [0.5, 0.25],
            [0.0, 1.0],
            [-0.1, 0.5],
            [0.5, 1.5],
            [f64::NAN, 1.0],
        ] {
            let e = err(s, DEFAULT_CROP_RATIO);
            assert!(
                e.contains("image-crops: scale") && e.contains("<= 1"),
                "{e}"
            );
        }
        for r in [[2.0, 1.0], [0.0, 1.0], [-1.0, 1.0], [1.0, f64::INFINITY]] {
            let e = err(DEFAULT_CROP_SCALE, r);
            assert!(e.contains("image-crops: ratio"), "{e}");
        }
        assert!(RandomResizedCrop::new([1.0, 1.0], [1.0, 1.0]).is_ok());
    }
}
