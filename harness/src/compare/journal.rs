//! The journal of a running compare: what `--resume` needs and the results file does not hold.
//!
//! The partial results file holds each finished cell's row, but a row keeps only latency
//! statistics, and agreement with FP32 and McNemar's test need the cell's predictions. Each
//! latency round of a measured cell therefore appends one JSON line to
//! `<stem>.partial.journal.jsonl` (its samples and load time, plus the predictions with the
//! first round), flushed before the row is written. A kill can cut only the last line short;
//! reading skips such a line (that round is measured again), and any other unreadable line is
//! an error naming the file and the line.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::agreement::CellId;

/// One latency round of one cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Entry {
    pub technique: String,
    pub backend: String,
    pub batch: usize,
    pub threads: usize,
    /// 1 for the first pass (which also measured accuracy), then 2..R.
    pub round: usize,
    pub samples: Vec<f64>,
    pub load_ms: f64,
    /// The cell's predictions (first round only; empty for later rounds).
    #[serde(default)]
    pub predictions: Vec<u32>,
}

impl Entry {
    pub fn cell(&self) -> CellId {
        (
            self.technique.clone(),
            self.backend.clone(),
            self.batch,
            self.threads,
        )
    }
}

/// An open journal, appended to as rounds finish.
pub(super) struct Journal {
    path: PathBuf,
    file: std::fs::File,
}

/// The journal's path for a run whose files are named `<stem>.*` in `out`.
pub(super) fn path(out: &Path, partial: &str) -> PathBuf {
    out.join(format!("{partial}.journal.jsonl"))
}

impl Journal {
    /// Opens the journal at `path`: emptied for a new run, appended to when resuming.
    pub fn open(path: PathBuf, resume: bool) -> Result<Self> {
        if resume {
            drop_cut_line(&path)?;
        }
        let mut o = std::fs::OpenOptions::new();
        o.create(true);
        if resume {
            o.append(true);
        } else {
            o.write(true).truncate(true);
        }
        let file = o
            .open(&path)
            .with_context(|| format!("cannot open the run's journal {}", path.display()))?;
        Ok(Self { path, file })
    }

    /// Appends one round and flushes it to the file.
    pub fn record(&mut self, e: &Entry) -> Result<()> {
        let mut line = serde_json::to_vec(e)?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.flush())
            .with_context(|| format!("cannot write the run's journal {}", self.path.display()))
    }

    /// Removes the journal once the complete results are written.
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Cuts a line that a kill left unfinished off the end of the journal, so that appending
/// continues after the last whole line.
fn drop_cut_line(path: &Path) -> Result<()> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(());
    };
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if keep < bytes.len() {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(keep as u64))
            .with_context(|| format!("cannot repair the run's journal {}", path.display()))?;
    }
    Ok(())
}

/// Reads every entry of the journal at `path` (none when it does not exist).
pub(super) fn read(path: &Path) -> Result<Vec<Entry>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let lines: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut entries = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => entries.push(e),
            // The last line of a journal whose writer was killed mid-line.
            Err(_) if i + 1 == lines.len() => {}
            Err(e) => bail!(
                "{} line {}: not a journal entry ({e}); remove the file to run every cell again",
                path.display(),
                i + 1
            ),
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(round: usize) -> Entry {
        Entry {
            technique: "fp32".into(),
            backend: "ort".into(),
            batch: 1,
            threads: 2,
            round,
            samples: vec![1.0, 2.0],
            load_ms: 3.0,
            predictions: vec![4, 5],
        }
    }

    #[test]
    fn entries_round_trip_and_a_cut_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "quick.partial");
        let mut j = Journal::open(p.clone(), false).unwrap();
        j.record(&entry(1)).unwrap();
        j.record(&entry(2)).unwrap();
        drop(j);
        assert_eq!(read(&p).unwrap(), vec![entry(1), entry(2)]);
        // A kill in the middle of the third line.
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"technique":"fp32","backend":"o"#).unwrap();
        assert_eq!(read(&p).unwrap().len(), 2);
        // Resuming drops the cut line and appends; a new run empties the journal.
        let mut j = Journal::open(p.clone(), true).unwrap();
        j.record(&entry(3)).unwrap();
        drop(j);
        assert_eq!(read(&p).unwrap(), vec![entry(1), entry(2), entry(3)]);
        Journal::open(p.clone(), false).unwrap();
        assert!(read(&p).unwrap().is_empty());
        assert!(read(&dir.path().join("none.jsonl")).unwrap().is_empty());
    }

    #[test]
    fn a_corrupt_line_in_the_middle_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "compare.partial");
        std::fs::write(&p, "garbage\n{}\n").unwrap();
        let err = format!("{:#}", read(&p).unwrap_err());
        assert!(
            err.contains("compare.partial.journal.jsonl line 1"),
            "{err}"
        );
    }
}
