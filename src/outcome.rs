//! What the engine learns and decides, as values: per-step check results, the plan of a
//! host, and step outcomes. Outcomes are built only through constructors, so a failed step
//! always says why, a skipped one names what it needed, and a changed step always ran its
//! apply.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::error::Error;

/// This machine's clock, in ms since the epoch: what a host's clock is judged against.
pub fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// What a step's check said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckState {
    Converged,
    NeedsChange,
    /// Cannot be converged by applying: needs the user (e.g. a running cluster differs).
    Blocked,
    /// The check itself did not run properly.
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepCheck {
    pub step: &'static str,
    pub state: CheckState,
    pub reasons: Vec<String>,
    /// For [`CheckState::Error`]: what went wrong, typed (the reasons say it in words).
    #[serde(skip)]
    pub error: Option<Error>,
}

impl StepCheck {
    /// Why the step cannot converge now, typed: blocked is a plan decision, an error is
    /// whatever broke the check.
    pub fn failure(&self) -> Error {
        match &self.error {
            Some(e) => e.clone(),
            None => Error::plan(self.reasons.join("; ")),
        }
    }
}

/// The checks of one host, from its single check round trip.
#[derive(Debug, Clone, Serialize)]
pub struct HostPlan {
    pub host: String,
    pub facts: BTreeMap<String, String>,
    pub steps: Vec<StepCheck>,
    /// `::data` the checks brought back (decoded), for steps the controller decides.
    #[serde(skip)]
    pub data: BTreeMap<String, String>,
    /// What the manifests step would do, when the check brought enough to decide.
    #[serde(skip)]
    pub manifests: Option<crate::manifests::ManifestPlan>,
}

impl HostPlan {
    /// A host's plan as the engine builds it from a check: these facts, these steps (each
    /// converged), no data. For the unit tests of the steps and judges that decide from it.
    #[cfg(test)]
    pub fn of(facts: &[(&str, &str)], steps: &[&'static str]) -> HostPlan {
        HostPlan {
            host: "h".into(),
            facts: facts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            steps: steps
                .iter()
                .map(|&step| StepCheck {
                    step,
                    state: CheckState::Converged,
                    reasons: Vec::new(),
                    error: None,
                })
                .collect(),
            data: BTreeMap::new(),
            manifests: None,
        }
    }

    pub fn get(&self, step: &str) -> Option<&StepCheck> {
        self.steps.iter().find(|s| s.step == step)
    }

    /// One line about the machine, for the live view and the plan.
    pub fn describe(&self) -> String {
        let f = |k: &str| self.facts.get(k).map(String::as_str).unwrap_or("?");
        let mem_gib = f("mem_mib")
            .parse::<f64>()
            .map(|m| m / 1024.0)
            .unwrap_or(0.0);
        format!(
            "{} {} ({}) {}, {} CPUs, {:.1} GiB RAM, user {}",
            f("os"),
            f("os_version"),
            f("codename"),
            f("arch"),
            f("cpus"),
            mem_gib,
            f("user")
        )
    }
}

/// How the detail of a skipped step begins (`skipped: needs docker`); the HTML report shows
/// what follows it as the reason.
pub const SKIPPED: &str = "skipped: ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Ok,
    Changed,
    Failed,
    /// The step did not run because something it needs did not converge: a step it needs
    /// failed or was skipped, or the connection was lost before it. Not a failure of its
    /// own: the host's failure is the step that caused it.
    Skipped,
    /// Ctrl-C or SIGTERM came first: the step did not start, or was stopped after the grace
    /// period.
    Interrupted,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    host: String,
    step: &'static str,
    kind: Kind,
    #[serde(skip_serializing_if = "String::is_empty")]
    detail: String,
    /// Why a failed step failed, typed: `{"kind": "remote", "code": 100, ...}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Error>,
    elapsed_ms: u128,
}

impl Outcome {
    /// Nothing to do: the check found the step converged, or the apply found it so.
    pub fn ok(host: &str, step: &'static str, elapsed: Duration) -> Outcome {
        Outcome::new(host, step, Kind::Ok, String::new(), None, elapsed)
    }

    /// The apply ran and changed the host; `what` says what it did (its `::did` lines, else
    /// `applied: ` and the check's reasons; `down`: `undid ...`).
    pub fn changed(host: &str, step: &'static str, what: String, elapsed: Duration) -> Outcome {
        Outcome::new(host, step, Kind::Changed, what, None, elapsed)
    }

    /// The step ran, or was decided, and did not converge.
    pub fn failed(host: &str, step: &'static str, error: Error, elapsed: Duration) -> Outcome {
        Outcome::failure(host, step, error, "", elapsed)
    }

    /// The step did not run because `need` did not converge; `root` is the failure behind
    /// it when that is not `need` itself (a need that was skipped in turn): `skipped: needs
    /// cluster (minikube failed)`.
    pub fn skipped(host: &str, step: &'static str, need: &str, root: Option<&str>) -> Outcome {
        let detail = match root {
            Some(root) if root != need => format!("{SKIPPED}needs {need} ({root} failed)"),
            _ => format!("{SKIPPED}needs {need}"),
        };
        Outcome::new(host, step, Kind::Skipped, detail, None, Duration::ZERO)
    }

    /// The step did not run because the connection to the host was lost during `during`
    /// (that step failed with the connection error).
    pub fn skipped_lost(host: &str, step: &'static str, during: &str) -> Outcome {
        let detail = format!("{SKIPPED}the connection was lost during {during}");
        Outcome::new(host, step, Kind::Skipped, detail, None, Duration::ZERO)
    }

    /// The run was interrupted before this step could start (`stopped`: it had started, and
    /// was stopped on the host after the grace period).
    pub fn interrupted(
        host: &str,
        step: &'static str,
        stopped: bool,
        elapsed: Duration,
    ) -> Outcome {
        let detail = if stopped {
            "interrupted: stopped on the host after the grace period"
        } else {
            "interrupted: not started"
        };
        Outcome::new(
            host,
            step,
            Kind::Interrupted,
            detail.to_string(),
            Some(Error::Interrupted),
            elapsed,
        )
    }

    /// A failure without a reason is a bug in labprov: it is reported as one (the host
    /// fails, the run goes on), never a panic.
    fn failure(
        host: &str,
        step: &'static str,
        error: Error,
        prefix: &str,
        elapsed: Duration,
    ) -> Outcome {
        let error = if error.to_string().trim().is_empty() {
            Error::internal(format!("step {step} failed without a reason"))
        } else {
            error
        };
        let detail = format!("{prefix}{error}");
        Outcome::new(host, step, Kind::Failed, detail, Some(error), elapsed)
    }

    fn new(
        host: &str,
        step: &'static str,
        kind: Kind,
        detail: String,
        error: Option<Error>,
        elapsed: Duration,
    ) -> Outcome {
        Outcome {
            host: host.to_string(),
            step,
            kind,
            detail,
            error,
            elapsed_ms: elapsed.as_millis(),
        }
    }

    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    pub fn host(&self) -> &str {
        &self.host
    }
    pub fn step(&self) -> &'static str {
        self.step
    }
    pub fn kind(&self) -> Kind {
        self.kind
    }
    pub fn detail(&self) -> &str {
        &self.detail
    }
    pub fn elapsed_ms(&self) -> u128 {
        self.elapsed_ms
    }
}

/// Per-host tallies for the summary.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Tally {
    pub ok: usize,
    pub changed: usize,
    pub failed: usize,
    /// Steps that did not run because a need did not converge: not failures.
    pub skipped: usize,
    pub interrupted: usize,
}

impl Tally {
    pub fn add(&mut self, kind: Kind) {
        match kind {
            Kind::Ok => self.ok += 1,
            Kind::Changed => self.changed += 1,
            Kind::Failed => self.failed += 1,
            Kind::Skipped => self.skipped += 1,
            Kind::Interrupted => self.interrupted += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_without_a_reason_is_an_internal_error() {
        let o = Outcome::failed("h", "docker", Error::plan("  "), Duration::ZERO);
        assert_eq!(o.kind(), Kind::Failed);
        assert!(o.detail().starts_with("internal error: "), "{}", o.detail());
        assert_eq!(o.error().map(Error::kind).as_deref(), Some("internal"));
    }

    #[test]
    fn the_error_kind_travels_in_the_json() {
        let e = Error::Remote {
            what: "apply of docker".into(),
            code: 100,
            stderr_tail: "E: no".into(),
        };
        let v = serde_json::to_value(Outcome::failed("h", "docker", e, Duration::ZERO)).unwrap();
        assert_eq!(v["kind"], "failed");
        assert_eq!(v["detail"], "apply of docker exited 100: E: no");
        assert_eq!(v["error"]["kind"], "remote");
        assert_eq!(v["error"]["code"], 100);
        let v = serde_json::to_value(Outcome::skipped("h", "x", "docker", None)).unwrap();
        assert_eq!(
            (v["kind"].as_str(), v["detail"].as_str()),
            (Some("skipped"), Some("skipped: needs docker"))
        );
        assert!(v.get("error").is_none(), "a skip is no error: {v}");
    }

    #[test]
    fn a_skip_names_the_failure_behind_it_and_counts_apart() {
        let direct = Outcome::skipped("h", "cluster", "minikube", Some("minikube"));
        assert_eq!(direct.detail(), "skipped: needs minikube");
        let deep = Outcome::skipped("h", "addons", "cluster", Some("minikube"));
        assert_eq!(deep.detail(), "skipped: needs cluster (minikube failed)");
        let mut t = Tally::default();
        for o in [&direct, &deep] {
            t.add(o.kind());
        }
        assert_eq!((t.failed, t.skipped), (0, 2));
    }
}
