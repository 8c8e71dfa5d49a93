//! Packed sizes: what a tensor would occupy at its true bit width (tables report
//! both the artifact size and the packed size `bits x elements`).

use crate::error::{QuantError, Result};
use crate::ggml;

/// Bytes for `elements` values of `bits` each, densely packed: `ceil(elements · bits / 8)`.
pub fn packed_bits_bytes(elements: usize, bits: u32) -> Result<usize> {
    if bits == 0 || bits > 32 {
        return Err(QuantError::InvalidArgument(format!(
            "packed size: bits must be in 1..=32, got {bits}"
        )));
    }
    let total = (elements as u128) * bits as u128;
    usize::try_from(total.div_ceil(8))
        .map_err(|_| QuantError::InvalidArgument("packed size overflows usize".into()))
}

/// Description of a quantized tensor's storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedLayout {
    /// Number of quantized values.
    pub elements: usize,
    /// Bits per value.
    pub bits: u32,
    /// Number of scales (1 per tensor, per channel or per block).
    pub scales: usize,
    /// Bytes per scale (4 for f32, 2 for f16).
    pub scale_bytes: usize,
    /// Number of stored zero points (0 when symmetric and the format omits them).
    pub zero_points: usize,
    /// Bits per zero point (packed like the values; 8 for an int8 zero point).
    pub zero_point_bits: u32,
}

impl PackedLayout {
    /// Values + scales + zero points, each part packed to whole bytes.
    pub fn bytes(&self) -> Result<usize> {
        let values = packed_bits_bytes(self.elements, self.bits)?;
        let scales = self
            .scales
            .checked_mul(self.scale_bytes)
            .ok_or_else(|| QuantError::InvalidArgument("packed size overflows usize".into()))?;
        let zps = if self.zero_points == 0 {
            0
        } else {
            packed_bits_bytes(self.zero_points, self.zero_point_bits)?
        };
        Ok(values + scales + zps)
    }

    /// Per-block layout along one axis: `ceil(elements / block)` scales per `rows`.
    pub fn blockwise(
        rows: usize,
        row_len: usize,
        block: usize,
        bits: u32,
        scale_bytes: usize,
        with_zero_points: bool,
    ) -> Result<Self> {
        if block == 0 {
            return Err(QuantError::InvalidArgument("block size must be > 0".into()));
        }
        let blocks = rows * row_len.div_ceil(block);
        Ok(PackedLayout {
            elements: rows * row_len,
            bits,
            scales: blocks,
            scale_bytes,
            zero_points: if with_zero_points { blocks } else { 0 },
            zero_point_bits: bits,
        })
    }
}

/// Bytes of a GGML Q8_0 tensor (34 bytes per 32 values); `elements` must be a multiple of 32.
pub fn ggml_q8_0_bytes(elements: usize) -> Result<usize> {
    ggml_bytes(elements, ggml::Q8_0_BLOCK_BYTES)
}

/// Bytes of a GGML Q4_0 tensor (18 bytes per 32 values); `elements` must be a multiple of 32.
pub fn ggml_q4_0_bytes(elements: usize) -> Result<usize> {
    ggml_bytes(elements, ggml::Q4_0_BLOCK_BYTES)
}

fn ggml_bytes(elements: usize, block_bytes: usize) -> Result<usize> {
    if elements % ggml::QK != 0 {
        return Err(QuantError::Shape(format!(
            "GGML tensors need a multiple of {} elements, got {elements}",
            ggml::QK
        )));
    }
    Ok(elements / ggml::QK * block_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_bits_by_hand() {
        // 10 values x 3 bits = 30 bits -> 4 bytes; 64 x 4 = 256 bits -> 32 bytes; 7 x 1 -> 1 byte.
        assert_eq!(packed_bits_bytes(10, 3).unwrap(), 4);
        assert_eq!(packed_bits_bytes(64, 4).unwrap(), 32);
        assert_eq!(packed_bits_bytes(7, 1).unwrap(), 1);
        assert_eq!(packed_bits_bytes(0, 8).unwrap(), 0);
        assert!(packed_bits_bytes(1, 0).is_err());
    }

    #[test]
    fn layouts_by_hand() {
        // int8 per-channel conv weight 16x3x3x3 = 432 values + 16 f32 scales, no zero points:
        // 432 + 64 = 496 bytes.
        let l = PackedLayout {
            elements: 432,
            bits: 8,
            scales: 16,
            scale_bytes: 4,
            zero_points: 0,
            zero_point_bits: 8,
        };
        assert_eq!(l.bytes().unwrap(), 496);
        // 4-bit blockwise, 2 rows x 64, block 32, f16 scales, 4-bit zero points:
        // 128·4/8 = 64 + 4 scales·2 = 8 + 4 zps·4 bits = 2 -> 74 bytes.
        let b = PackedLayout::blockwise(2, 64, 32, 4, 2, true).unwrap();
        assert_eq!(b.scales, 4);
        assert_eq!(b.bytes().unwrap(), 74);
        assert!(PackedLayout::blockwise(1, 64, 0, 4, 2, false).is_err());
    }

    #[test]
    fn ggml_sizes() {
        // 64 values: Q4_0 2·18 = 36 bytes (= 64·4/8 + 2 f16 scales); Q8_0 2·34 = 68.
        assert_eq!(ggml_q4_0_bytes(64).unwrap(), 36);
        assert_eq!(ggml_q8_0_bytes(64).unwrap(), 68);
        let same = PackedLayout::blockwise(1, 64, 32, 4, 2, false).unwrap();
        assert_eq!(same.bytes().unwrap(), 36);
        assert!(ggml_q4_0_bytes(33).is_err());
    }
}
