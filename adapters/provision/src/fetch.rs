//! Getting the pinned archive: from `QBENCH_WHEELHOUSE` if it holds it, else with
//! `python3 -m pip download`. A pin with a `wheel` file name gets exactly that file.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::ProvisionError;
use crate::hash::sha256_file;
use crate::wheel_name::{pinned_wheel, WheelName};
use crate::{Ctx, PackageFile};

/// Where archives come from (the public functions use [`Sources::from_env`]; tests substitute
/// their own).
#[derive(Clone, Debug)]
pub(crate) struct Sources {
    /// A folder of archives to use instead of downloading (`QBENCH_WHEELHOUSE`).
    pub wheelhouse: Option<PathBuf>,
    /// The command that runs Python: program then leading arguments (`["python3"]`).
    pub python: Vec<OsString>,
}

impl Sources {
    pub(crate) fn from_env() -> Sources {
        Sources {
            wheelhouse: std::env::var_os("QBENCH_WHEELHOUSE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            python: vec!["python3".into()],
        }
    }

    fn python_display(&self) -> String {
        self.python
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// PEP 503 normalization as used in wheel file names: lower case, each run of `-`, `_` and `.`
/// becomes one `_`.
pub(crate) fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('_');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

/// Kinds of archive a registry serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A wheel (`.whl`), a zip file.
    Wheel,
    /// A source distribution (`.tar.gz`, `.zip`, ...).
    Sdist,
}

/// Whether `file_name` is an archive of `package` at exactly `version`, and of which kind:
/// `<name>-<version>-<tags>.whl` or `<name>-<version>.tar.gz` (and other sdist extensions), with the
/// name compared after normalization and the version case-insensitively.
pub(crate) fn archive_kind(file_name: &str, package: &str, version: &str) -> Option<Kind> {
    let same = |name: &str, ver: &str| {
        normalize(name) == normalize(package) && ver.eq_ignore_ascii_case(version)
    };
    if let Some(stem) = file_name.strip_suffix(".whl") {
        let mut parts = stem.split('-');
        let (name, ver) = (parts.next()?, parts.next()?);
        return same(name, ver).then_some(Kind::Wheel);
    }
    for ext in [".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip"] {
        if let Some(stem) = file_name.strip_suffix(ext) {
            let (name, ver) = stem.rsplit_once('-')?;
            return same(name, ver).then_some(Kind::Sdist);
        }
    }
    None
}

/// The sentence telling how to supply the archive without downloading it.
pub(crate) fn wheelhouse_hint(file: &PackageFile, sources: &Sources, note: Option<&str>) -> String {
    let name = match &file.wheel {
        Some(wheel) => wheel.clone(),
        None => format!("{}-{}-*.whl", normalize(&file.package), file.version),
    };
    let mut hint = format!(
        "set QBENCH_WHEELHOUSE to a folder holding the pinned archive ({name} with SHA-256 {})",
        file.archive_sha256
    );
    if let (Some(dir), Some(note)) = (&sources.wheelhouse, note) {
        hint.push_str(&format!(" (it is set to {}, which {note})", dir.display()));
    }
    hint
}

/// The result of looking into the wheelhouse.
pub(crate) enum Lookup {
    /// An archive of the package whose SHA-256 matches the pin.
    Found(PathBuf, Kind),
    /// Nothing usable; the note (if any) says why, for error hints.
    Absent(Option<String>),
}

/// Looks for the pinned archive in `dir`: the file named as the pinned `wheel` if the pin has one,
/// else among the archives of the package and version, the one with the pinned SHA-256. If there
/// are such archives but none matches, that is an error (the wheelhouse is meant to be used
/// instead of the registry).
pub(crate) fn from_wheelhouse(
    dir: &Path,
    file: &PackageFile,
    ctx: &Ctx,
) -> Result<Lookup, ProvisionError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return Ok(Lookup::Absent(Some(format!("cannot be read: {e}")))),
    };
    let mut candidates: Vec<(PathBuf, Kind)> = match &file.wheel {
        Some(wheel) => {
            let path = dir.join(wheel);
            if path.is_file() {
                vec![(path, Kind::Wheel)]
            } else {
                return Ok(Lookup::Absent(Some(format!("holds no {wheel}"))));
            }
        }
        None => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter_map(|p| {
                let kind = archive_kind(p.file_name()?.to_str()?, &file.package, &file.version)?;
                p.is_file().then_some((p, kind))
            })
            .collect(),
    };
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    if candidates.is_empty() {
        return Ok(Lookup::Absent(Some(format!(
            "holds no archive of {}",
            ctx.package
        ))));
    }
    let mut found = Vec::new();
    for (path, kind) in candidates {
        let actual = sha256_file(&path).map_err(ctx.io("read", &path))?;
        if actual == file.archive_sha256 {
            return Ok(Lookup::Found(path, kind));
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        found.push(format!("{name} (SHA-256 {actual})"));
    }
    Err(ProvisionError::WheelhouseMismatch {
        package: ctx.package.clone(),
        file: ctx.file.clone(),
        dir: dir.to_path_buf(),
        found: found.join(", "),
        expected: file.archive_sha256.clone(),
    })
}

/// How a failed `pip download` failed, from its standard error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    PipMissing,
    Unreachable(String),
    NotFound(String),
    Other(String),
}

/// Substrings of pip's output when the index cannot be reached.
const NETWORK_MARKERS: &[&str] = &[
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
    "SSLError",
    "Could not fetch URL",
    "Max retries exceeded",
    "No route to host",
];

/// Classifies pip's standard error.
pub(crate) fn classify(stderr: &str) -> Failure {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let last = lines.last().copied().unwrap_or("(no output)");
    if stderr.contains("No module named pip") {
        return Failure::PipMissing;
    }
    if let Some(line) = lines
        .iter()
        .find(|l| NETWORK_MARKERS.iter().any(|m| l.contains(m)))
    {
        return Failure::Unreachable(shorten(line));
    }
    if stderr.contains("No matching distribution found")
        || stderr.contains("Could not find a version that satisfies")
    {
        return Failure::NotFound(shorten(last));
    }
    Failure::Other(shorten(last))
}

fn shorten(line: &str) -> String {
    const MAX: usize = 400;
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// The argument lists (after the Python command) of the `pip download` runs to try in turn:
/// `-m pip download --no-deps --only-binary=:all: … -d <dir> <package>==<version>`, then the same
/// for a CPython 3.12 manylinux2014 wheel (if no wheel fits this interpreter; pure-Python wheels
/// fit both). For a pinned wheel, a single run with the options selecting it instead.
pub(crate) fn pip_runs(
    file: &PackageFile,
    wheel: Option<&WheelName>,
    dir: &Path,
) -> Vec<Vec<OsString>> {
    let base = |extra: Vec<String>| {
        let mut args: Vec<OsString> = [
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
            "-d",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        args.push(dir.as_os_str().to_os_string());
        args.push(format!("{}=={}", file.package, file.version).into());
        args.extend(extra.into_iter().map(OsString::from));
        args
    };
    match wheel {
        Some(wheel) => vec![base(wheel.pip_options())],
        None => {
            let platform = format!("manylinux2014_{}", std::env::consts::ARCH);
            let fallback = [
                "--python-version",
                "3.12",
                "--implementation",
                "cp",
                "--platform",
            ];
            let mut fallback: Vec<String> = fallback.into_iter().map(String::from).collect();
            fallback.push(platform);
            vec![base(Vec::new()), base(fallback)]
        }
    }
}

/// Runs `pip download` (see [`pip_runs`]) into `dir`. Returns the downloaded archive and its kind.
pub(crate) fn pip_download(
    file: &PackageFile,
    dir: &Path,
    sources: &Sources,
    hint: &str,
    ctx: &Ctx,
) -> Result<(PathBuf, Kind), ProvisionError> {
    let python = sources.python_display();
    let Some((program, leading)) = sources.python.split_first() else {
        return Err(ProvisionError::PythonUnavailable {
            package: ctx.package.clone(),
            file: ctx.file.clone(),
            python,
            reason: "no Python command configured".into(),
            hint: hint.to_string(),
        });
    };
    let wheel = pinned_wheel(file, ctx)?;
    let mut last = Failure::Other("(not run)".into());
    for args in pip_runs(file, wheel.as_ref(), dir) {
        let out = Command::new(program).args(leading).args(args).output();
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                return Err(ProvisionError::PythonUnavailable {
                    package: ctx.package.clone(),
                    file: ctx.file.clone(),
                    python,
                    reason: e.to_string(),
                    hint: hint.to_string(),
                })
            }
        };
        if out.status.success() {
            return find_download(dir, file, hint, ctx);
        }
        last = match classify(&String::from_utf8_lossy(&out.stderr)) {
            Failure::Other(detail) => Failure::Other(format!("{detail} ({})", out.status)),
            failure => failure,
        };
        // Only a missing wheel is worth a second try for other platform tags.
        if !matches!(last, Failure::NotFound(_)) {
            break;
        }
    }
    let (package, file_s, hint) = (ctx.package.clone(), ctx.file.clone(), hint.to_string());
    Err(match last {
        Failure::PipMissing => ProvisionError::PipMissing {
            package,
            file: file_s,
            python,
            hint,
        },
        Failure::Unreachable(detail) => ProvisionError::RegistryUnreachable {
            package,
            file: file_s,
            detail,
            hint,
        },
        Failure::NotFound(detail) => match &file.wheel {
            Some(wheel) => ProvisionError::PinnedWheelNotOnRegistry {
                package,
                file: file_s,
                wheel: wheel.clone(),
                detail,
                hint,
            },
            None => ProvisionError::NotOnRegistry {
                package,
                file: file_s,
                detail,
                hint,
            },
        },
        Failure::Other(detail) => ProvisionError::Pip {
            package,
            file: file_s,
            python,
            detail,
            hint,
        },
    })
}

/// The archive pip put into `dir`: the pinned wheel if the pin names one (another file is an
/// error), else the one named after the package, else the only file there.
fn find_download(
    dir: &Path,
    file: &PackageFile,
    hint: &str,
    ctx: &Ctx,
) -> Result<(PathBuf, Kind), ProvisionError> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(ctx.io("list", dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if let (Some(wheel), false) = (&file.wheel, files.is_empty()) {
        if let Some(found) = files.iter().find(|p| p.file_name() == Some(wheel.as_ref())) {
            return Ok((found.clone(), Kind::Wheel));
        }
        let names: Vec<String> = files
            .iter()
            .map(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        return Err(ProvisionError::WrongWheel {
            package: ctx.package.clone(),
            file: ctx.file.clone(),
            wheel: wheel.clone(),
            found: names.join(", "),
            hint: hint.to_string(),
        });
    }
    let named = files.iter().find_map(|p| {
        let kind = archive_kind(p.file_name()?.to_str()?, &file.package, &file.version)?;
        Some((p.clone(), kind))
    });
    match (named, files.as_slice()) {
        (Some(found), _) => Ok(found),
        (None, [only]) => {
            let name = only.file_name().unwrap_or_default().to_string_lossy();
            let kind = if name.ends_with(".whl") {
                Kind::Wheel
            } else {
                Kind::Sdist
            };
            Ok((only.clone(), kind))
        }
        _ => Err(ProvisionError::NoArchive {
            package: ctx.package.clone(),
            file: ctx.file.clone(),
            dir: dir.to_path_buf(),
            hint: hint.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_wheel_names() {
        assert_eq!(normalize("rapidocr-onnxruntime"), "rapidocr_onnxruntime");
        assert_eq!(normalize("Foo.Bar--baz_"), "foo_bar_baz_");
        assert_eq!(normalize("PyYAML"), "pyyaml");
    }

    #[test]
    fn recognizes_archives_of_the_exact_version() {
        let k = |n| archive_kind(n, "rapidocr-onnxruntime", "1.4.4");
        assert_eq!(
            k("rapidocr_onnxruntime-1.4.4-py3-none-any.whl"),
            Some(Kind::Wheel)
        );
        assert_eq!(
            k("RapidOCR_onnxruntime-1.4.4-1-cp312-cp312-manylinux2014_x86_64.whl"),
            Some(Kind::Wheel)
        );
        assert_eq!(k("rapidocr_onnxruntime-1.4.4.tar.gz"), Some(Kind::Sdist));
        assert_eq!(k("rapidocr-onnxruntime-1.4.4.tar.gz"), Some(Kind::Sdist));
        assert_eq!(k("rapidocr_onnxruntime-1.4.44-py3-none-any.whl"), None);
        assert_eq!(k("rapidocr_onnxruntime-1.4-py3-none-any.whl"), None);
        assert_eq!(k("rapidocr_onnxruntime_x-1.4.4-py3-none-any.whl"), None);
        assert_eq!(k("rapidocr_onnxruntime-1.4.4-py3-none-any.whl.part"), None);
        assert_eq!(k("notes.txt"), None);
    }

    #[test]
    fn classifies_pip_failures() {
        assert_eq!(
            classify("/usr/bin/python3: No module named pip\n"),
            Failure::PipMissing
        );
        let offline = "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, \
            status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.\
            connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection: \
            [Errno -3] Temporary failure in name resolution')': /simple/six/\n\
            ERROR: Could not find a version that satisfies the requirement six==1.16.0 (from versions: none)\n\
            ERROR: No matching distribution found for six==1.16.0\n";
        assert!(
            matches!(classify(offline), Failure::Unreachable(l) if l.contains("NewConnectionError"))
        );
        let missing = "ERROR: Could not find a version that satisfies the requirement six==9.9 \
            (from versions: 1.16.0)\nERROR: No matching distribution found for six==9.9\n";
        assert_eq!(
            classify(missing),
            Failure::NotFound("ERROR: No matching distribution found for six==9.9".into())
        );
        assert_eq!(classify(""), Failure::Other("(no output)".into()));
        assert_eq!(
            classify("ERROR: disk full\n\n"),
            Failure::Other("ERROR: disk full".into())
        );
    }
}
