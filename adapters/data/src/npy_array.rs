//! Whole `.npy` arrays (from a file or from an entry of an `.npz` archive), decoded with `npyz`
//! into their native element type and converted to C order.

use std::io::{Cursor, Read};
use std::path::Path;

use npyz::{DType, NpyFile, NpyHeader, Order, TypeChar};

use crate::{DataError, NpyData};

/// An n-dimensional array in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

impl NpyArray {
    /// Reads a `.npy` file.
    pub fn read_npy(path: &Path) -> Result<Self, DataError> {
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        Self::parse(&bytes, path, "")
    }

    /// Reads array `name` of a `.npz` archive (a zip of `name.npy` entries).
    pub fn read_npz(path: &Path, name: &str) -> Result<Self, DataError> {
        let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
        let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
            .map_err(|e| DataError::invalid(path, format!("not an npz (zip) archive: {e}")))?;
        let entry_name = format!("{name}.npy");
        if zip.index_for_name(&entry_name).is_none() {
            let names: Vec<String> = zip
                .file_names()
                .filter_map(|n| n.ok()?.strip_suffix(".npy").map(|s| format!("'{s}'")))
                .collect();
            return Err(DataError::invalid(
                path,
                format!("no array '{name}' (arrays: {})", names.join(", ")),
            ));
        }
        let mut entry = zip
            .by_name(&entry_name)
            .map_err(|e| DataError::invalid(path, format!("array '{name}': {e}")))?;
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| DataError::Truncated {
                path: path.to_path_buf(),
                reason: format!("array '{name}': {e}"),
            })?;
        Self::parse(&bytes, path, &format!("array '{name}': "))
    }

    /// Parses the bytes of one npy file; `what` prefixes error reasons (e.g. the npz key).
    pub fn parse(bytes: &[u8], path: &Path, what: &str) -> Result<Self, DataError> {
        let invalid = |m: String| DataError::invalid(path, format!("{what}{m}"));
        let mut cursor = Cursor::new(bytes);
        let header = NpyHeader::from_reader(&mut cursor).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                DataError::Truncated {
                    path: path.to_path_buf(),
                    reason: format!("{what}npy header: {e}"),
                }
            } else {
                invalid(format!("not an npy array: {e}"))
            }
        })?;
        let data_bytes = &bytes[(cursor.position() as usize).min(bytes.len())..];
        let dtype = header.dtype();
        let shape: Vec<usize> = header
            .shape()
            .iter()
            .map(|d| usize::try_from(*d))
            .collect::<Result<_, _>>()
            .map_err(|_| invalid(format!("shape {:?} too large", header.shape())))?;
        let item = match &dtype {
            DType::Plain(ts) => ts.num_bytes(),
            _ => None,
        };
        let need = shape
            .iter()
            .try_fold(item.unwrap_or(1), |a, d| a.checked_mul(*d))
            .ok_or_else(|| invalid(format!("shape {shape:?} overflows")))?;
        let order = header.order();
        let file = NpyFile::with_header(header, data_bytes);
        let read_err = |e: std::io::Error| invalid(format!("reading {} data: {e}", dtype.descr()));
        macro_rules! read {
            ($variant:ident, $t:ty) => {
                NpyData::$variant(file.into_vec::<$t>().map_err(read_err)?)
            };
        }
        let unsupported = || {
            invalid(format!(
                "dtype {} is not supported (use bool, u8, i8, u16, i16, u32, i32, u64, i64, \
                 f16, f32 or f64)",
                dtype.descr()
            ))
        };
        let DType::Plain(ts) = &dtype else {
            return Err(unsupported());
        };
        // Check the length before decoding so a short file says "truncated".
        if item.is_some() && data_bytes.len() != need {
            let m = format!(
                "shape {shape:?} of {} needs {need} data bytes, found {}",
                dtype.descr(),
                data_bytes.len()
            );
            return Err(if data_bytes.len() < need {
                DataError::Truncated {
                    path: path.to_path_buf(),
                    reason: format!("{what}{m}"),
                }
            } else {
                invalid(m)
            });
        }
        let data = match (ts.type_char(), item) {
            (TypeChar::Bool, Some(1)) => read!(Bool, bool),
            (TypeChar::Uint, Some(1)) => read!(U8, u8),
            (TypeChar::Int, Some(1)) => read!(I8, i8),
            (TypeChar::Uint, Some(2)) => read!(U16, u16),
            (TypeChar::Int, Some(2)) => read!(I16, i16),
            (TypeChar::Uint, Some(4)) => read!(U32, u32),
            (TypeChar::Int, Some(4)) => read!(I32, i32),
            (TypeChar::Uint, Some(8)) => read!(U64, u64),
            (TypeChar::Int, Some(8)) => read!(I64, i64),
            (TypeChar::Float, Some(2)) => read!(F16, npyz::half::f16),
            (TypeChar::Float, Some(4)) => read!(F32, f32),
            (TypeChar::Float, Some(8)) => read!(F64, f64),
            _ => return Err(unsupported()),
        };
        let data = if order == Order::Fortran && shape.len() > 1 {
            data.fortran_to_c(&shape)
        } else {
            data
        };
        Ok(NpyArray { shape, data })
    }

    /// The array as class labels: shape `[n]` or `[n, 1]`, non-negative integers (integral floats
    /// are accepted) that fit in u32.
    pub fn to_labels(&self, path: &Path, what: &str) -> Result<Vec<u32>, DataError> {
        let invalid = |m: String| DataError::invalid(path, format!("{what}{m}"));
        if !matches!(self.shape[..], [_] | [_, 1]) {
            return Err(invalid(format!(
                "labels must have shape [n] or [n, 1], found {:?}",
                self.shape
            )));
        }
        (0..self.data.len())
            .map(|i| {
                let x = self.data.get_f64(i);
                if x.fract() != 0.0 || !(0.0..=u32::MAX as f64).contains(&x) {
                    Err(invalid(format!(
                        "label {x} at index {i} is not a non-negative integer"
                    )))
                } else {
                    Ok(x as u32)
                }
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use npyz::{AutoSerialize, WriteOptions, WriterBuilder};

    /// The bytes of an npy file of `shape` holding `data` (C order unless `fortran`).
    pub(crate) fn npy_bytes<T: AutoSerialize + Copy>(
        shape: &[u64],
        data: &[T],
        fortran: bool,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let order = if fortran { Order::Fortran } else { Order::C };
        let mut w = WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .order(order)
            .writer(&mut out)
            .begin_nd()
            .unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
        out
    }

    /// Writes an npz archive of (name, npy bytes) entries.
    pub(crate) fn write_npz(path: &Path, entries: &[(&str, Vec<u8>)]) {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in entries {
            zip.start_file(format!("{name}.npy"), opts).unwrap();
            std::io::Write::write_all(&mut zip, bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    fn parse(bytes: &[u8]) -> Result<NpyArray, DataError> {
        NpyArray::parse(bytes, Path::new("t.npy"), "")
    }

    fn as_f32(a: &NpyArray) -> Vec<f32> {
        let mut out = vec![0f32; a.data.len()];
        a.data.copy_f32(0, &mut out);
        out
    }

    #[test]
    fn reads_every_supported_dtype() {
        let want = [0f32, 1.0, 2.0, 3.0];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (npy_bytes(&[2, 2], &[0u8, 1, 2, 3], false), "uint8"),
            (npy_bytes(&[2, 2], &[0i8, 1, 2, 3], false), "int8"),
            (npy_bytes(&[2, 2], &[0u16, 1, 2, 3], false), "uint16"),
            (npy_bytes(&[2, 2], &[0i16, 1, 2, 3], false), "int16"),
            (npy_bytes(&[2, 2], &[0u32, 1, 2, 3], false), "uint32"),
            (npy_bytes(&[2, 2], &[0i32, 1, 2, 3], false), "int32"),
            (npy_bytes(&[2, 2], &[0u64, 1, 2, 3], false), "uint64"),
            (npy_bytes(&[2, 2], &[0i64, 1, 2, 3], false), "int64"),
            (
                npy_bytes(&[2, 2], &[0.0f32, 1.0, 2.0, 3.0], false),
                "float32",
            ),
            (
                npy_bytes(&[2, 2], &[0.0f64, 1.0, 2.0, 3.0], false),
                "float64",
            ),
            (
                npy_bytes(&[2, 2], &want.map(npyz::half::f16::from_f32), false),
                "float16",
            ),
        ];
        for (bytes, name) in cases {
            let a = parse(&bytes).unwrap();
            assert_eq!(
                (a.shape.as_slice(), a.data.dtype_name()),
                (&[2usize, 2][..], name)
            );
            assert_eq!(as_f32(&a), want, "{name}");
        }
        let b = parse(&npy_bytes(&[2], &[true, false], false)).unwrap();
        assert_eq!(as_f32(&b), [1.0, 0.0]);
    }

    #[test]
    fn fortran_order_becomes_c_order() {
        // C-order [[0, 1, 2], [3, 4, 5]] stored column-major is 0 3 1 4 2 5.
        let a = parse(&npy_bytes(&[2, 3], &[0i32, 3, 1, 4, 2, 5], true)).unwrap();
        assert_eq!(as_f32(&a), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn rejects_bad_files() {
        let good = npy_bytes(&[2, 2], &[1.0f32, 2.0, 3.0, 4.0], false);
        let e = parse(&good[..good.len() - 3]).unwrap_err();
        assert!(matches!(e, DataError::Truncated { .. }), "{e}");
        assert!(
            e.to_string().contains("needs 16 data bytes, found 13"),
            "{e}"
        );
        let e = parse(&good[..20]).unwrap_err();
        assert!(matches!(e, DataError::Truncated { .. }), "{e}");
        let mut long = good.clone();
        long.push(0);
        assert!(parse(&long).unwrap_err().to_string().contains("found 17"));
        let e = parse(b"not numpy at all, just text")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.npy") && e.contains("not an npy array"), "{e}");
        let mut complex = npy_bytes(&[1], &[0u64], false);
        let at = complex.windows(3).position(|w| w == b"<u8").unwrap();
        complex[at + 1] = b'c';
        let e = parse(&complex).unwrap_err().to_string();
        assert!(e.contains("dtype '<c8' is not supported"), "{e}");
    }

    #[test]
    fn labels_are_validated() {
        let p = Path::new("l.npy");
        let ok = parse(&npy_bytes(&[3, 1], &[2i64, 0, 7], false)).unwrap();
        assert_eq!(ok.to_labels(p, "").unwrap(), [2, 0, 7]);
        let fl = parse(&npy_bytes(&[2], &[1.0f32, 4.0], false)).unwrap();
        assert_eq!(fl.to_labels(p, "").unwrap(), [1, 4]);
        let neg = parse(&npy_bytes(&[2], &[1i32, -1], false)).unwrap();
        let e = neg.to_labels(p, "").unwrap_err().to_string();
        assert!(
            e.contains("l.npy") && e.contains("label -1 at index 1"),
            "{e}"
        );
        let frac = parse(&npy_bytes(&[1], &[0.5f64], false)).unwrap();
        assert!(frac.to_labels(p, "").is_err());
        let wide = parse(&npy_bytes(&[2, 2], &[0u8; 4], false)).unwrap();
        assert!(wide
            .to_labels(p, "")
            .unwrap_err()
            .to_string()
            .contains("shape [n]"));
    }

    #[test]
    fn npz_arrays_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.npz");
        write_npz(
            &path,
            &[
                ("x", npy_bytes(&[1, 2], &[5u8, 6], false)),
                ("y", npy_bytes(&[1], &[3i64], false)),
            ],
        );
        assert_eq!(as_f32(&NpyArray::read_npz(&path, "x").unwrap()), [5.0, 6.0]);
        let e = NpyArray::read_npz(&path, "z").unwrap_err().to_string();
        assert!(e.contains("no array 'z'") && e.contains("'x', 'y'"), "{e}");
        let not_zip = dir.path().join("n.npz");
        std::fs::write(&not_zip, b"garbage").unwrap();
        assert!(NpyArray::read_npz(&not_zip, "x")
            .unwrap_err()
            .to_string()
            .contains("zip"));
        let e = NpyArray::read_npz(&dir.path().join("missing.npz"), "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.npz"), "{e}");
    }
}
