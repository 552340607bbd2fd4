//! Per-host provisioning: connect, check everything in one round trip, plan, apply what is
//! needed in order. Hosts run concurrently under a semaphore; a host's failure stays its own.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;

use crate::artifacts::Cache;
use crate::config::{ArtifactMode, Config, Host};
use crate::error::{Error, tail};
use crate::interrupt::Stop;
use crate::manifests::{self, ManifestPlan, Scope};
use crate::outcome::{CheckState, HostPlan, Kind, Outcome, StepCheck};
use crate::render::Renderer;
use crate::report::Report;
use crate::steps::{REGISTRY, Step, StepKind, UndoWhen};
use crate::transport::{Bastion, Output, Payload, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Check and apply.
    Up,
    /// Check and say what `up` would change.
    Plan,
    /// Check and show each step's state.
    Status,
    /// Check, and converge only the manifests (of the scope's bundles).
    Apply,
    /// Undo steps in reverse order: lab objects, Istio, the cluster; binaries and labprov's
    /// state with `purge`, Docker with `purge_docker`.
    Down { purge: bool, purge_docker: bool },
    /// `Down` of the cluster and the lab objects, then `Up`.
    Reset,
}

/// The run's claim on each host it changes: who it is (shown to a run that waits) and how
/// long it waits for another run's lock (`None`: `--no-wait`).
#[derive(Debug, Clone)]
pub struct LockSpec {
    pub owner: String,
    pub wait: Option<std::time::Duration>,
}

/// What one host's run came to, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostResult {
    Converged,
    Failed,
    /// Ctrl-C or SIGTERM stopped it before it converged.
    Interrupted,
}

struct Shared {
    cfg: Config,
    renderer: Renderer,
    check_script: String,
    report: Arc<Report>,
    cache: Cache,
    mode: Mode,
    scope: Scope,
    bastion: Option<Bastion>,
    stop: Stop,
    lock: LockSpec,
}

impl Shared {
    /// Record every step this run would have taken on `host` as interrupted.
    fn interrupt_host(&self, host: &str) -> HostResult {
        for id in planned_steps(self.mode) {
            self.report.outcome(&Outcome::interrupted(
                host,
                id,
                false,
                std::time::Duration::ZERO,
            ));
        }
        HostResult::Interrupted
    }
}

/// The steps a mode runs on a host, in order, for an interrupted host to list.
fn planned_steps(mode: Mode) -> Vec<&'static str> {
    match mode {
        Mode::Down {
            purge,
            purge_docker,
        } => REGISTRY
            .iter()
            .rev()
            .filter_map(|s| s.undo)
            .filter(|u| match u.when {
                UndoWhen::Always => true,
                UndoWhen::Purge => purge,
                UndoWhen::PurgeDocker => purge_docker,
            })
            .map(|u| u.id)
            .collect(),
        Mode::Apply => REGISTRY
            .iter()
            .filter(|s| s.kind == StepKind::Manifests || s.id == "facts")
            .map(|s| s.id)
            .collect(),
        _ => REGISTRY.iter().map(|s| s.id).collect(),
    }
}

pub async fn run(
    cfg: Config,
    hosts: Vec<Host>,
    mode: Mode,
    scope: Scope,
    report: Arc<Report>,
    stop: Stop,
    lock: LockSpec,
) -> crate::error::Result<Vec<HostResult>> {
    let renderer = Renderer::new()?;
    let check_script = renderer.check_script(&cfg, REGISTRY, Some(&scope.release_files()))?;
    // Render every apply now, so a template problem stops the run before any host is touched.
    for step in REGISTRY {
        renderer.apply_script(&cfg, step, None)?;
    }
    let cache = Cache::new(cfg.artifacts.cache_dir.clone());
    // One connection to the jump host for the whole run; if it fails, every host behind it
    // fails with that cause.
    let bastion = if hosts.iter().any(|h| !h.is_local()) {
        match Bastion::connect(&cfg).await {
            Ok(b) => b,
            Err(e) => {
                for h in &hosts {
                    report.unreachable(&h.name, &e);
                }
                return Ok(hosts.iter().map(|_| HostResult::Failed).collect());
            }
        }
    } else {
        None
    };
    let limit = Arc::new(Semaphore::new(cfg.parallel));
    let shared = Arc::new(Shared {
        cfg,
        renderer,
        check_script,
        report,
        cache,
        mode,
        scope,
        bastion,
        stop,
        lock,
    });
    let mut tasks = tokio::task::JoinSet::new();
    let mut names = std::collections::HashMap::new();
    for (i, host) in hosts.into_iter().enumerate() {
        let shared = shared.clone();
        let limit = limit.clone();
        let name = host.name.clone();
        let handle = tasks.spawn(async move {
            // The semaphore is never closed; if it were, the host would just run unlimited.
            let _permit = limit.acquire_owned().await.ok();
            // A host still waiting for its turn when the run is interrupted never starts.
            let result = if shared.stop.is_set() {
                shared.interrupt_host(&host.name)
            } else {
                run_host(&shared, &host).await
            };
            shared.report.host_done(&host.name);
            (i, result)
        });
        names.insert(handle.id(), (i, name));
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, r)) => results.push(r),
            // A host whose task panicked (a bug in labprov) fails alone; the others go on
            // and the run still writes its journal and summary.
            Err(e) => {
                let Some((i, name)) = names.get(&e.id()).cloned() else {
                    continue;
                };
                let why = if e.is_panic() {
                    panic_message(e.into_panic())
                } else {
                    "the host's task was cancelled".to_string()
                };
                shared.report.host_done(&name);
                shared.report.outcome(&Outcome::failed(
                    &name,
                    "host",
                    Error::internal(why),
                    std::time::Duration::ZERO,
                ));
                results.push((i, HostResult::Failed));
            }
        }
    }
    results.sort_by_key(|(i, _)| *i);
    if let Some(b) = Arc::into_inner(shared).and_then(|s| s.bastion) {
        b.close().await;
    }
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

/// The text a panic was raised with.
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => match p.downcast::<&'static str>() {
            Ok(s) => s.to_string(),
            Err(_) => "a panic without a message".to_string(),
        },
    }
}

async fn run_host(sh: &Shared, host: &Host) -> HostResult {
    let report = &sh.report;
    report.phase(&host.name, "connecting");
    let connected = Transport::connect(&sh.cfg, host, sh.bastion.as_ref(), sh.stop.clone()).await;
    let mut transport = match connected {
        Ok(t) => t,
        Err(_) if sh.stop.is_set() => return sh.interrupt_host(&host.name),
        Err(e) => {
            report.unreachable(&host.name, &e);
            return HostResult::Failed;
        }
    };
    let started = Instant::now();
    let Some(mut plan) = check(sh, host, &transport).await else {
        transport.close().await;
        return if sh.stop.is_set() {
            HostResult::Interrupted
        } else {
            HostResult::Failed
        };
    };
    // One run per host at a time: a run that will change the host holds its lock until it is
    // done with it. A converged host is left alone (one round trip, no lock). The check came
    // first, so when another run took the lock since (or held it), check again under it.
    let changes = match sh.mode {
        Mode::Plan | Mode::Status => false,
        Mode::Up | Mode::Apply => plan
            .steps
            .iter()
            .any(|s| s.state == CheckState::NeedsChange),
        Mode::Down { .. } | Mode::Reset => true,
    };
    let _lock = if changes {
        report.phase(&host.name, "taking the host's lock");
        let waiting = |who: &str| report.waiting(&host.name, who);
        match transport.lock(&sh.lock.owner, sh.lock.wait, waiting).await {
            Ok(l) => {
                let seen = plan.data.get("lock_gen").map_or("0", |g| g.trim());
                if l.waited || l.generation != seen {
                    match check(sh, host, &transport).await {
                        Some(p) => plan = p,
                        None => {
                            transport.close().await;
                            return if sh.stop.is_set() {
                                HostResult::Interrupted
                            } else {
                                HostResult::Failed
                            };
                        }
                    }
                }
                Some(l)
            }
            Err(Error::Interrupted) => {
                transport.close().await;
                return sh.interrupt_host(&host.name);
            }
            Err(e) => {
                report.outcome(&Outcome::failed(
                    &host.name,
                    "lock",
                    e,
                    std::time::Duration::ZERO,
                ));
                transport.close().await;
                return HostResult::Failed;
            }
        }
    } else {
        None
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
        Mode::Up | Mode::Apply => {
            report.facts(&plan);
            apply(sh, host, &plan, &mut transport, started).await
        }
        Mode::Down {
            purge,
            purge_docker,
        } => down(sh, host, &plan, &mut transport, purge, purge_docker).await,
        Mode::Reset => match down(sh, host, &plan, &mut transport, false, false).await {
            r @ (HostResult::Failed | HostResult::Interrupted) => r,
            HostResult::Converged if sh.stop.is_set() => sh.interrupt_host(&host.name),
            HostResult::Converged => {
                // Check again: the cluster is gone, so everything on it needs applying.
                let started = Instant::now();
                match check(sh, host, &transport).await {
                    Some(plan) => apply(sh, host, &plan, &mut transport, started).await,
                    None if sh.stop.is_set() => HostResult::Interrupted,
                    None => HostResult::Failed,
                }
            }
        },
    };
    transport.close().await;
    result
}

/// The one check round trip of a host, decided into a plan; `None` (reported) when the
/// host could not be asked.
async fn check(sh: &Shared, host: &Host, transport: &Transport) -> Option<HostPlan> {
    sh.report.phase(&host.name, "checking");
    match transport.run(&sh.check_script, None).await {
        Ok(out) => {
            let mut plan = parse_checks(&host.name, &out);
            block_unsupported(&mut plan);
            release_files(sh, host, transport, &mut plan).await;
            decide_manifests(&sh.cfg, &sh.scope, &mut plan);
            Some(plan)
        }
        Err(Error::Interrupted) => {
            sh.interrupt_host(&host.name);
            None
        }
        Err(e) => {
            sh.report.unreachable(&host.name, &e);
            None
        }
    }
}

/// Parse the check script's `::begin`/`::reason`/`::fact`/`::end` lines.
pub fn parse_checks(host: &str, out: &Output) -> HostPlan {
    let mut facts = BTreeMap::new();
    let mut data = BTreeMap::new();
    let mut steps = Vec::new();
    let mut current: Option<(&'static Step, Vec<String>)> = None;
    for line in out.stdout.lines() {
        if let Some(id) = line.strip_prefix("::begin ") {
            current = crate::steps::find(id.trim()).map(|s| (s, Vec::new()));
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
    for step in REGISTRY {
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
    steps.sort_by_key(|s| REGISTRY.iter().position(|r| r.id == s.step));
    HostPlan {
        host: host.to_string(),
        facts,
        steps,
        data,
        manifests: None,
    }
}

/// A host `up` would refuse is shown so by `plan` and `status` too: its facts are blocked,
/// with the reason `up` gives, instead of "converged".
fn block_unsupported(plan: &mut HostPlan) {
    let Err(why) = judge_facts(plan) else { return };
    if let Some(facts) = plan
        .steps
        .iter_mut()
        .find(|s| s.step == "facts" && s.state == CheckState::Converged)
    {
        facts.state = CheckState::Blocked;
        facts.reasons = vec![why.to_string()];
    }
}

/// Whether the facts allow provisioning at all.
fn judge_facts(plan: &HostPlan) -> Result<(), Error> {
    let f = |k: &str| plan.facts.get(k).map(String::as_str).unwrap_or("");
    let version_ok = f("os_version")
        .split_once('.')
        .and_then(|(maj, min)| Some((maj.parse::<u32>().ok()?, min.parse::<u32>().ok()?)))
        .is_some_and(|v| v >= (22, 4));
    if f("os") != "ubuntu" || !version_ok {
        return Err(Error::plan(format!(
            "unsupported OS {} {}: labprov supports Ubuntu 22.04 and 24.04 (and newer releases)",
            f("os"),
            f("os_version")
        )));
    }
    if !matches!(f("arch"), "amd64" | "arm64") {
        return Err(Error::plan(format!(
            "unsupported architecture {}",
            f("arch")
        )));
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
    let mut interrupted = false;
    let mut lost: Option<Error> = None;
    let sudo = plan.facts.get("sudo").cloned().unwrap_or_default();
    let user = plan.facts.get("user").cloned().unwrap_or_default();
    for step in REGISTRY {
        // Once interrupted, no step starts; each is recorded as such.
        if sh.stop.is_set()
            && !(sh.mode == Mode::Apply && step.kind == StepKind::Script && step.id != "facts")
        {
            interrupted = true;
            report.outcome(&Outcome::interrupted(
                name,
                step.id,
                false,
                std::time::Duration::ZERO,
            ));
            continue;
        }
        // `apply` converges only the manifests; the other steps just have to be converged.
        if sh.mode == Mode::Apply && step.kind == StepKind::Script && step.id != "facts" {
            if lost.is_none()
                && plan
                    .get(step.id)
                    .is_some_and(|c| c.state == CheckState::Converged)
            {
                done.insert(step.id);
            }
            continue;
        }
        let t0 = if step.id == "facts" {
            started
        } else {
            Instant::now()
        };
        let Some(check) = plan.get(step.id) else {
            // parse_checks gives every registered step a check; if not, that is a bug.
            let o = Outcome::failed(
                name,
                step.id,
                Error::internal(format!("no check result for {}", step.id)),
                t0.elapsed(),
            );
            failed = true;
            report.outcome(&o);
            continue;
        };
        let outcome = if let Some(why) = &lost {
            Outcome::not_run(name, step.id, why.clone(), t0.elapsed())
        } else if let Some(dep) = step.needs.iter().find(|d| !done.contains(*d)) {
            let hint = if sh.mode == Mode::Apply {
                " (run `labprov up` first)"
            } else {
                ""
            };
            Outcome::not_run(
                name,
                step.id,
                Error::plan(format!("needs {dep}, which did not converge{hint}")),
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
                    Outcome::failed(name, step.id, check.failure(), t0.elapsed())
                }
                CheckState::NeedsChange
                    if step.needs_root && !matches!(sudo.as_str(), "ok" | "root") =>
                {
                    Outcome::failed(
                        name,
                        step.id,
                        Error::plan(format!(
                            "needs root, but sudo for {user} {}: allow it without a password (NOPASSWD) for labprov's user",
                            if sudo == "password" {
                                "asks for a password"
                            } else {
                                "is not available"
                            }
                        )),
                        t0.elapsed(),
                    )
                }
                CheckState::NeedsChange => {
                    report.phase(name, &format!("applying {}", step.id));
                    let applied = match step.kind {
                        StepKind::Script => {
                            apply_step(sh, step, check, transport, &plan.facts).await
                        }
                        StepKind::Manifests => apply_manifests(sh, host, plan, transport).await,
                    };
                    match applied {
                        Ok((outcome, relogin)) => {
                            if relogin {
                                report.phase(name, "reconnecting for new group membership");
                                if let Err(e) = transport.relogin().await {
                                    lost = Some(e);
                                }
                            }
                            outcome(name, step.id, t0)
                        }
                        Err(Error::Interrupted) => {
                            Outcome::interrupted(name, step.id, true, t0.elapsed())
                        }
                        Err(e) => {
                            if e.is_connect() {
                                lost = Some(e.clone());
                            }
                            Outcome::failed(name, step.id, e, t0.elapsed())
                        }
                    }
                }
            }
        };
        match outcome.kind() {
            Kind::Failed => failed = true,
            Kind::Interrupted => interrupted = true,
            _ => {
                done.insert(step.id);
            }
        }
        report.outcome(&outcome);
    }
    if failed {
        HostResult::Failed
    } else if interrupted {
        HostResult::Interrupted
    } else {
        HostResult::Converged
    }
}

type MakeOutcome = Box<dyn FnOnce(&str, &'static str, Instant) -> Outcome + Send>;

async fn apply_step(
    sh: &Shared,
    step: &'static Step,
    check: &StepCheck,
    transport: &Transport,
    facts: &BTreeMap<String, String>,
) -> Result<(MakeOutcome, bool), Error> {
    let mut payload = None;
    let mut pushed_sha = None;
    if let (ArtifactMode::Push, Some(get)) = (sh.cfg.artifacts.mode, step.artifact) {
        let artifact = get(&sh.cfg);
        let arch = facts.get("arch").map(String::as_str).unwrap_or("amd64");
        let Some(a) = artifact.for_arch(arch) else {
            return Err(Error::plan(format!(
                "no {} download is configured for architecture {arch}",
                artifact.name
            )));
        };
        let (path, sha) = sh.cache.get(a).await?;
        payload = Some(path);
        pushed_sha = Some(sha);
    }
    let script = sh
        .renderer
        .apply_script(&sh.cfg, step, pushed_sha.as_deref())?
        .ok_or_else(|| {
            Error::internal(format!("step {} needs a change but has no apply", step.id))
        })?;
    let out = transport
        .run(&script, payload.as_deref().map(Payload::File))
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
    let what = format!("was: {}", check.reasons.join("; "));
    let make: MakeOutcome = if unchanged {
        Box::new(|h, s, t0| Outcome::ok(h, s, t0.elapsed()))
    } else {
        Box::new(move |h, s, t0| Outcome::changed(h, s, what, t0.elapsed()))
    };
    Ok((make, relogin))
}

/// A download's failure as the apply script reports it: `::artifact URL [EXPECTED ACTUAL]`.
fn artifact_failure(stdout: &str) -> Option<Error> {
    let line = stdout.lines().find_map(|l| l.strip_prefix("::artifact "))?;
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

/// The manifests check names the Istio release's files by hash: take them from the
/// controller's cache, and those it lacks from the host in one more round trip.
async fn release_files(sh: &Shared, host: &Host, transport: &Transport, plan: &mut HostPlan) {
    let cache = &sh.cfg.artifacts.cache_dir;
    let done = match manifests::release_from_cache(cache, &mut plan.data) {
        Ok(None) => Ok(()),
        Ok(Some(script)) => transport.run(&script, None).await.map(|out| {
            let fetched = parse_checks(&host.name, &out).data;
            manifests::release_fetched(cache, &mut plan.data, fetched);
        }),
        Err(e) => Err(e),
    };
    if let Err(why) = done
        && let Some(check) = plan
            .steps
            .iter_mut()
            .find(|s| s.step == "manifests" && s.state == CheckState::Converged)
    {
        check.state = CheckState::Error;
        check.reasons = vec![why.to_string()];
        check.error = Some(why);
    }
}

/// Turn the manifests check's data into a decision, and the step's state with it.
fn decide_manifests(cfg: &Config, scope: &Scope, plan: &mut HostPlan) {
    let decided = match plan.get("manifests") {
        Some(c) if c.state == CheckState::Converged => manifest_plan(cfg, scope, &plan.data),
        _ => return,
    };
    let Some(check) = plan.steps.iter_mut().find(|s| s.step == "manifests") else {
        return;
    };
    match decided {
        Ok(mp) => {
            if !mp.is_empty() {
                check.state = CheckState::NeedsChange;
                check.reasons = vec![mp.summary()];
            }
            plan.manifests = Some(mp);
        }
        Err(why) => {
            check.state = CheckState::Error;
            check.reasons = vec![why.to_string()];
            check.error = Some(why);
        }
    }
}

fn manifest_plan(
    cfg: &Config,
    scope: &Scope,
    data: &BTreeMap<String, String>,
) -> Result<ManifestPlan, Error> {
    let state = match data.get("state") {
        None => manifests::State::default(),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            Error::plan(format!(
                "labprov's state on the host ({}) is unreadable: {e}; remove it to start over",
                manifests::STATE_PATH
            ))
        })?,
    };
    let uid = data.get("cluster_uid").cloned().unwrap_or_default();
    let release: BTreeMap<String, String> = data
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("file:").map(|p| (p.to_string(), v.clone())))
        .collect();
    manifests::plan(cfg, scope, state, &uid, &release)
}

/// Apply the manifest plan bundle by bundle: changed objects in one server-side apply, then
/// prunes, then the state, then the rollout waits. State is recorded after each bundle, so a
/// failure later on does not forget what was applied.
async fn apply_manifests(
    sh: &Shared,
    host: &Host,
    plan: &HostPlan,
    transport: &Transport,
) -> Result<(MakeOutcome, bool), Error> {
    let mplan = match &plan.manifests {
        Some(p) => p.clone(),
        None => gather_manifest_plan(sh, host, &sh.scope, transport).await?,
    };
    execute_manifest_plan(sh, host, &mplan, transport).await?;
    // Only waiting again for a rollout (and seeing it finish) changes nothing.
    if mplan.changes.is_empty() {
        return Ok((Box::new(|h, s, t0| Outcome::ok(h, s, t0.elapsed())), false));
    }
    let summary = mplan.summary();
    Ok((
        Box::new(move |h, s, t0| Outcome::changed(h, s, summary, t0.elapsed())),
        false,
    ))
}

/// Run the manifests check alone and decide: for when the first check came too early
/// (before the cluster or the Istio release existed).
async fn gather_manifest_plan(
    sh: &Shared,
    host: &Host,
    scope: &Scope,
    transport: &Transport,
) -> Result<ManifestPlan, Error> {
    let step = crate::steps::find("manifests")
        .ok_or_else(|| Error::internal("no manifests step is registered"))?;
    let script = sh
        .renderer
        .check_script(&sh.cfg, &[step], Some(&scope.release_files()))?;
    let out = transport.run(&script, None).await?;
    let mut again = parse_checks(&host.name, &out);
    release_files(sh, host, transport, &mut again).await;
    decide_manifests(&sh.cfg, scope, &mut again);
    again.manifests.take().ok_or_else(|| {
        again
            .get("manifests")
            .map(StepCheck::failure)
            .unwrap_or_else(|| Error::internal("the manifests check did not report"))
    })
}

/// Carry out a manifest plan bundle by bundle.
async fn execute_manifest_plan(
    sh: &Shared,
    host: &Host,
    mplan: &ManifestPlan,
    transport: &Transport,
) -> Result<(), Error> {
    if mplan.is_empty() {
        return Ok(());
    }
    let run = |script: String, input: Vec<u8>, what: String| async move {
        let input = (!input.is_empty()).then_some(input);
        let out = transport
            .run(&script, input.as_deref().map(Payload::Bytes))
            .await?;
        if out.code != 0 {
            return Err(Error::Remote {
                what,
                code: out.code,
                stderr_tail: tail(&out.stderr, 3),
            });
        }
        Ok(())
    };
    let state_bytes = |s: &manifests::State| {
        serde_json::to_vec(s).map_err(|e| Error::internal(format!("state does not serialize: {e}")))
    };
    let mut done: Vec<String> = Vec::new();
    let mut unconfirmed = mplan.before.unconfirmed.clone();
    for bp in &mplan.bundles {
        sh.report
            .phase(&host.name, &format!("applying bundle {}", bp.id));
        if !bp.apply.is_empty() {
            let script = sh.renderer.manifests_apply(&sh.cfg, &bp.id, true)?;
            run(
                script,
                manifests::stream(&bp.apply),
                format!("kubectl apply of bundle {}", bp.id),
            )
            .await?;
        }
        if !bp.prune.is_empty() {
            let script = sh.renderer.manifests_apply(&sh.cfg, &bp.id, false)?;
            let ids = manifests::identities(&bp.prune);
            run(
                script,
                manifests::stream(&ids),
                format!("kubectl delete (prune) of bundle {}", bp.id),
            )
            .await?;
        }
        done.push(bp.id.clone());
        // Record what is applied before waiting, with the bundle marked unconfirmed until
        // its rollout is seen to finish: a timeout must not make the next run call it done.
        let waits = !bp.waits.is_empty();
        if waits {
            unconfirmed.insert(bp.id.clone());
        }
        let state = state_bytes(&manifests::state_after(mplan, &done, &unconfirmed))?;
        let script = sh.renderer.manifests_state()?;
        run(script.clone(), state, "recording labprov's state".into()).await?;
        if waits {
            sh.report
                .phase(&host.name, &format!("waiting for bundle {}", bp.id));
            let wait = sh.renderer.manifests_wait(&sh.cfg, &bp.id, &bp.waits)?;
            run(wait, Vec::new(), format!("rollout of bundle {}", bp.id)).await?;
            unconfirmed.remove(&bp.id);
            let state = state_bytes(&manifests::state_after(mplan, &done, &unconfirmed))?;
            run(script, state, "recording labprov's state".into()).await?;
        }
    }
    Ok(())
}

/// `down` on one host: each step's undo, in reverse order, when the flags ask for it.
/// Every undo checks first, so a second `down` changes nothing.
async fn down(
    sh: &Shared,
    host: &Host,
    plan: &HostPlan,
    transport: &mut Transport,
    purge: bool,
    purge_docker: bool,
) -> HostResult {
    let report = &sh.report;
    let name = host.name.as_str();
    let sudo = plan.facts.get("sudo").cloned().unwrap_or_default();
    let mut failed = false;
    let mut interrupted = false;
    let mut lost: Option<Error> = None;
    for step in REGISTRY.iter().rev() {
        let Some(undo) = step.undo else { continue };
        let wanted = match undo.when {
            UndoWhen::Always => true,
            UndoWhen::Purge => purge,
            UndoWhen::PurgeDocker => purge_docker,
        };
        if !wanted {
            continue;
        }
        if sh.stop.is_set() {
            interrupted = true;
            report.outcome(&Outcome::interrupted(
                name,
                undo.id,
                false,
                std::time::Duration::ZERO,
            ));
            continue;
        }
        let t0 = Instant::now();
        report.phase(name, &format!("running {}", undo.id));
        if let Some(why) = &lost {
            let o = Outcome::not_run(name, undo.id, why.clone(), t0.elapsed());
            failed = true;
            report.outcome(&o);
            continue;
        }
        let result: Result<bool, Error> =
            if step.needs_root && !matches!(sudo.as_str(), "ok" | "root") {
                Err(Error::plan(format!(
                    "needs root, but sudo for this user is {sudo}"
                )))
            } else if step.kind == StepKind::Manifests {
                undo_manifests(sh, host, plan, transport, purge).await
            } else {
                run_undo(sh, step, transport).await
            };
        let outcome = match result {
            Ok(true) => {
                Outcome::changed(name, undo.id, format!("undid {}", step.title), t0.elapsed())
            }
            Ok(false) => Outcome::ok(name, undo.id, t0.elapsed()),
            Err(Error::Interrupted) => {
                interrupted = true;
                Outcome::interrupted(name, undo.id, true, t0.elapsed())
            }
            Err(e) => {
                if e.is_connect() {
                    lost = Some(e.clone());
                }
                Outcome::failed(name, undo.id, e, t0.elapsed())
            }
        };
        failed |= outcome.kind() == Kind::Failed;
        report.outcome(&outcome);
    }
    if failed {
        HostResult::Failed
    } else if interrupted {
        HostResult::Interrupted
    } else {
        HostResult::Converged
    }
}

/// Run a step's undo script; `Ok(true)` when it changed the host.
async fn run_undo(sh: &Shared, step: &'static Step, transport: &Transport) -> Result<bool, Error> {
    let (Some(undo), Some(script)) = (step.undo, sh.renderer.undo_script(&sh.cfg, step)?) else {
        return Err(Error::internal(format!("step {} has no undo", step.id)));
    };
    let out = transport.run(&script, None).await?;
    if out.code != 0 {
        return Err(Error::Remote {
            what: undo.id.to_string(),
            code: out.code,
            stderr_tail: tail(&out.stderr, 3),
        });
    }
    Ok(!out.stdout.lines().any(|l| l.trim() == "::unchanged"))
}

/// Delete every object labprov owns on the host (when its cluster still runs), then, with
/// `purge`, forget labprov's state there.
async fn undo_manifests(
    sh: &Shared,
    host: &Host,
    plan: &HostPlan,
    transport: &Transport,
    purge: bool,
) -> Result<bool, Error> {
    let everything = Scope {
        converge: Vec::new(),
        prune: manifests::BUNDLES
            .iter()
            .map(|b| b.id.to_string())
            .collect(),
    };
    let mut changed = false;
    // The check reports the cluster's identity only when the cluster answers.
    if plan.data.contains_key("cluster_uid") {
        let mplan = manifest_plan(&sh.cfg, &everything, &plan.data)?;
        changed |= !mplan.is_empty();
        execute_manifest_plan(sh, host, &mplan, transport).await?;
    }
    if purge {
        let step = crate::steps::find("manifests")
            .ok_or_else(|| Error::internal("no manifests step is registered"))?;
        changed |= run_undo(sh, step, transport).await?;
    }
    Ok(changed)
}
