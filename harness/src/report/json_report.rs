//! JSON: the full run document (`record::Run`, the schema reports and gates rely on).

use std::io::Write;

use anyhow::Result;

use super::Reporter;
use crate::record::Run;

/// Pretty-printed JSON of the whole run.
pub struct Json;

impl Reporter for Json {
    fn name(&self) -> &'static str {
        "json"
    }

    fn render(&self, run: &Run, out: &mut dyn Write) -> Result<()> {
        serde_json::to_writer_pretty(&mut *out, run)?;
        writeln!(out)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let run = crate::report::fixture::run();
        let mut buf = Vec::new();
        Json.render(&run, &mut buf).unwrap();
        let back: Run = serde_json::from_slice(&buf).unwrap();
        assert_eq!(back, run);
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["rows"][0]["latency_ms"]["p50"], 2.0);
        assert_eq!(v["rows"][1]["status"], "failed");
    }
}
