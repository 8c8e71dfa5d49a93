//! The IDX file format (used by MNIST and Fashion-MNIST), optionally gzip-compressed.
//!
//! Layout: two zero bytes, a dtype byte, a rank byte, `rank` big-endian u32 dimensions, then the
//! data in row-major order. qbench only needs unsigned bytes (dtype 0x08); other dtypes are
//! recognised and rejected by name.

use std::io::{Read, Write};
use std::path::Path;

use crate::DataError;

/// A decoded IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

fn dtype_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => return None,
    })
}

/// Reads an IDX file (plain or gzip), validating magic, dtype, dimensions and length.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray, DataError> {
    let path = path.as_ref();
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        // Member by member (a gzip file may hold several, as `gzip -d` reads them), so that
        // bytes after the last member are an error instead of being ignored.
        let mut out = Vec::new();
        let mut rest: &[u8] = &raw;
        while !rest.is_empty() {
            if !rest.starts_with(&[0x1f, 0x8b]) {
                return Err(DataError::Format {
                    path: path.to_path_buf(),
                    reason: format!(
                        "{} bytes of trailing data after the gzip stream (a damaged or appended-to file)",
                        rest.len()
                    ),
                });
            }
            let mut member = flate2::bufread::GzDecoder::new(rest);
            member
                .read_to_end(&mut out)
                .map_err(|e| DataError::Truncated {
                    path: path.to_path_buf(),
                    reason: format!("gzip stream: {e}"),
                })?;
            rest = member.into_inner();
        }
        out
    } else {
        raw
    };
    parse_idx(&bytes).map_err(|(truncated, reason)| {
        let path = path.to_path_buf();
        if truncated {
            DataError::Truncated { path, reason }
        } else {
            DataError::Format { path, reason }
        }
    })
}

/// Parses IDX bytes; the error says whether the file is truncated (true) or malformed (false).
fn parse_idx(b: &[u8]) -> Result<IdxArray, (bool, String)> {
    if b.len() < 4 {
        return Err((
            true,
            format!("{} bytes, shorter than the 4-byte header", b.len()),
        ));
    }
    if b[0] != 0 || b[1] != 0 {
        return Err((
            false,
            format!("bad magic {:02x}{:02x} (expected 0000)", b[0], b[1]),
        ));
    }
    let Some(name) = dtype_name(b[2]) else {
        return Err((false, format!("unknown dtype code 0x{:02x}", b[2])));
    };
    if b[2] != 0x08 {
        return Err((
            false,
            format!("dtype {name} is not supported (qbench reads unsigned bytes)"),
        ));
    }
    let rank = b[3] as usize;
    if rank == 0 {
        return Err((false, "rank 0 (no dimensions)".into()));
    }
    let header = 4 + 4 * rank;
    if b.len() < header {
        return Err((
            true,
            format!("header needs {header} bytes for {rank} dimensions"),
        ));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| u32::from_be_bytes(b[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let len = dims
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .ok_or((false, format!("dimensions {dims:?} overflow")))?;
    let have = b.len() - header;
    if have < len {
        return Err((
            true,
            format!("dimensions {dims:?} need {len} data bytes, found {have}"),
        ));
    }
    if have > len {
        return Err((
            false,
            format!("{} trailing bytes after {len} data bytes", have - len),
        ));
    }
    Ok(IdxArray {
        dims,
        data: b[header..].to_vec(),
    })
}

/// Writes unsigned-byte data as a gzip-compressed IDX file (atomically).
pub fn write_idx_gz(path: impl AsRef<Path>, dims: &[usize], data: &[u8]) -> Result<(), DataError> {
    let path = path.as_ref();
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    bytes.extend_from_slice(data);
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    gz.write_all(&bytes).map_err(io)?;
    gz.finish().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(dtype: u8, dims: &[u32]) -> Vec<u8> {
        let mut b = vec![0, 0, dtype, dims.len() as u8];
        dims.iter()
            .for_each(|d| b.extend_from_slice(&d.to_be_bytes()));
        b
    }

    #[test]
    fn parses_good_file() {
        let mut b = header(8, &[2, 3]);
        b.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        let a = parse_idx(&b).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
    }

    /// Bounded fuzzing (`QBENCH_FUZZ_CASES` for a longer campaign): mutated IDX files, plain and
    /// gzip, are read or refused with an error naming the file, never a panic.
    #[test]
    fn mutated_idx_files_are_read_or_refused_never_a_panic() {
        let cases: usize = std::env::var("QBENCH_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300);
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("seed-idx3-ubyte.gz");
        write_idx_gz(&gz, &[3, 4, 5], &(0..60).collect::<Vec<u8>>()).unwrap();
        let seeds = [header(8, &[3, 4, 5]), std::fs::read(&gz).unwrap()];
        let mut seeds = seeds.to_vec();
        seeds[0].extend(0..60u8);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let path = dir.path().join("case-idx3-ubyte");
        for case in 0..cases {
            let mut b = seeds[case % 2].clone();
            match next() % 3 {
                0 => {
                    for _ in 0..1 + next() % 4 {
                        let i = (next() % b.len() as u64) as usize;
                        b[i] ^= 1 << (next() % 8);
                    }
                }
                1 => b.truncate((next() % b.len() as u64) as usize),
                _ => b.extend((0..1 + next() % 8).map(|_| next() as u8)),
            }
            std::fs::write(&path, &b).unwrap();
            let r = std::panic::catch_unwind(|| read_idx(&path));
            match r {
                Ok(Ok(a)) => assert_eq!(a.data.len(), a.dims.iter().product::<usize>()),
                Ok(Err(e)) => assert!(e.to_string().contains("case-idx3-ubyte"), "{e}"),
                Err(_) => panic!("case {case} panicked on {b:?}"),
            }
        }
    }

    #[test]
    fn gzip_members_are_read_and_trailing_bytes_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x-idx3-ubyte.gz");
        write_idx_gz(&path, &[2, 2], &[1, 2, 3, 4]).unwrap();
        let one = std::fs::read(&path).unwrap();
        assert_eq!(read_idx(&path).unwrap().dims, vec![2, 2]);
        // Trailing garbage names the file and the problem.
        let mut garbage = one.clone();
        garbage.extend_from_slice(b"appended junk");
        std::fs::write(&path, &garbage).unwrap();
        let err = read_idx(&path).unwrap_err().to_string();
        assert!(
            err.contains("x-idx3-ubyte.gz") && err.contains("13 bytes of trailing data"),
            "{err}"
        );
        // A second member is read on (its bytes follow the first's: here the IDX data then has
        // trailing bytes of its own, which the IDX parser names).
        let mut two = one.clone();
        two.extend_from_slice(&one);
        std::fs::write(&path, &two).unwrap();
        let err = read_idx(&path).unwrap_err().to_string();
        assert!(err.contains("trailing"), "{err}");
        // A truncated member is a truncation.
        std::fs::write(&path, &one[..one.len() - 3]).unwrap();
        assert!(matches!(read_idx(&path), Err(DataError::Truncated { .. })));
    }

    #[test]
    fn rejects_bad_input() {
        let mut b = header(8, &[2, 3]);
        b.extend_from_slice(&[1, 2, 3]);
        assert!(parse_idx(&b).unwrap_err().0, "short data is truncation");
        let mut bad_magic = header(8, &[1]);
        bad_magic[0] = 7;
        bad_magic.push(0);
        assert!(parse_idx(&bad_magic).unwrap_err().1.contains("magic"));
        let mut f32s = header(0x0D, &[1]);
        f32s.extend_from_slice(&[0; 4]);
        assert!(parse_idx(&f32s).unwrap_err().1.contains("f32"));
        assert!(parse_idx(&header(0x42, &[1]))
            .unwrap_err()
            .1
            .contains("unknown dtype"));
        assert!(parse_idx(&[0, 0]).unwrap_err().0);
        let mut long = header(8, &[1]);
        long.extend_from_slice(&[1, 2]);
        assert!(parse_idx(&long).unwrap_err().1.contains("trailing"));
    }
}
