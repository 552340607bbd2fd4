//! The run journal: every `up`, `apply`, `down`, `reset` and `verify` writes, under the XDG
//! state dir, what happened on each host (per step: outcome, duration, detail with the stderr
//! tail), so a TA can read a class run afterwards and `--only-failed` can re-run just the
//! hosts that failed. Each run has its own file under `runs/`; `last-run.json` is a copy of
//! the last one to finish.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::outcome::{Kind, Outcome};

#[derive(Debug, Serialize, Deserialize)]
pub struct Journal {
    /// The run's id, as its lock on each host names it.
    #[serde(default)]
    pub run: String,
    pub labprov: String,
    pub command: String,
    pub profile: String,
    pub finished: String,
    /// The run's wall time, from start to journal (absent in journals of older labprov).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u128>,
    /// The signal that interrupted the run (`SIGINT`, `SIGTERM`), if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    pub hosts: BTreeMap<String, HostEntry>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
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

/// The journal of a run that changes or checks hosts: one entry per step outcome.
pub fn build(
    run: &str,
    command: &str,
    profile: &Path,
    hosts: &[String],
    outcomes: &[Outcome],
    interrupted: Option<&str>,
) -> Journal {
    let rows = outcomes.iter().map(|o| {
        let entry = StepEntry {
            step: o.step().to_string(),
            outcome: serde_json::to_value(o.kind())
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            elapsed_ms: o.elapsed_ms(),
            detail: o.detail().to_string(),
            error: o.error().and_then(|e| serde_json::to_value(e).ok()),
        };
        let (failed, stopped) = (o.kind() == Kind::Failed, o.kind() == Kind::Interrupted);
        (o.host().to_string(), failed, stopped, entry)
    });
    assemble(run, command, profile, hosts, rows, interrupted)
}

/// The journal of `verify`: one entry per check (`step` = the check's name, `outcome` =
/// `pass`, `fail`, `skip` or `interrupted`, `detail` = the evidence or the reason); a host
/// with a failed check is `failed`, so `--only-failed` picks it.
pub fn build_verify(
    run: &str,
    profile: &Path,
    hosts: &[String],
    verdicts: &[crate::verify::Verdict],
    interrupted: Option<&str>,
) -> Journal {
    use crate::verify::VerdictKind;
    let rows = verdicts.iter().map(|v| {
        let entry = StepEntry {
            step: v.check.to_string(),
            outcome: serde_json::to_value(v.kind)
                .ok()
                .and_then(|k| k.as_str().map(String::from))
                .unwrap_or_default(),
            elapsed_ms: v.elapsed_ms,
            detail: v.detail.clone(),
            error: None,
        };
        let (failed, stopped) = (
            v.kind == VerdictKind::Fail,
            v.kind == VerdictKind::Interrupted,
        );
        (v.host.clone(), failed, stopped, entry)
    });
    assemble(run, "verify", profile, hosts, rows, interrupted)
}

/// A journal from its rows (host, failed, interrupted, entry), every host of the run listed
/// even when it has no row.
fn assemble(
    run: &str,
    command: &str,
    profile: &Path,
    hosts: &[String],
    rows: impl Iterator<Item = (String, bool, bool, StepEntry)>,
    interrupted: Option<&str>,
) -> Journal {
    let mut map: BTreeMap<String, HostEntry> = hosts
        .iter()
        .map(|h| (h.clone(), HostEntry::default()))
        .collect();
    for (host, failed, stopped, entry) in rows {
        let e = map.entry(host).or_default();
        e.failed |= failed;
        e.interrupted |= stopped;
        e.steps.push(entry);
    }
    Journal {
        run: run.to_string(),
        labprov: env!("CARGO_PKG_VERSION").to_string(),
        command: command.to_string(),
        profile: profile.display().to_string(),
        finished: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        elapsed_ms: None,
        interrupted: interrupted.map(String::from),
        hosts: map,
    }
}

/// An id for this run: when it started and labprov's pid on this machine.
pub fn run_id() -> String {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(':', "");
    format!("{stamp}-{}", std::process::id())
}

/// Write the journal and make it the last run; returns its path.
pub fn write(journal: &Journal) -> Result<PathBuf> {
    let runs = dir().join("runs");
    crate::private::create_dir(&dir())
        .and_then(|_| crate::private::create_dir(&runs))
        .map_err(|source| Error::Write {
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
    let text = crate::redact::text(&text);
    crate::private::write(&path, text.as_bytes()).map_err(|source| Error::Write {
        path: path.clone(),
        source: source.into(),
    })?;
    let last = last_path();
    let tmp = last.with_extension("json.new");
    crate::private::write(&tmp, text.as_bytes())
        .and_then(|_| std::fs::rename(&tmp, &last))
        .map_err(|source| Error::Write {
            path: last,
            source: source.into(),
        })?;
    Ok(path)
}

/// Every journal under `runs/`, oldest first (by finishing time, then by name: a same-second
/// run gets a `-N` suffix). A file that is not a journal is an error naming it, not skipped:
/// a report that silently leaves out a run would say a class is fine when it is not.
pub fn read_all() -> Result<Vec<(PathBuf, Journal)>> {
    read_dir(&dir().join("runs"))
}

/// [`read_all`] of a given directory; a missing directory has no journals.
pub fn read_dir(runs: &Path) -> Result<Vec<(PathBuf, Journal)>> {
    let listing = match std::fs::read_dir(runs) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Usage {
                message: format!("cannot read the run journals in {}: {e}", runs.display()),
            });
        }
    };
    let mut journals = Vec::new();
    for entry in listing.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let journal: Journal = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
            .map_err(|e| Error::Usage {
                message: format!("cannot read the run journal {}: {e}", path.display()),
            })?;
        journals.push((path, journal));
    }
    journals.sort_by(|a, b| (&a.1.finished, &a.0).cmp(&(&b.1.finished, &b.0)));
    Ok(journals)
}

/// Hosts that did not converge (failed or interrupted) in the runs since the last clean one,
/// for `--only-failed`: each run keeps its own file, so two runs that overlapped lose
/// nothing. A host's newest entry decides (it may have converged in a later run).
/// `verify` (a lab that does not work as the guide says) and the runs that change hosts
/// (a host that did not converge) are two questions: `verify_runs` picks which journals count.
pub fn failed_last(verify_runs: bool) -> Result<Vec<String>> {
    let runs = dir().join("runs");
    let listing = std::fs::read_dir(&runs).map_err(|e| Error::Usage {
        message: format!(
            "--only-failed: no journal of a previous run in {} ({e})",
            runs.display()
        ),
    })?;
    let mut journals: Vec<(String, PathBuf, Journal)> = Vec::new();
    for entry in listing.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Usage {
            message: format!("--only-failed: cannot read {}: {e}", path.display()),
        })?;
        let journal: Journal = serde_json::from_str(&text).map_err(|e| Error::Usage {
            message: format!("--only-failed: cannot read {}: {e}", path.display()),
        })?;
        if (journal.command == "verify") == verify_runs {
            journals.push((journal.finished.clone(), path, journal));
        }
    }
    if journals.is_empty() {
        return Err(Error::Usage {
            message: format!(
                "--only-failed: no journal of a previous run in {}",
                runs.display()
            ),
        });
    }
    // Newest first: by finishing time, then by name (a same-second run gets a `-N` suffix).
    journals.sort_by(|a, b| (&b.0, &b.1).cmp(&(&a.0, &a.1)));
    let mut decided: BTreeMap<String, bool> = BTreeMap::new();
    for (_, _, journal) in journals {
        let clean = journal.hosts.values().all(|e| !e.failed && !e.interrupted);
        if clean {
            break;
        }
        for (host, e) in journal.hosts {
            decided.entry(host).or_insert(e.failed || e.interrupted);
        }
    }
    Ok(decided
        .into_iter()
        .filter(|(_, failed)| *failed)
        .map(|(h, _)| h)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_skipped_step_is_recorded_as_such_and_the_host_failed_once() {
        let e = Error::plan("minikube's download failed");
        let outcomes = [
            Outcome::ok("h1", "facts", Duration::ZERO),
            Outcome::failed("h1", "minikube", e, Duration::ZERO),
            Outcome::skipped("h1", "cluster", "minikube", Some("minikube")),
            Outcome::ok("h2", "facts", Duration::ZERO),
        ];
        let j = build(
            "r",
            "up",
            Path::new("p"),
            &["h1".into(), "h2".into()],
            &outcomes,
            None,
        );
        let h1 = &j.hosts["h1"];
        let kinds: Vec<&str> = h1.steps.iter().map(|s| s.outcome.as_str()).collect();
        assert_eq!(kinds, ["ok", "failed", "skipped"]);
        assert_eq!(h1.steps[2].detail, "skipped: needs minikube");
        // `--only-failed` re-runs h1 for its one failure; h2 is clean.
        assert!(h1.failed && !j.hosts["h2"].failed);
    }
}
