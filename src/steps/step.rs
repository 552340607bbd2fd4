//! How a step behaves, and what it is given to do it.
//!
//! Every step answers *check* before *apply* (JetPorch's rule): the engine renders every
//! step's check into one script, parses the answers ([`parse_checks`]), lets each step turn
//! its answer into a decision ([`Step::decide`]), and applies, in registry order, the steps
//! that need it ([`Step::apply`]); `down` runs their undos ([`Step::undo`]). A step that runs
//! a script (most of them) keeps the defaults here; a step that decides or applies otherwise
//! (facts gates the host, manifests plans object by object) overrides them in its folder.
//! The engine never names a step.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use crate::artifacts::Cache;
use crate::config::{ArtifactMode, Config, Host};
use crate::error::{Error, tail};
use crate::manifests::Scope;
use crate::outcome::{CheckState, HostPlan, StepCheck};
use crate::render::Renderer;
use crate::report::Report;
use crate::steps::spec::Spec;
use crate::transport::{Output, Payload, Transport};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an apply or undo may use on one host.
pub struct Cx<'a> {
    pub cfg: &'a Config,
    pub renderer: &'a Renderer,
    pub report: &'a Report,
    pub cache: &'a Cache,
    /// The bundles this run converges and may prune.
    pub scope: &'a Scope,
    pub host: &'a Host,
    pub transport: &'a Transport,
    /// The host's checks, decided.
    pub plan: &'a HostPlan,
}

/// What an apply did: `changed` says what (`None`: it found nothing to do), `relogin` that
/// the user's session must be renewed (a new group).
pub struct Applied {
    pub changed: Option<String>,
    pub relogin: bool,
}

pub trait Step: Sync {
    /// The step as data (id, needs, templates).
    fn spec(&self) -> &'static Spec;

    /// Whether `labprov apply` converges this step; the others only have to be converged.
    fn in_apply(&self) -> bool {
        false
    }

    /// Fetch what the step still needs from the host before it can decide, in as few round
    /// trips as it can (manifests: the Istio sample files whose hashes the controller's cache
    /// does not hold). By default nothing: the check brought everything back.
    fn gather<'a>(
        &'a self,
        _cfg: &'a Config,
        _host: &'a str,
        _transport: &'a Transport,
        _plan: &'a mut HostPlan,
    ) -> BoxFuture<'a, ()> {
        Box::pin(std::future::ready(()))
    }

    /// Turn this step's check (its state, the `::data` it brought back) into the decision.
    /// By default the check's exit code is the decision.
    fn decide(&self, _cfg: &Config, _scope: &Scope, _plan: &mut HostPlan) {}

    /// Converge the step (its check said it needs a change). By default: run its apply
    /// script, with its artifact streamed from the controller in push mode.
    fn apply<'a>(
        &'a self,
        cx: &'a Cx<'a>,
        check: &'a StepCheck,
    ) -> BoxFuture<'a, Result<Applied, Error>> {
        Box::pin(apply_script(cx, self.spec(), check))
    }

    /// What `down` runs (when the step has an undo and the flags want it); `Ok(true)` when it
    /// changed the host. By default: run its undo script.
    fn undo<'a>(&'a self, cx: &'a Cx<'a>, _purge: bool) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(undo_script(cx, self.spec()))
    }
}

/// Parse the check script's `::begin`/`::reason`/`::fact`/`::end` lines of the `checked` steps.
pub fn parse_checks(host: &str, out: &Output, checked: &[&'static Spec]) -> HostPlan {
    let mut facts = BTreeMap::new();
    let mut data = BTreeMap::new();
    let mut steps = Vec::new();
    let mut current: Option<(&'static Spec, Vec<String>)> = None;
    for line in out.stdout.lines() {
        if let Some(id) = line.strip_prefix("::begin ") {
            current = checked
                .iter()
                .copied()
                .find(|s| s.id == id.trim())
                .map(|s| (s, Vec::new()));
        } else if let Some(r) = line.strip_prefix("::reason ") {
            if let Some((_, reasons)) = current.as_mut() {
                reasons.push(r.trim().to_string());
            }
        } else if let Some(d) = line.strip_prefix("::data ") {
            use base64::Engine;
            let (k, v) = d.split_once(' ').unwrap_or((d, ""));
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(v.trim()) {
                data.insert(k.to_string(), String::from_utf8_lossy(&bytes).into_owned());
            }
        } else if let Some(f) = line.strip_prefix("::fact ") {
            if let Some((k, v)) = f.split_once('=') {
                facts.insert(k.trim().to_string(), v.trim().to_string());
            }
        } else if let Some(rest) = line.strip_prefix("::end ") {
            let mut parts = rest.split_whitespace();
            let (id, code) = (
                parts.next(),
                parts.next().and_then(|c| c.parse::<i32>().ok()),
            );
            if let Some((step, mut reasons)) = current.take() {
                if Some(step.id) != id {
                    continue;
                }
                if steps.iter().any(|s: &StepCheck| s.step == step.id) {
                    // A tool's output that forged protocol lines: trust neither answer.
                    if let Some(s) = steps.iter_mut().find(|s| s.step == step.id) {
                        let e = Error::internal(format!("the check of {} reported twice", step.id));
                        s.state = CheckState::Error;
                        s.reasons = vec![e.to_string()];
                        s.error = Some(e);
                    }
                    continue;
                }
                let mut error = None;
                let state = match code {
                    Some(0) => CheckState::Converged,
                    Some(1) => CheckState::NeedsChange,
                    // Blocked means "the user must decide": without a reason the user cannot.
                    Some(2) if reasons.is_empty() => {
                        let e = Error::internal(format!(
                            "the check of {} said blocked without saying why",
                            step.id
                        ));
                        reasons.push(e.to_string());
                        error = Some(e);
                        CheckState::Error
                    }
                    Some(2) => CheckState::Blocked,
                    other => {
                        let e = Error::Remote {
                            what: "check".into(),
                            code: other.unwrap_or(-1),
                            stderr_tail: String::new(),
                        };
                        reasons.push(e.to_string());
                        error = Some(e);
                        CheckState::Error
                    }
                };
                steps.push(StepCheck {
                    step: step.id,
                    state,
                    reasons,
                    error,
                });
            }
        }
    }
    // A step whose check never reported (the script died) is an error, not converged.
    for step in checked {
        if !steps.iter().any(|s| s.step == step.id) {
            let e = Error::Remote {
                what: format!("the check script (no report for {})", step.id),
                code: out.code,
                stderr_tail: tail(&out.stderr, 2),
            };
            steps.push(StepCheck {
                step: step.id,
                state: CheckState::Error,
                reasons: vec![e.to_string()],
                error: Some(e),
            });
        }
    }
    steps.sort_by_key(|s| checked.iter().position(|r| r.id == s.step));
    HostPlan {
        host: host.to_string(),
        facts,
        steps,
        data,
        manifests: None,
    }
}

pub async fn apply_script(
    cx: &Cx<'_>,
    step: &'static Spec,
    check: &StepCheck,
) -> Result<Applied, Error> {
    let facts = &cx.plan.facts;
    let mut payload = None;
    let mut pushed_sha = None;
    if let (ArtifactMode::Push, Some(get)) = (cx.cfg.artifacts.mode, step.artifact) {
        let artifact = get(cx.cfg);
        let arch = facts.get("arch").map(String::as_str).unwrap_or("amd64");
        let Some(a) = artifact.for_arch(arch) else {
            return Err(Error::plan(format!(
                "no {} download is configured for architecture {arch}",
                artifact.name
            )));
        };
        let (path, sha) = cx.cache.get(a).await?;
        payload = Some(path);
        pushed_sha = Some(sha);
    }
    let script = cx
        .renderer
        .apply_script(cx.cfg, step, pushed_sha.as_deref())?
        .ok_or_else(|| {
            Error::internal(format!("step {} needs a change but has no apply", step.id))
        })?;
    let tell = |what: &str| cx.report.progress(&cx.host.name, step.id, what);
    let out = cx
        .transport
        .run_telling(&script, payload.as_deref().map(Payload::File), Some(&tell))
        .await?;
    let relogin = out.stdout.lines().any(|l| l.trim() == "::reconnect");
    if out.code != 0 {
        return Err(
            artifact_failure(&out.stdout).unwrap_or_else(|| Error::Remote {
                what: format!("apply of {}", step.id),
                code: out.code,
                stderr_tail: tail(&out.stderr, 3),
            }),
        );
    }
    let unchanged = out.stdout.lines().any(|l| l.trim() == "::unchanged");
    Ok(Applied {
        changed: (!unchanged).then(|| did(&out.stdout, check)),
        relogin,
    })
}

/// What a changed step did, in the user's terms: the apply script's `::did TEXT` lines,
/// joined; an apply that says nothing falls back to what its check found wrong.
fn did(stdout: &str, check: &StepCheck) -> String {
    let said: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("::did "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if said.is_empty() {
        format!("applied: {}", check.reasons.join("; "))
    } else {
        said.join("; ")
    }
}

/// A download's failure as the apply script reports it: `::artifact URL [EXPECTED ACTUAL]`,
/// or `::artifact URL why: TEXT` (curl's or the server's words).
fn artifact_failure(stdout: &str) -> Option<Error> {
    let line = stdout.lines().find_map(|l| l.strip_prefix("::artifact "))?;
    if let Some((url, why)) = line.split_once(" why: ") {
        return Some(Error::Artifact {
            url: url.trim().to_string(),
            expected: None,
            actual: None,
            problem: format!("download failed: {}: {}", url.trim(), why.trim()),
        });
    }
    let mut words = line.split_whitespace().map(String::from);
    let url = words.next()?;
    let (expected, actual) = (words.next(), words.next());
    let problem = match expected {
        None => format!("download failed: {url}"),
        Some(_) => String::new(),
    };
    Some(Error::Artifact {
        url,
        expected,
        actual,
        problem,
    })
}

/// Run a step's undo script; `Ok(true)` when it changed the host.
pub async fn undo_script(cx: &Cx<'_>, step: &'static Spec) -> Result<bool, Error> {
    let (Some(undo), Some(script)) = (step.undo, cx.renderer.undo_script(cx.cfg, step)?) else {
        return Err(Error::internal(format!("step {} has no undo", step.id)));
    };
    let out = cx.transport.run(&script, None).await?;
    if out.code != 0 {
        return Err(Error::Remote {
            what: undo.id.to_string(),
            code: out.code,
            stderr_tail: tail(&out.stderr, 3),
        });
    }
    Ok(!out.stdout.lines().any(|l| l.trim() == "::unchanged"))
}

/// A step that is its scripts: check, apply, undo, with every default above.
pub struct Script(pub &'static Spec);

impl Step for Script {
    fn spec(&self) -> &'static Spec {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_says_what_the_apply_did_or_what_was_wrong() {
        let check = StepCheck {
            step: "addons",
            state: CheckState::NeedsChange,
            reasons: vec!["cluster not running yet".into()],
            error: None,
        };
        let out = "🌟 The 'metrics-server' addon is enabled\n::did enabled metrics-server\n::progress x\n::did  enabled dashboard \n";
        assert_eq!(
            did(out, &check),
            "enabled metrics-server; enabled dashboard"
        );
        assert_eq!(did("", &check), "applied: cluster not running yet");
    }
}
