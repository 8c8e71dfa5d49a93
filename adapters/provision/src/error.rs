//! Why providing a file failed. Every message names the package (`<name>==<version>`), the file(s)
//! concerned and the problem, and ends with what to do about it.

use std::io;
use std::path::PathBuf;

/// Why [`provide`](crate::provide) or [`provide_all`](crate::provide_all) failed.
///
/// In every variant, `package` is `<name>==<version>` and `file` the requested path inside the
/// archive (for failures that concern the whole archive, the requested paths joined by `, `).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The pin names a registry other than `pypi`.
    #[error(
        "cannot provide {file} from {package}: registry {registry:?} is not supported (only \"pypi\" \
         is); fix the `registry` of the pin"
    )]
    UnsupportedRegistry {
        registry: String,
        package: String,
        file: String,
    },

    /// The pin is malformed: bad package name, version or SHA-256, or contradicting pins.
    #[error("cannot provide {file} from {package}: {problem}; fix the pin")]
    InvalidPin {
        package: String,
        file: String,
        problem: String,
    },

    /// The pin's `wheel` is not a wheel file name, or names another package or version.
    #[error(
        "cannot provide {file} from {package}: the pinned wheel {wheel:?} {problem}; fix the `wheel` \
         of the pin: the exact file name of one of the release's wheels as listed on PyPI, \
         `<distribution>-<version>[-<build>]-<python tag>-<abi tag>-<platform tag>.whl`"
    )]
    BadWheelName {
        package: String,
        file: String,
        wheel: String,
        /// What is wrong, completing "the pinned wheel … ".
        problem: String,
    },

    /// The path inside the archive is absolute, climbs out with `..` or is otherwise not a plain
    /// relative path: refused, as it could write outside the cache.
    #[error(
        "cannot provide {file:?} from {package}: the path {reason}, refused (it must be a relative, \
         `/`-separated path inside the archive, without `..`); fix the `path` of the pin"
    )]
    UnsafePath {
        package: String,
        file: String,
        reason: String,
    },

    /// [`provide_all`](crate::provide_all) was given files of different archives.
    #[error(
        "provide_all takes files of a single archive, but {first} and {other} differ in registry, \
         package, version, wheel or archive_sha256; call it once per archive"
    )]
    MixedArchives { first: String, other: String },

    /// No default cache directory could be determined.
    #[error(
        "no cache directory for qbench: none of QBENCH_CACHE_DIR, XDG_CACHE_HOME (absolute) and HOME \
         is set; set QBENCH_CACHE_DIR to a writable folder"
    )]
    NoCacheDir,

    /// A file-system operation failed.
    #[error(
        "cannot provide {file} from {package}: cannot {what} {}: {source}; check that this location \
         is accessible, writable and has free space",
        path.display()
    )]
    Io {
        package: String,
        file: String,
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    /// The Python interpreter could not be started.
    #[error(
        "cannot download {package} (for {file}): could not run `{python}`: {reason}; install python3 \
         and pip (e.g. `apt-get install python3-pip`), or {hint}"
    )]
    PythonUnavailable {
        package: String,
        file: String,
        python: String,
        reason: String,
        /// How to supply the archive without downloading (QBENCH_WHEELHOUSE).
        hint: String,
    },

    /// Python runs but has no pip.
    #[error(
        "cannot download {package} (for {file}): pip is not installed for `{python}`: install \
         python3-pip (or run `{python} -m ensurepip`), or {hint}"
    )]
    PipMissing {
        package: String,
        file: String,
        python: String,
        hint: String,
    },

    /// pip could not reach the package index.
    #[error(
        "cannot download {package} (for {file}): the registry (PyPI) could not be reached: {detail}; \
         run again when it can, or {hint}"
    )]
    RegistryUnreachable {
        package: String,
        file: String,
        /// The relevant line of pip's output.
        detail: String,
        hint: String,
    },

    /// The index has no wheel of that exact version usable here.
    #[error(
        "cannot download {package} (for {file}): PyPI has no wheel of it for this interpreter nor for \
         CPython 3.12 manylinux2014 ({detail}); check the package name and version of the pin \
         (source distributions are not supported yet), or {hint}"
    )]
    NotOnRegistry {
        package: String,
        file: String,
        detail: String,
        hint: String,
    },

    /// The index has no file of the pinned `wheel` name for that version.
    #[error(
        "cannot download {package} (for {file}): PyPI has no wheel {wheel} of it ({detail}); check \
         the `wheel` of the pin (the exact file name of one of the release's wheels as listed on \
         PyPI), or {hint}"
    )]
    PinnedWheelNotOnRegistry {
        package: String,
        file: String,
        wheel: String,
        detail: String,
        hint: String,
    },

    /// pip downloaded another archive than the pinned `wheel`.
    #[error(
        "cannot download {package} (for {file}): pip downloaded {found} instead of the pinned wheel \
         {wheel}; check the `wheel` of the pin (its tags decide which wheel pip picks), or {hint}"
    )]
    WrongWheel {
        package: String,
        file: String,
        wheel: String,
        /// The file name(s) pip left in its download folder.
        found: String,
        hint: String,
    },

    /// `pip download` failed for another reason.
    #[error(
        "cannot download {package} (for {file}): `{python} -m pip download` failed: {detail}; fix \
         that and run again, or {hint}"
    )]
    Pip {
        package: String,
        file: String,
        python: String,
        detail: String,
        hint: String,
    },

    /// pip succeeded but no archive of the package is in its download directory.
    #[error(
        "cannot download {package} (for {file}): pip reported success but left no archive in {}; \
         run again, or {hint}",
        dir.display()
    )]
    NoArchive {
        package: String,
        file: String,
        dir: PathBuf,
        hint: String,
    },

    /// The archive's SHA-256 differs from `archive_sha256`.
    #[error(
        "cannot provide {file} from {package}: the archive {} has SHA-256 {actual} but the pin says \
         {expected}: the registry supplied a different file than the one pinned; check the pin \
         (package, version, archive_sha256), and update archive_sha256 only if you trust the new \
         archive",
        archive.display()
    )]
    ArchiveMismatch {
        package: String,
        file: String,
        archive: PathBuf,
        expected: String,
        actual: String,
    },

    /// `QBENCH_WHEELHOUSE` holds archives of the package, none with the pinned SHA-256.
    #[error(
        "cannot provide {file} from {package}: QBENCH_WHEELHOUSE ({}) holds {found} but none has the \
         pinned archive SHA-256 {expected}; put the pinned archive there (or unset QBENCH_WHEELHOUSE \
         to download it), or check the pin",
        dir.display()
    )]
    WheelhouseMismatch {
        package: String,
        file: String,
        dir: PathBuf,
        /// The candidate archives and their SHA-256, e.g. `a.whl (SHA-256 …)`.
        found: String,
        expected: String,
    },

    /// The pinned archive is a source distribution (`.tar.gz`), which is not supported yet.
    #[error(
        "cannot provide {file} from {package}: {} is a source distribution, which is not supported \
         yet; pin a wheel (.whl) of the package instead",
        archive.display()
    )]
    SdistUnsupported {
        package: String,
        file: String,
        archive: PathBuf,
    },

    /// The archive (whose SHA-256 matches the pin) is not a readable zip, or a member is corrupt.
    #[error(
        "cannot provide {file} from {package}: {} is not a readable wheel (zip): {reason}; its \
         SHA-256 matches the pin, so the pinned archive itself is unusable: check the pin",
        archive.display()
    )]
    BadArchive {
        package: String,
        file: String,
        archive: PathBuf,
        reason: String,
    },

    /// The archive has no such member.
    #[error(
        "cannot provide {file} from {package}: the archive {} has no file {file}; check the `path` \
         of the pin (case-sensitive, `/`-separated, relative to the archive root)",
        archive.display()
    )]
    MissingMember {
        package: String,
        file: String,
        archive: PathBuf,
    },

    /// The extracted member's SHA-256 differs from the pin's `sha256`.
    #[error(
        "cannot provide {file} from {package}: the file has SHA-256 {actual} but the pin says \
         {expected}; the archive matches its pin, so check the `sha256` of the pin"
    )]
    MemberMismatch {
        package: String,
        file: String,
        expected: String,
        actual: String,
    },
}
