//! Tensor payloads (initializers and tensor attributes), stored as little-endian bytes.

use crate::IrError;

/// Element types qbench reads and writes (ONNX `TensorProto.DataType` numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    U8,
    I8,
    U16,
    I16,
    I32,
    I64,
    F16,
}

impl DType {
    /// ONNX data type code.
    pub fn onnx_code(self) -> i32 {
        match self {
            DType::F32 => 1,
            DType::U8 => 2,
            DType::I8 => 3,
            DType::U16 => 4,
            DType::I16 => 5,
            DType::I32 => 6,
            DType::I64 => 7,
            DType::F16 => 10,
        }
    }

    /// From an ONNX data type code.
    pub fn from_onnx(code: i32) -> Result<Self, IrError> {
        Ok(match code {
            1 => DType::F32,
            2 => DType::U8,
            3 => DType::I8,
            4 => DType::U16,
            5 => DType::I16,
            6 => DType::I32,
            7 => DType::I64,
            10 => DType::F16,
            other => return Err(IrError::DType(other)),
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::U8 | DType::I8 => 1,
            DType::U16 | DType::I16 | DType::F16 => 2,
            DType::F32 | DType::I32 => 4,
            DType::I64 => 8,
        }
    }
}

/// A named constant tensor: dims plus raw little-endian data.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorData {
    pub name: String,
    pub dtype: DType,
    pub dims: Vec<i64>,
    pub raw: Vec<u8>,
}

macro_rules! typed {
    ($from:ident, $to:ident, $t:ty, $dt:expr) => {
        /// Builds a tensor from typed values.
        pub fn $from(name: impl Into<String>, dims: Vec<i64>, values: &[$t]) -> Self {
            let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            TensorData {
                name: name.into(),
                dtype: $dt,
                dims,
                raw,
            }
        }
        /// Reads the values, checking the element type.
        pub fn $to(&self) -> Result<Vec<$t>, IrError> {
            self.expect($dt)?;
            const N: usize = std::mem::size_of::<$t>();
            Ok(self
                .raw
                .chunks_exact(N)
                .map(|c| <$t>::from_le_bytes(c.try_into().expect("chunk size")))
                .collect())
        }
    };
}

impl TensorData {
    typed!(from_f32, to_f32, f32, DType::F32);
    typed!(from_i8, to_i8, i8, DType::I8);
    typed!(from_u8, to_u8, u8, DType::U8);
    typed!(from_i16, to_i16, i16, DType::I16);
    typed!(from_u16, to_u16, u16, DType::U16);
    typed!(from_i32, to_i32, i32, DType::I32);
    typed!(from_i64, to_i64, i64, DType::I64);

    /// Number of elements given by the dims (1 for a scalar).
    pub fn len(&self) -> usize {
        self.dims.iter().product::<i64>().max(0) as usize
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks that the payload length matches dims and dtype.
    pub fn validate(&self) -> Result<(), IrError> {
        if self.dims.iter().any(|d| *d < 0) {
            return Err(self.err(format!("negative dimension in {:?}", self.dims)));
        }
        let want = self.len() * self.dtype.size();
        if self.raw.len() != want {
            return Err(self.err(format!(
                "{} bytes of data for dims {:?} of {:?} (expected {want})",
                self.raw.len(),
                self.dims,
                self.dtype
            )));
        }
        Ok(())
    }

    fn expect(&self, dtype: DType) -> Result<(), IrError> {
        if self.dtype != dtype {
            return Err(self.err(format!("is {:?}, expected {:?}", self.dtype, dtype)));
        }
        Ok(())
    }

    fn err(&self, reason: String) -> IrError {
        IrError::Tensor {
            name: self.name.clone(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_round_trip_and_checks() {
        let t = TensorData::from_f32("w", vec![2, 2], &[1.0, -2.0, 3.5, 0.0]);
        assert_eq!(t.to_f32().unwrap(), vec![1.0, -2.0, 3.5, 0.0]);
        assert!(t.to_i8().is_err());
        t.validate().unwrap();
        let bad = TensorData {
            raw: vec![0; 3],
            ..t
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("expected 16"));
    }
}
