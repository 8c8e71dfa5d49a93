//! `NpyData`: the elements of an npy array in their stored type (kept compact, converted to
//! f32 per sample), and the Fortran-to-C reordering.

/// The elements of an array in its stored type (kept compact; converted per sample).
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    Bool(Vec<bool>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F16(Vec<npyz::half::f16>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

macro_rules! each_variant {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            NpyData::Bool($v) => $body,
            NpyData::U8($v) => $body,
            NpyData::I8($v) => $body,
            NpyData::U16($v) => $body,
            NpyData::I16($v) => $body,
            NpyData::U32($v) => $body,
            NpyData::I32($v) => $body,
            NpyData::U64($v) => $body,
            NpyData::I64($v) => $body,
            NpyData::F16($v) => $body,
            NpyData::F32($v) => $body,
            NpyData::F64($v) => $body,
        }
    };
}

impl NpyData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        each_variant!(self, v => v.len())
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The numpy name of the element type.
    pub fn dtype_name(&self) -> &'static str {
        match self {
            NpyData::Bool(_) => "bool",
            NpyData::U8(_) => "uint8",
            NpyData::I8(_) => "int8",
            NpyData::U16(_) => "uint16",
            NpyData::I16(_) => "int16",
            NpyData::U32(_) => "uint32",
            NpyData::I32(_) => "int32",
            NpyData::U64(_) => "uint64",
            NpyData::I64(_) => "int64",
            NpyData::F16(_) => "float16",
            NpyData::F32(_) => "float32",
            NpyData::F64(_) => "float64",
        }
    }

    /// Copies elements `start..start + out.len()` into `out` as f32 (the caller checks bounds).
    pub fn copy_f32(&self, start: usize, out: &mut [f32]) {
        let end = start + out.len();
        match self {
            NpyData::Bool(v) => copy(&v[start..end], out, |x| x as u8 as f32),
            NpyData::U8(v) => copy(&v[start..end], out, |x| x as f32),
            NpyData::I8(v) => copy(&v[start..end], out, |x| x as f32),
            NpyData::U16(v) => copy(&v[start..end], out, |x| x as f32),
            NpyData::I16(v) => copy(&v[start..end], out, |x| x as f32),
            NpyData::U32(v) => copy(&v[start..end], out, |x| x as f32),
            NpyData::I32(v) => copy(&v[start..end], out, |x| x as f32),
            NpyData::U64(v) => copy(&v[start..end], out, |x| x as f32),
            NpyData::I64(v) => copy(&v[start..end], out, |x| x as f32),
            NpyData::F16(v) => copy(&v[start..end], out, |x| x.to_f32()),
            NpyData::F32(v) => out.copy_from_slice(&v[start..end]),
            NpyData::F64(v) => copy(&v[start..end], out, |x| x as f32),
        }
    }

    /// The same elements reordered from column-major (Fortran) to row-major (C) `shape`.
    pub fn fortran_to_c(self, shape: &[usize]) -> Self {
        each_variant!(self, v => NpyData::from(fortran_to_c(v, shape)))
    }

    /// Element `i` as f64 (exact for every integer a label can hold).
    pub(crate) fn get_f64(&self, i: usize) -> f64 {
        each_variant!(self, v => to_f64(v[i]))
    }
}

trait ToF64: Copy {
    fn f64(self) -> f64;
}
macro_rules! to_f64_as {
    ($($t:ty),*) => { $(impl ToF64 for $t { fn f64(self) -> f64 { self as f64 } })* };
}
to_f64_as!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);
impl ToF64 for bool {
    fn f64(self) -> f64 {
        self as u8 as f64
    }
}
impl ToF64 for npyz::half::f16 {
    fn f64(self) -> f64 {
        self.to_f64()
    }
}
fn to_f64<T: ToF64>(x: T) -> f64 {
    x.f64()
}

fn copy<T: Copy>(src: &[T], out: &mut [f32], f: impl Fn(T) -> f32) {
    for (o, s) in out.iter_mut().zip(src) {
        *o = f(*s);
    }
}

macro_rules! data_from {
    ($($variant:ident: $t:ty),*) => {
        $(impl From<Vec<$t>> for NpyData { fn from(v: Vec<$t>) -> Self { NpyData::$variant(v) } })*
    };
}
data_from!(Bool: bool, U8: u8, I8: i8, U16: u16, I16: i16, U32: u32, I32: i32, U64: u64,
           I64: i64, F16: npyz::half::f16, F32: f32, F64: f64);

/// Reorders column-major (Fortran) data of `shape` to row-major (C) order.
fn fortran_to_c<T: Copy>(data: Vec<T>, shape: &[usize]) -> Vec<T> {
    let mut strides = Vec::with_capacity(shape.len());
    let mut s = 1;
    for d in shape {
        strides.push(s);
        s *= d;
    }
    let mut index = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(data.len());
    for _ in 0..data.len() {
        out.push(
            data[index
                .iter()
                .zip(&strides)
                .map(|(i, s)| i * s)
                .sum::<usize>()],
        );
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_to_f32_and_f64() {
        let d = NpyData::I16(vec![-2, 7, 300]);
        let mut out = [0f32; 2];
        d.copy_f32(1, &mut out);
        assert_eq!(out, [7.0, 300.0]);
        assert_eq!((d.len(), d.dtype_name(), d.get_f64(0)), (3, "int16", -2.0));
        let h = NpyData::F16(vec![npyz::half::f16::from_f32(0.5)]);
        assert_eq!(h.get_f64(0), 0.5);
        assert!(NpyData::Bool(vec![]).is_empty());
    }

    #[test]
    fn fortran_to_c_reorders() {
        let v: Vec<u8> = (0..24).collect();
        let c = fortran_to_c(v, &[2, 3, 4]);
        // Element [i, j, k] of C order sits at i + 2 j + 6 k in Fortran order.
        assert_eq!(c[4 + 1], 2 + 6); // [0, 1, 1]
        assert_eq!(c[12 + 4 * 2 + 3], 1 + 2 * 2 + 6 * 3); // [1, 2, 3]
        assert_eq!(c[0], 0);
    }
}
