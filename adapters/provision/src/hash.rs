//! SHA-256 of files and the `<file>.sha256` stamps that spare re-hashing a cached file on every run.
//!
//! A stamp records the file's SHA-256 (as verified when it was written) with the file's size,
//! modification time and (on Unix) inode number. It is trusted only while all of these still match
//! the file; otherwise the file is hashed again.

use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::extract::unique_path;

/// Lower-case hex of some bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// Streaming SHA-256 that also counts bytes.
#[derive(Default)]
pub(crate) struct Hasher {
    sha: Sha256,
    len: u64,
}

impl Hasher {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.len += bytes.len() as u64;
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Lower-case hex digest.
    pub(crate) fn finish(self) -> String {
        hex(&self.sha.finalize())
    }
}

/// SHA-256 (hex) of everything `reader` yields.
pub(crate) fn sha256_reader(reader: &mut impl Read) -> io::Result<String> {
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(hasher.finish()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// SHA-256 (hex) of a file.
pub(crate) fn sha256_file(path: &Path) -> io::Result<String> {
    sha256_reader(&mut File::open(path)?)
}

/// `<file>.sha256`.
pub(crate) fn stamp_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// What a stamp records about the file besides its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    size: u64,
    /// Nanoseconds since the Unix epoch (`None` if the platform cannot tell).
    mtime: Option<u128>,
    ino: Option<u64>,
}

impl Fingerprint {
    pub(crate) fn of(meta: &Metadata) -> Fingerprint {
        #[cfg(unix)]
        let ino = Some(std::os::unix::fs::MetadataExt::ino(meta));
        #[cfg(not(unix))]
        let ino = None;
        Fingerprint {
            size: meta.len(),
            mtime: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_nanos()),
            ino,
        }
    }
}

/// A parsed stamp.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    sha256: String,
    fingerprint: Fingerprint,
}

impl Stamp {
    fn render(&self) -> String {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        format!(
            "sha256 {}\nsize {}\nmtime_ns {}\nino {}\n",
            self.sha256,
            self.fingerprint.size,
            opt(self.fingerprint.mtime.map(|m| m.to_string())),
            opt(self.fingerprint.ino.map(|i| i.to_string())),
        )
    }

    fn parse(text: &str) -> Option<Stamp> {
        let mut sha256 = None;
        let mut size = None;
        let mut mtime = None;
        let mut ino = None;
        for line in text.lines() {
            let (key, value) = line.split_once(' ')?;
            let opt_num = |v: &str| -> Option<Option<u128>> {
                if v == "-" {
                    Some(None)
                } else {
                    v.parse().ok().map(Some)
                }
            };
            match key {
                "sha256" => sha256 = Some(value.to_string()),
                "size" => size = Some(value.parse().ok()?),
                "mtime_ns" => mtime = Some(opt_num(value)?),
                "ino" => ino = Some(opt_num(value)?.map(u64::try_from).transpose().ok()?),
                _ => return None,
            }
        }
        Some(Stamp {
            sha256: sha256?,
            fingerprint: Fingerprint {
                size: size?,
                mtime: mtime?,
                ino: ino?,
            },
        })
    }
}

/// Whether `file` exists with SHA-256 `expected` (lower-case hex). Trusts a matching stamp;
/// otherwise hashes the file and, if it is right, writes a fresh stamp. Any failure to read counts
/// as "no" (the caller then replaces the file, which reports real I/O problems).
pub(crate) fn is_verified(file: &Path, expected: &str) -> bool {
    let Ok(meta) = fs::metadata(file) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let current = Fingerprint::of(&meta);
    if let Some(stamp) = fs::read_to_string(stamp_path(file))
        .ok()
        .and_then(|t| Stamp::parse(&t))
    {
        if stamp.sha256 == expected {
            if stamp.fingerprint == current {
                return true;
            }
            // The stamp was written for the right content: a different size means different bytes.
            if stamp.fingerprint.size != current.size {
                return false;
            }
        }
    }
    // No usable stamp: hash the file through one handle, and stamp what was hashed.
    let Ok(mut handle) = File::open(file) else {
        return false;
    };
    let Ok(meta) = handle.metadata() else {
        return false;
    };
    match sha256_reader(&mut handle) {
        Ok(actual) if actual == expected => {
            write_stamp(file, &Fingerprint::of(&meta), expected);
            true
        }
        _ => false,
    }
}

/// Writes `<file>.sha256` for a file of the given fingerprint and hash, atomically (temporary file
/// and rename). Best effort: without a stamp the file is only hashed again next time.
pub(crate) fn write_stamp(file: &Path, fingerprint: &Fingerprint, sha256: &str) {
    let stamp = Stamp {
        sha256: sha256.to_string(),
        fingerprint: fingerprint.clone(),
    };
    let dest = stamp_path(file);
    let (Some(dir), Some(name)) = (dest.parent(), dest.file_name()) else {
        return;
    };
    let tmp = unique_path(dir, &format!(".{}", name.to_string_lossy()));
    let written = File::create(&tmp)
        .and_then(|mut out| out.write_all(stamp.render().as_bytes()))
        .and_then(|()| fs::rename(&tmp, &dest));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_known_vectors() -> io::Result<()> {
        assert_eq!(
            sha256_reader(&mut &b""[..])?,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_reader(&mut &b"abc"[..])?,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let big = vec![b'a'; 1_000_000];
        assert_eq!(
            sha256_reader(&mut &big[..])?,
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
        Ok(())
    }

    #[test]
    fn stamps_round_trip_and_reject_junk() {
        let stamp = Stamp {
            sha256: "ab".repeat(32),
            fingerprint: Fingerprint {
                size: 12,
                mtime: Some(1_700_000_000_123_456_789),
                ino: None,
            },
        };
        assert_eq!(Stamp::parse(&stamp.render()), Some(stamp));
        assert_eq!(Stamp::parse(""), None);
        assert_eq!(
            Stamp::parse("sha256 x\nsize nope\nmtime_ns 1\nino 2\n"),
            None
        );
        assert_eq!(Stamp::parse("sha256 x\nsize 1\n"), None);
    }

    #[test]
    fn verification_uses_and_refreshes_the_stamp() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("f.bin");
        fs::write(&file, b"abc")?;
        let good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert!(!stamp_path(&file).exists());
        assert!(is_verified(&file, good));
        // Hashing wrote a stamp, which the next check trusts.
        let stamp = fs::read_to_string(stamp_path(&file))?;
        assert!(
            stamp.starts_with(&format!("sha256 {good}\nsize 3\n")),
            "{stamp}"
        );
        assert!(!is_verified(&file, &"00".repeat(32)));
        assert!(!is_verified(&dir.path().join("missing"), good));
        assert!(!is_verified(dir.path(), good));
        // A garbled stamp just means hashing again.
        fs::write(stamp_path(&file), "garbage")?;
        assert!(is_verified(&file, good));
        assert_eq!(fs::read_to_string(stamp_path(&file))?, stamp);
        Ok(())
    }
}
