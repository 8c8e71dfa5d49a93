//! Integer storage types (bit width and signedness) and their integer ranges.

use crate::error::{QuantError, Result};

/// Smallest supported bit width.
pub const MIN_BITS: u32 = 2;
/// Largest supported bit width.
pub const MAX_BITS: u32 = 16;

/// Fails unless `MIN_BITS <= bits <= MAX_BITS`.
pub fn check_bits(what: &str, bits: u32) -> Result<()> {
    if (MIN_BITS..=MAX_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(QuantError::UnsupportedBits {
            what: what.to_string(),
            bits,
            min: MIN_BITS,
            max: MAX_BITS,
        })
    }
}

/// An integer storage type: bit width (2..=16) and signedness.
///
/// Sub-8-bit types are stored in int8/uint8 containers at run time with the integer range
/// restricted (the Q/DQ operators only know 8- and 16-bit types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QType {
    bits: u32,
    signed: bool,
}

impl QType {
    /// int8.
    pub const INT8: QType = QType {
        bits: 8,
        signed: true,
    };
    /// uint8.
    pub const UINT8: QType = QType {
        bits: 8,
        signed: false,
    };
    /// int16.
    pub const INT16: QType = QType {
        bits: 16,
        signed: true,
    };
    /// uint16.
    pub const UINT16: QType = QType {
        bits: 16,
        signed: false,
    };
    /// int4.
    pub const INT4: QType = QType {
        bits: 4,
        signed: true,
    };
    /// uint4.
    pub const UINT4: QType = QType {
        bits: 4,
        signed: false,
    };

    /// A `bits`-wide type; fails outside 2..=16 bits.
    pub fn new(bits: u32, signed: bool) -> Result<Self> {
        check_bits("QType", bits)?;
        Ok(QType { bits, signed })
    }

    /// Bit width.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Whether the type is two's-complement signed.
    pub fn is_signed(&self) -> bool {
        self.signed
    }

    /// The whole range: `[-2^(b-1), 2^(b-1)-1]` signed, `[0, 2^b-1]` unsigned.
    pub fn full_range(&self) -> (i32, i32) {
        if self.signed {
            (-(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1)
        } else {
            (0, (1 << self.bits) - 1)
        }
    }

    /// The "narrow range" of TFLite/MLIR (`narrow_range=true`): the lowest level is dropped,
    /// `[-(2^(b-1)-1), 2^(b-1)-1]` signed (int8: `[-127, 127]`), `[1, 2^b-1]` unsigned.
    pub fn narrow_range(&self) -> (i32, i32) {
        let (lo, hi) = self.full_range();
        (lo + 1, hi)
    }

    /// Name such as `int8`, `uint4`.
    pub fn name(&self) -> String {
        format!("{}int{}", if self.signed { "" } else { "u" }, self.bits)
    }
}

impl std::fmt::Display for QType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_by_hand() {
        // int8: -2^7 .. 2^7-1 = [-128, 127]; narrow drops -128.
        assert_eq!(QType::INT8.full_range(), (-128, 127));
        assert_eq!(QType::INT8.narrow_range(), (-127, 127));
        // uint8: 0 .. 2^8-1; narrow (MLIR) starts at 1.
        assert_eq!(QType::UINT8.full_range(), (0, 255));
        assert_eq!(QType::UINT8.narrow_range(), (1, 255));
        // int4: [-8, 7]; int2: [-2, 1]; uint2: [0, 3]; int16: [-32768, 32767].
        assert_eq!(QType::INT4.full_range(), (-8, 7));
        assert_eq!(QType::new(2, true).unwrap().full_range(), (-2, 1));
        assert_eq!(QType::new(2, false).unwrap().full_range(), (0, 3));
        assert_eq!(QType::INT16.full_range(), (-32768, 32767));
        assert_eq!(QType::UINT16.full_range(), (0, 65535));
    }

    #[test]
    fn bit_width_limits() {
        assert!(QType::new(1, true).is_err());
        assert!(QType::new(17, false).is_err());
        let err = QType::new(32, true).unwrap_err();
        assert!(matches!(err, QuantError::UnsupportedBits { bits: 32, .. }));
        assert!(check_bits("w", 2).is_ok() && check_bits("w", 16).is_ok());
    }

    #[test]
    fn names() {
        assert_eq!(QType::INT8.to_string(), "int8");
        assert_eq!(QType::UINT4.name(), "uint4");
    }
}
