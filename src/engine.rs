//! Per-host provisioning: connect, check everything in one round trip, plan, apply what is
//! needed in order. Hosts run concurrently under a semaphore; a host's failure stays its own.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;

use crate::artifacts::Cache;
use crate::config::{ArtifactMode, Config, Host};
use crate::error::{RemoteFailure, tail};
use crate::outcome::{CheckState, HostPlan, Kind, Outcome, StepCheck};
use crate::render::Renderer;
use crate::report::Report;
use crate::steps::{REGISTRY, Step};
use crate::transport::{Output, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Check and apply.
    Up,
    /// Check and say what `up` would change.
    Plan,
    /// Check and show each step's state.
    Status,
}

/// What one host's run came to, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostResult {
    Converged,
    Failed,
}

struct Shared {
    cfg: Config,
    renderer: Renderer,
    check_script: String,
    report: Arc<Report>,
    cache: Cache,
    mode: Mode,
}

pub async fn run(
    cfg: Config,
    hosts: Vec<Host>,
    mode: Mode,
    report: Arc<Report>,
) -> crate::error::Result<Vec<HostResult>> {
    let renderer = Renderer::new()?;
    let check_script = renderer.check_script(&cfg, REGISTRY)?;
    // Render every apply now, so a template problem stops the run before any host is touched.
    for step in REGISTRY {
        renderer.apply_script(&cfg, step, None)?;
    }
    let cache = Cache::new(cfg.artifacts.cache_dir.clone());
    let limit = Arc::new(Semaphore::new(cfg.parallel));
    let shared = Arc::new(Shared {
        cfg,
        renderer,
        check_script,
        report,
        cache,
        mode,
    });
    let mut tasks = tokio::task::JoinSet::new();
    for (i, host) in hosts.into_iter().enumerate() {
        let shared = shared.clone();
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            let name = host.name.clone();
            let result = run_host(&shared, &host).await;
            shared.report.host_done(&name);
            (i, result)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.expect("host task does not panic"));
    }
    results.sort_by_key(|(i, _)| *i);
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

async fn run_host(sh: &Shared, host: &Host) -> HostResult {
    let report = &sh.report;
    report.phase(&host.name, "connecting");
    let mut transport = match Transport::connect(&sh.cfg, host).await {
        Ok(t) => t,
        Err(e) => {
            report.unreachable(&host.name, &e.to_string());
            return HostResult::Failed;
        }
    };
    report.phase(&host.name, "checking");
    let started = Instant::now();
    let plan = match transport.run(&sh.check_script, None).await {
        Ok(out) => parse_checks(&host.name, &out),
        Err(e) => {
            report.unreachable(&host.name, &e.to_string());
            transport.close().await;
            return HostResult::Failed;
        }
    };
    let result = match sh.mode {
        Mode::Plan | Mode::Status => {
            report.plan(&plan, sh.mode == Mode::Status);
            let ok = plan.steps.iter().all(|s| s.state != CheckState::Error);
            if ok {
                HostResult::Converged
            } else {
                HostResult::Failed
            }
        }
        Mode::Up => {
            report.facts(&plan);
            apply(sh, host, &plan, &mut transport, started).await
        }
    };
    transport.close().await;
    result
}

/// Parse the check script's `::begin`/`::reason`/`::fact`/`::end` lines.
pub fn parse_checks(host: &str, out: &Output) -> HostPlan {
    let mut facts = BTreeMap::new();
    let mut steps = Vec::new();
    let mut current: Option<(&'static Step, Vec<String>)> = None;
    for line in out.stdout.lines() {
        if let Some(id) = line.strip_prefix("::begin ") {
            current = crate::steps::find(id.trim()).map(|s| (s, Vec::new()));
        } else if let Some(r) = line.strip_prefix("::reason ") {
            if let Some((_, reasons)) = current.as_mut() {
                reasons.push(r.trim().to_string());
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
                let state = match code {
                    Some(0) => CheckState::Converged,
                    Some(1) => CheckState::NeedsChange,
                    Some(2) => CheckState::Blocked,
                    other => {
                        reasons.push(format!(
                            "check exited {}",
                            other.map_or("?".into(), |c| c.to_string())
                        ));
                        CheckState::Error
                    }
                };
                steps.push(StepCheck {
                    step: step.id,
                    state,
                    reasons,
                });
            }
        }
    }
    // A step whose check never reported (the script died) is an error, not converged.
    for step in REGISTRY {
        if !steps.iter().any(|s| s.step == step.id) {
            let why = format!(
                "check did not report (exit {}): {}",
                out.code,
                tail(&out.stderr, 2)
            );
            steps.push(StepCheck {
                step: step.id,
                state: CheckState::Error,
                reasons: vec![why],
            });
        }
    }
    steps.sort_by_key(|s| REGISTRY.iter().position(|r| r.id == s.step));
    HostPlan {
        host: host.to_string(),
        facts,
        steps,
    }
}

/// Whether the facts allow provisioning at all.
fn judge_facts(plan: &HostPlan) -> Result<(), String> {
    let f = |k: &str| plan.facts.get(k).map(String::as_str).unwrap_or("");
    let version_ok = f("os_version")
        .split_once('.')
        .and_then(|(maj, min)| Some((maj.parse::<u32>().ok()?, min.parse::<u32>().ok()?)))
        .is_some_and(|v| v >= (22, 4));
    if f("os") != "ubuntu" || !version_ok {
        return Err(format!(
            "unsupported OS {} {}: labprov supports Ubuntu 22.04 and 24.04 (and newer releases)",
            f("os"),
            f("os_version")
        ));
    }
    if !matches!(f("arch"), "amd64" | "arm64") {
        return Err(format!("unsupported architecture {}", f("arch")));
    }
    Ok(())
}

async fn apply(
    sh: &Shared,
    host: &Host,
    plan: &HostPlan,
    transport: &mut Transport,
    started: Instant,
) -> HostResult {
    let report = &sh.report;
    let name = host.name.as_str();
    let mut done: HashSet<&'static str> = HashSet::new();
    let mut failed = false;
    let mut lost: Option<String> = None;
    let sudo = plan.facts.get("sudo").cloned().unwrap_or_default();
    let user = plan.facts.get("user").cloned().unwrap_or_default();
    for step in REGISTRY {
        let t0 = if step.id == "facts" {
            started
        } else {
            Instant::now()
        };
        let check = plan.get(step.id).expect("every step has a check");
        let outcome = if let Some(why) = &lost {
            Outcome::failed(name, step.id, format!("not run: {why}"), t0.elapsed())
        } else if let Some(dep) = step.needs.iter().find(|d| !done.contains(*d)) {
            Outcome::failed(
                name,
                step.id,
                format!("not run: needs {dep}, which did not converge"),
                t0.elapsed(),
            )
        } else if step.id == "facts" {
            match judge_facts(plan) {
                Ok(()) => Outcome::ok(name, step.id, t0.elapsed()),
                Err(why) => Outcome::failed(name, step.id, why, t0.elapsed()),
            }
        } else {
            match check.state {
                CheckState::Converged => Outcome::ok(name, step.id, t0.elapsed()),
                CheckState::Blocked | CheckState::Error => {
                    Outcome::failed(name, step.id, check.reasons.join("; "), t0.elapsed())
                }
                CheckState::NeedsChange
                    if step.needs_root && !matches!(sudo.as_str(), "ok" | "root") =>
                {
                    Outcome::failed(
                        name,
                        step.id,
                        format!(
                            "needs root, but sudo for {user} {}: allow it without a password (NOPASSWD) for labprov's user",
                            if sudo == "password" {
                                "asks for a password"
                            } else {
                                "is not available"
                            }
                        ),
                        t0.elapsed(),
                    )
                }
                CheckState::NeedsChange => {
                    report.phase(name, &format!("applying {}", step.id));
                    match apply_step(sh, step, check, transport, &plan.facts).await {
                        Ok((outcome, relogin)) => {
                            if relogin {
                                report.phase(name, "reconnecting for new group membership");
                                if let Err(e) = transport.relogin().await {
                                    lost = Some(e.to_string());
                                }
                            }
                            outcome(name, step.id, t0)
                        }
                        Err(Applied::Lost(why)) => {
                            lost = Some(why.clone());
                            Outcome::failed(name, step.id, why, t0.elapsed())
                        }
                        Err(Applied::Failed(why)) => {
                            Outcome::failed(name, step.id, why, t0.elapsed())
                        }
                    }
                }
            }
        };
        match outcome.kind() {
            Kind::Failed => failed = true,
            _ => {
                done.insert(step.id);
            }
        }
        report.outcome(&outcome);
    }
    if failed {
        HostResult::Failed
    } else {
        HostResult::Converged
    }
}

enum Applied {
    /// The connection went away: nothing more can run on this host.
    Lost(String),
    /// The apply ran and failed.
    Failed(String),
}

type MakeOutcome = Box<dyn FnOnce(&str, &'static str, Instant) -> Outcome + Send>;

async fn apply_step(
    sh: &Shared,
    step: &'static Step,
    check: &StepCheck,
    transport: &Transport,
    facts: &BTreeMap<String, String>,
) -> Result<(MakeOutcome, bool), Applied> {
    let mut payload = None;
    let mut pushed_sha = None;
    if let (ArtifactMode::Push, Some(get)) = (sh.cfg.artifacts.mode, step.artifact) {
        let artifact = get(&sh.cfg);
        let arch = facts.get("arch").map(String::as_str).unwrap_or("amd64");
        let Some(a) = artifact.for_arch(arch) else {
            return Err(Applied::Failed(format!(
                "no {} download is configured for architecture {arch}",
                artifact.name
            )));
        };
        let (path, sha) = sh.cache.get(a).await.map_err(Applied::Failed)?;
        payload = Some(path);
        pushed_sha = Some(sha);
    }
    let script = sh
        .renderer
        .apply_script(&sh.cfg, step, pushed_sha.as_deref())
        .map_err(|e| Applied::Failed(e.to_string()))?
        .expect("a step that needs change has an apply");
    let out = transport
        .run(&script, payload.as_deref())
        .await
        .map_err(|e| Applied::Lost(e.to_string()))?;
    let relogin = out.stdout.lines().any(|l| l.trim() == "::reconnect");
    if out.code != 0 {
        let failure = RemoteFailure {
            what: format!("apply of {}", step.id),
            code: out.code,
            stderr_tail: tail(&out.stderr, 3),
        };
        return Err(Applied::Failed(failure.to_string()));
    }
    let unchanged = out.stdout.lines().any(|l| l.trim() == "::unchanged");
    let what = format!("was: {}", check.reasons.join("; "));
    let make: MakeOutcome = if unchanged {
        Box::new(|h, s, t0| Outcome::ok(h, s, t0.elapsed()))
    } else {
        Box::new(move |h, s, t0| Outcome::changed(h, s, what, t0.elapsed()))
    };
    Ok((make, relogin))
}
