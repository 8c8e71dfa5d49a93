//! Extracting verified members from a wheel (a zip file) into the cache, through temporary files
//! and atomic renames so that concurrent callers (threads or processes) never see partial files.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::ProvisionError;
use crate::hash::{write_stamp, Fingerprint, Hasher};
use crate::{Ctx, PackageFile};

/// A path in `dir` that no other thread or process uses: `<stem>.<pid>.<nanos>.<n>.tmp`.
pub(crate) fn unique_path(dir: &Path, stem: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    dir.join(format!("{stem}.{}.{nanos}.{n}.tmp", std::process::id()))
}

/// Removes a file or directory when dropped, unless disarmed (best effort).
pub(crate) struct Cleanup {
    path: Option<PathBuf>,
}

impl Cleanup {
    pub(crate) fn new(path: PathBuf) -> Cleanup {
        Cleanup { path: Some(path) }
    }

    fn disarm(&mut self) {
        self.path = None;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            if path.is_dir() {
                let _ = fs::remove_dir_all(&path);
            } else {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// An opened wheel whose SHA-256 has been verified.
pub(crate) struct Wheel {
    path: PathBuf,
    zip: zip::ZipArchive<BufReader<File>>,
}

impl Wheel {
    /// Opens `path` as a zip archive.
    pub(crate) fn open(path: &Path, ctx: &Ctx) -> Result<Wheel, ProvisionError> {
        let file = File::open(path).map_err(ctx.io("open", path))?;
        let zip =
            zip::ZipArchive::new(BufReader::new(file)).map_err(|e| ctx.bad_archive(path, e))?;
        Ok(Wheel {
            path: path.to_path_buf(),
            zip,
        })
    }

    /// Extracts member `file.path` to `dest`, verifying its SHA-256 (`file.sha256`, lower-case)
    /// before renaming it into place, then stamps it.
    pub(crate) fn extract(
        &mut self,
        file: &PackageFile,
        dest: &Path,
        ctx: &Ctx,
    ) -> Result<(), ProvisionError> {
        let ctx = ctx.for_file(&file.path);
        let archive = self.path.clone();
        let mut member = match self.zip.by_name(&file.path) {
            Ok(m) if m.is_file() => m,
            Ok(_) | Err(zip::result::ZipError::FileNotFound) => {
                return Err(ProvisionError::MissingMember {
                    package: ctx.package.clone(),
                    file: ctx.file.clone(),
                    archive,
                });
            }
            Err(e) => return Err(ctx.bad_archive(&archive, e)),
        };
        let declared = member.size();

        let (Some(dir), Some(name)) = (dest.parent(), dest.file_name()) else {
            return Err(ctx.io("place", dest)(io::Error::other("not a file path")));
        };
        fs::create_dir_all(dir).map_err(ctx.io("create directory", dir))?;
        let tmp = unique_path(dir, &format!(".{}", name.to_string_lossy()));
        let mut cleanup = Cleanup::new(tmp.clone());
        let mut out = File::create(&tmp).map_err(ctx.io("create", &tmp))?;

        let mut hasher = Hasher::default();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match member.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ctx.bad_archive(&archive, e)),
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(ctx.io("write", &tmp))?;
        }
        if hasher.len() != declared {
            return Err(ctx.bad_archive(
                &archive,
                format!(
                    "{} holds {} bytes but its header says {declared}",
                    file.path,
                    hasher.len()
                ),
            ));
        }
        let actual = hasher.finish();
        if actual != file.sha256 {
            return Err(ProvisionError::MemberMismatch {
                package: ctx.package.clone(),
                file: ctx.file.clone(),
                expected: file.sha256.clone(),
                actual,
            });
        }
        out.sync_all().map_err(ctx.io("write", &tmp))?;
        let meta = out.metadata().map_err(ctx.io("inspect", &tmp))?;
        drop(out);
        fs::rename(&tmp, dest).map_err(ctx.io("rename into", dest))?;
        cleanup.disarm();
        // Rename keeps size, modification time and inode: the stamp describes `dest` now (unless a
        // racing process renamed its own copy in meanwhile; then the stamp just does not match).
        write_stamp(dest, &Fingerprint::of(&meta), &actual);
        Ok(())
    }
}
