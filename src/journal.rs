//! The run journal: every `up`/`apply` writes, under the XDG state dir, what happened on each
//! host (per step: outcome, duration, detail with the stderr tail), so a TA can read a class
//! run afterwards and `--only-failed` can re-run just the hosts that failed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::outcome::{Kind, Outcome};

#[derive(Debug, Serialize, Deserialize)]
pub struct Journal {
    pub labprov: String,
    pub command: String,
    pub profile: String,
    pub finished: String,
    /// The signal that interrupted the run (`SIGINT`, `SIGTERM`), if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    pub hosts: BTreeMap<String, HostEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct HostEntry {
    pub failed: bool,
    /// Some step of the host was interrupted: it did not converge either.
    #[serde(default)]
    pub interrupted: bool,
    pub steps: Vec<StepEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StepEntry {
    pub step: String,
    pub outcome: String,
    pub elapsed_ms: u128,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The typed error of a failed step (`{"kind": "connect", ...}`), as in the JSON lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
}

/// `$XDG_STATE_HOME/labprov` (or `~/.local/state/labprov`).
pub fn dir() -> PathBuf {
    dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("labprov")
}

fn last_path() -> PathBuf {
    dir().join("last-run.json")
}

pub fn build(
    command: &str,
    profile: &Path,
    hosts: &[String],
    outcomes: &[Outcome],
    interrupted: Option<&str>,
) -> Journal {
    let mut map: BTreeMap<String, HostEntry> = hosts
        .iter()
        .map(|h| {
            (
                h.clone(),
                HostEntry {
                    failed: false,
                    interrupted: false,
                    steps: Vec::new(),
                },
            )
        })
        .collect();
    for o in outcomes {
        let entry = map
            .entry(o.host().to_string())
            .or_insert_with(|| HostEntry {
                failed: false,
                interrupted: false,
                steps: Vec::new(),
            });
        entry.failed |= o.kind() == Kind::Failed;
        entry.interrupted |= o.kind() == Kind::Interrupted;
        entry.steps.push(StepEntry {
            step: o.step().to_string(),
            outcome: serde_json::to_value(o.kind())
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            elapsed_ms: o.elapsed_ms(),
            detail: o.detail().to_string(),
            error: o.error().and_then(|e| serde_json::to_value(e).ok()),
        });
    }
    Journal {
        labprov: env!("CARGO_PKG_VERSION").to_string(),
        command: command.to_string(),
        profile: profile.display().to_string(),
        finished: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        interrupted: interrupted.map(String::from),
        hosts: map,
    }
}

/// Write the journal and make it the last run; returns its path.
pub fn write(journal: &Journal) -> Result<PathBuf> {
    let runs = dir().join("runs");
    std::fs::create_dir_all(&runs).map_err(|source| Error::Write {
        path: runs.clone(),
        source: source.into(),
    })?;
    let stamp = journal.finished.replace(':', "");
    let mut path = runs.join(format!("{stamp}-{}.json", journal.command));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = runs.join(format!("{stamp}-{}-{n}.json", journal.command));
    }
    let text = serde_json::to_string_pretty(journal).map_err(|e| Error::Write {
        path: path.clone(),
        source: std::sync::Arc::new(std::io::Error::other(e)),
    })?;
    std::fs::write(&path, &text).map_err(|source| Error::Write {
        path: path.clone(),
        source: source.into(),
    })?;
    let last = last_path();
    let tmp = last.with_extension("json.new");
    std::fs::write(&tmp, &text)
        .and_then(|_| std::fs::rename(&tmp, &last))
        .map_err(|source| Error::Write {
            path: last,
            source: source.into(),
        })?;
    Ok(path)
}

/// Hosts that failed, or were interrupted, in the last run, for `--only-failed`.
pub fn failed_last() -> Result<Vec<String>> {
    let path = last_path();
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Usage {
        message: format!(
            "--only-failed: no journal of a previous run at {} ({e})",
            path.display()
        ),
    })?;
    let journal: Journal = serde_json::from_str(&text).map_err(|e| Error::Usage {
        message: format!("--only-failed: cannot read {}: {e}", path.display()),
    })?;
    Ok(journal
        .hosts
        .into_iter()
        .filter(|(_, e)| e.failed || e.interrupted)
        .map(|(h, _)| h)
        .collect())
}
