//! Fetching ONNX Runtime once into the user cache: `pip download` the exact wheel from the Python
//! package index and extract the shared library from it (a wheel is a zip file).

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::python::last_line;
use crate::{LIB_FILE, ORT_VERSION};

/// Why provisioning failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A file-system operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// `python3 -m pip download` could not be started or failed.
    #[error("`python3 -m pip download onnxruntime=={}` failed: {}", ORT_VERSION, .0)]
    Pip(String),
    /// The download finished but no matching wheel was found.
    #[error("pip reported success but no onnxruntime-{} wheel is in {}", ORT_VERSION, .0.display())]
    NoWheel(PathBuf),
    /// The wheel is not a readable zip or lacks the library.
    #[error("cannot extract {entry} from {}: {reason}", wheel.display())]
    Wheel {
        wheel: PathBuf,
        entry: String,
        reason: String,
    },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ProvisionError + 'a {
    move |source| ProvisionError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Directory of the provisioned library inside a cache directory.
pub(crate) fn lib_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join(format!("onnxruntime-{ORT_VERSION}"))
}

/// Downloads the `onnxruntime==1.31.1` wheel with pip and extracts its shared library to
/// `<cache_dir>/onnxruntime-1.31.1/libonnxruntime.so.1.31.1`, returning that path.
///
/// Safe against concurrent callers (other threads or processes): each works in its own temporary
/// files and the library appears by an atomic rename. Returns at once if the library is there.
pub fn provision(cache_dir: &Path) -> Result<PathBuf, ProvisionError> {
    let dest_dir = lib_dir(cache_dir);
    let dest = dest_dir.join(LIB_FILE);
    if dest.is_file() {
        return Ok(dest);
    }
    fs::create_dir_all(cache_dir).map_err(io_err("cannot create", cache_dir))?;
    let download = unique_path(cache_dir, ".download");
    fs::create_dir(&download).map_err(io_err("cannot create", &download))?;
    let result = download_wheel(&download).and_then(|wheel| {
        fs::create_dir_all(&dest_dir).map_err(io_err("cannot create", &dest_dir))?;
        extract_library(&wheel, &dest_dir)
    });
    // Best effort: a leftover download directory only wastes space.
    let _ = fs::remove_dir_all(&download);
    result
}

/// Runs `python3 -m pip download` for the exact version into `dir` and returns the wheel's path.
///
/// Tries the wheel for the running Python first, then a CPython 3.12 manylinux wheel (the library
/// inside does not depend on the Python version) for interpreters without a matching wheel.
fn download_wheel(dir: &Path) -> Result<PathBuf, ProvisionError> {
    let mut base: Vec<String> = [
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
    ]
    .map(String::from)
    .into();
    base.push(format!("onnxruntime=={ORT_VERSION}"));
    base.extend(["-d".to_string(), dir.to_string_lossy().into_owned()]);
    let platform = format!("manylinux_2_28_{}", std::env::consts::ARCH);
    let fallback = [
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        "--platform",
        platform.as_str(),
    ];
    let mut errors = Vec::new();
    for extra in [&[][..], &fallback[..]] {
        let out = Command::new("python3").args(&base).args(extra).output();
        match out {
            Ok(out) if out.status.success() => return find_wheel(dir),
            Ok(out) => errors.push(format!(
                "{} ({})",
                last_line(&String::from_utf8_lossy(&out.stderr)),
                out.status
            )),
            Err(e) => return Err(ProvisionError::Pip(format!("could not run python3: {e}"))),
        }
    }
    Err(ProvisionError::Pip(
        errors.join("; then, for a cp312 manylinux wheel: "),
    ))
}

/// The single `onnxruntime-<version>-*.whl` in `dir`.
fn find_wheel(dir: &Path) -> Result<PathBuf, ProvisionError> {
    let prefix = format!("onnxruntime-{ORT_VERSION}-");
    fs::read_dir(dir)
        .map_err(io_err("cannot list", dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        })
        .ok_or_else(|| ProvisionError::NoWheel(dir.to_path_buf()))
}

/// Extracts `onnxruntime/capi/libonnxruntime.so.1.31.1` from a wheel into `dest_dir`, returning the
/// library's path. Writes a temporary file first and renames it into place (atomic on one file system).
pub fn extract_library(wheel: &Path, dest_dir: &Path) -> Result<PathBuf, ProvisionError> {
    let entry = format!("onnxruntime/capi/{LIB_FILE}");
    let wheel_err = |reason: String| ProvisionError::Wheel {
        wheel: wheel.to_path_buf(),
        entry: entry.clone(),
        reason,
    };
    let file = File::open(wheel).map_err(io_err("cannot open", wheel))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| wheel_err(e.to_string()))?;
    let mut member = archive
        .by_name(&entry)
        .map_err(|e| wheel_err(e.to_string()))?;
    let expected = member.size();

    let dest = dest_dir.join(LIB_FILE);
    let tmp = unique_path(dest_dir, &format!(".{LIB_FILE}"));
    let written = File::create(&tmp)
        .and_then(|mut out| {
            let n = io::copy(&mut member, &mut out)?;
            out.sync_all()?;
            Ok(n)
        })
        .map_err(io_err("cannot write", &tmp));
    let finished = match written {
        Ok(n) if n == expected => {
            fs::rename(&tmp, &dest).map_err(io_err("cannot rename into", &dest))
        }
        Ok(n) => Err(wheel_err(format!(
            "extracted {n} bytes, expected {expected}"
        ))),
        Err(e) => Err(e),
    };
    if finished.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    finished.map(|()| dest)
}

/// A path in `dir` that no other thread or process uses: `<stem>.<pid>.<nanos>.<n>.tmp`.
fn unique_path(dir: &Path, stem: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    dir.join(format!("{stem}.{}.{nanos}.{n}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use zip::write::SimpleFileOptions;

    use super::*;

    /// Writes a zip at `path` holding the given (name, content) members, deflated.
    fn write_zip(path: &Path, members: &[(&str, &[u8])]) -> zip::result::ZipResult<()> {
        let mut zip = zip::ZipWriter::new(File::create(path)?);
        let opts =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in members {
            zip.start_file(*name, opts)?;
            zip.write_all(content)?;
        }
        zip.finish()?;
        Ok(())
    }

    fn no_temp_files(dir: &Path) -> bool {
        fs::read_dir(dir).is_ok_and(|rd| {
            rd.filter_map(Result::ok)
                .all(|e| !e.file_name().to_string_lossy().ends_with(".tmp"))
        })
    }

    #[test]
    fn extracts_the_library_from_a_wheel() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let wheel = tmp
            .path()
            .join("onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl");
        let content: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        write_zip(
            &wheel,
            &[
                ("onnxruntime/__init__.py", b"".as_slice()),
                (
                    "onnxruntime/capi/libonnxruntime_providers_shared.so",
                    b"other",
                ),
                ("onnxruntime/capi/libonnxruntime.so.1.31.1", &content),
            ],
        )?;
        let dest_dir = tmp.path().join("cache");
        fs::create_dir(&dest_dir)?;
        let lib = extract_library(&wheel, &dest_dir)?;
        assert_eq!(lib, dest_dir.join(LIB_FILE));
        assert_eq!(fs::read(&lib)?, content);
        assert!(no_temp_files(&dest_dir));
        // Extracting again (as a racing process would) replaces the file atomically.
        assert_eq!(extract_library(&wheel, &dest_dir)?, lib);
        assert_eq!(fs::read(&lib)?, content);
        assert_eq!(find_wheel(tmp.path())?, wheel);
        Ok(())
    }

    #[test]
    fn concurrent_extractions_all_succeed() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let wheel = tmp.path().join("w.whl");
        let content = vec![7u8; 300_000];
        write_zip(
            &wheel,
            &[("onnxruntime/capi/libonnxruntime.so.1.31.1", &content)],
        )?;
        let dest_dir = tmp.path().join("cache");
        fs::create_dir(&dest_dir)?;
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| extract_library(&wheel, &dest_dir)))
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        for r in results {
            assert!(matches!(r, Ok(Ok(_))), "{r:?}");
        }
        assert_eq!(fs::read(dest_dir.join(LIB_FILE))?, content);
        assert!(no_temp_files(&dest_dir));
        Ok(())
    }

    #[test]
    fn missing_member_and_non_zip_are_errors() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let wheel = tmp.path().join("w.whl");
        write_zip(
            &wheel,
            &[("onnxruntime/capi/libonnxruntime.so.1.20.0", b"old")],
        )?;
        let err = extract_library(&wheel, tmp.path()).map(|_| ()).unwrap_err();
        assert!(matches!(err, ProvisionError::Wheel { .. }), "{err}");
        assert!(
            err.to_string().contains("libonnxruntime.so.1.31.1"),
            "{err}"
        );

        let junk = tmp.path().join("junk.whl");
        fs::write(&junk, b"not a zip")?;
        let err = extract_library(&junk, tmp.path()).map(|_| ()).unwrap_err();
        assert!(matches!(err, ProvisionError::Wheel { .. }), "{err}");
        assert!(!tmp.path().join(LIB_FILE).exists());
        assert!(no_temp_files(tmp.path()));

        let empty = tmp.path().join("empty");
        fs::create_dir(&empty)?;
        assert!(matches!(
            find_wheel(&empty),
            Err(ProvisionError::NoWheel(_))
        ));
        Ok(())
    }

    #[test]
    fn provision_returns_an_existing_library_without_downloading(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let dir = lib_dir(tmp.path());
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(LIB_FILE), b"lib")?;
        assert_eq!(provision(tmp.path())?, dir.join(LIB_FILE));
        Ok(())
    }
}
