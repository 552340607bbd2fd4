//! Per-host provisioning: connect, check everything in one round trip, let each step decide,
//! apply what is needed in registry order (or undo, in reverse, for `down`). A generic
//! executor: what a step checks, decides, applies and undoes is in its folder under
//! `steps/`; here is only the policy every step shares (needs, sudo, interruption, a lost
//! host, the lock). Hosts run concurrently under a semaphore; a host's failure stays its own.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use crate::artifacts::Cache;
use crate::config::{Config, Host};
use crate::error::Error;
use crate::fleet;
use crate::interrupt::Stop;
use crate::manifests::Scope;
use crate::outcome::{CheckState, HostPlan, Kind, Outcome};
use crate::render::Renderer;
use crate::report::Report;
use crate::steps::step::parse_checks;
use crate::steps::{Cx, REGISTRY, Spec};
use crate::transport::{Bastion, Transport};

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
    /// `plan`/`status`: `up` would change something (nothing blocked, every check ran).
    Pending,
    /// `plan`/`status`: a step is blocked (the user must decide first; `up` would fail).
    Blocked,
    Failed,
    /// Ctrl-C or SIGTERM stopped it before it converged.
    Interrupted,
}

struct Shared {
    cfg: Config,
    specs: Vec<&'static Spec>,
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
    /// What a step's apply or undo may use on this host.
    fn cx<'a>(&'a self, host: &'a Host, transport: &'a Transport, plan: &'a HostPlan) -> Cx<'a> {
        Cx {
            cfg: &self.cfg,
            renderer: &self.renderer,
            report: &self.report,
            cache: &self.cache,
            scope: &self.scope,
            host,
            transport,
            plan,
        }
    }

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

/// The steps a mode runs on a host, in order, for an interrupted host to list (and the
/// class view's step bars).
pub fn planned_steps(mode: Mode) -> Vec<&'static str> {
    match mode {
        Mode::Down {
            purge,
            purge_docker,
        } => REGISTRY
            .iter()
            .rev()
            .filter_map(|s| s.spec().undo)
            .filter(|u| u.when.wanted(purge, purge_docker))
            .map(|u| u.id)
            .collect(),
        Mode::Apply => REGISTRY
            .iter()
            .filter(|s| s.in_apply())
            .map(|s| s.spec().id)
            .collect(),
        _ => REGISTRY.iter().map(|s| s.spec().id).collect(),
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
    let specs = crate::steps::specs();
    let renderer = Renderer::for_steps(&specs)?;
    let check_script = renderer.check_script(&cfg, &specs, Some(&scope.release_files()))?;
    // Render every apply now, so a template problem stops the run before any host is touched.
    for step in &specs {
        renderer.apply_script(&cfg, step, None)?;
    }
    let cache = Cache::new(cfg.artifacts.cache_dir.clone());
    // One connection to the jump host for the whole run; if it fails, every host behind it
    // fails with that cause.
    let bastion = match fleet::bastion(&cfg, &hosts).await {
        Ok(b) => b,
        Err(e) => {
            for h in &hosts {
                report.unreachable(&h.name, &e);
            }
            return Ok(hosts.iter().map(|_| HostResult::Failed).collect());
        }
    };
    let parallel = cfg.run.parallel;
    let shared = Arc::new(Shared {
        cfg,
        specs,
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
    let job = |host: Host| {
        let shared = shared.clone();
        async move {
            // A host still waiting for its turn when the run is interrupted never starts.
            let result = if shared.stop.is_set() {
                shared.interrupt_host(&host.name)
            } else {
                run_host(&shared, &host).await
            };
            shared.report.host_done(&host.name);
            result
        }
    };
    // A host whose task panicked (a bug in labprov) fails alone; the others go on and the
    // run still writes its journal and summary.
    let panicked = |name: &str, why: String| {
        shared.report.host_done(name);
        shared.report.outcome(&Outcome::failed(
            name,
            "host",
            Error::internal(why),
            std::time::Duration::ZERO,
        ));
        HostResult::Failed
    };
    let results = fleet::fan_out(hosts, parallel, job, panicked).await;
    if let Some(b) = Arc::into_inner(shared).and_then(|s| s.bastion) {
        b.close().await;
    }
    Ok(results)
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
                    // The other run may have changed the user's groups (docker): this
                    // login predates that, so check from a fresh one (the lock's channel
                    // stays on the old one).
                    if let Err(e) = transport.relogin().await {
                        report.unreachable(&host.name, &e);
                        transport.close().await;
                        return HostResult::Failed;
                    }
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
            let any = |state| plan.steps.iter().any(|s| s.state == state);
            if any(CheckState::Error) {
                HostResult::Failed
            } else if any(CheckState::Blocked) {
                HostResult::Blocked
            } else if any(CheckState::NeedsChange) {
                HostResult::Pending
            } else {
                HostResult::Converged
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
            r @ (HostResult::Failed
            | HostResult::Interrupted
            | HostResult::Pending
            | HostResult::Blocked) => r,
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
    let sent_ms = crate::outcome::now_ms();
    let sent = Instant::now();
    match transport.run(&sh.check_script, None).await {
        Ok(out) => {
            let mut plan = parse_checks(&host.name, &out, &sh.specs);
            // The controller's clock when it sent the check, and how long the answer took:
            // what the host's own clock (`::fact clock_ms`) is judged against.
            plan.facts
                .insert("controller_ms".into(), sent_ms.to_string());
            plan.facts
                .insert("rtt_ms".into(), sent.elapsed().as_millis().to_string());
            for step in REGISTRY {
                step.gather(&sh.cfg, &host.name, transport, &mut plan).await;
                step.decide(&sh.cfg, &sh.scope, &mut plan);
            }
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
    // Each step of this run that did not converge, with the failed step behind it (itself,
    // or the failure a need of it was skipped for): what a skip names.
    let mut root: HashMap<&'static str, &'static str> = HashMap::new();
    let mut failed = false;
    let mut interrupted = false;
    // The step during which the connection was lost.
    let mut lost: Option<&'static str> = None;
    let sudo = plan.facts.get("sudo").cloned().unwrap_or_default();
    let user = plan.facts.get("user").cloned().unwrap_or_default();
    for (i, step) in REGISTRY.iter().enumerate() {
        let id = step.spec().id;
        // `apply` converges only its own steps; the others just have to be converged.
        let converges = sh.mode != Mode::Apply || step.in_apply();
        // Once interrupted, no step starts; each is recorded as such.
        if sh.stop.is_set() && converges {
            interrupted = true;
            report.outcome(&Outcome::interrupted(
                name,
                id,
                false,
                std::time::Duration::ZERO,
            ));
            continue;
        }
        if !converges {
            if lost.is_none()
                && plan
                    .get(id)
                    .is_some_and(|c| c.state == CheckState::Converged)
            {
                done.insert(id);
            }
            continue;
        }
        // The first step's time includes the connection and the check round trip.
        let t0 = if i == 0 { started } else { Instant::now() };
        let Some(check) = plan.get(id) else {
            // parse_checks gives every registered step a check; if not, that is a bug.
            let o = Outcome::failed(
                name,
                id,
                Error::internal(format!("no check result for {id}")),
                t0.elapsed(),
            );
            failed = true;
            root.insert(id, id);
            report.outcome(&o);
            continue;
        };
        // A TA counts one failure per cause: the steps that could not run because of it are
        // skipped, naming it. A lost connection is the failure of the step it broke (or of
        // the relogin after it); the steps after it are skipped, as they never ran. A need
        // this run did not try (`apply` leaves `up`'s steps alone) is no earlier failure to
        // point at: then the step fails itself, saying to run `up`.
        let mut cause = lost;
        let outcome = if let Some(during) = lost {
            Outcome::skipped_lost(name, id, during)
        } else if let Some(dep) = step.spec().needs.iter().find(|d| !done.contains(*d)) {
            cause = root.get(dep).copied();
            match cause {
                Some(cause) => Outcome::skipped(name, id, dep, Some(cause)),
                None => {
                    let hint = if sh.mode == Mode::Apply {
                        " (run `labprov up` first)"
                    } else {
                        ""
                    };
                    Outcome::failed(
                        name,
                        id,
                        Error::plan(format!("needs {dep}, which did not converge{hint}")),
                        t0.elapsed(),
                    )
                }
            }
        } else {
            match check.state {
                CheckState::Converged => Outcome::ok(name, id, t0.elapsed()),
                CheckState::Blocked | CheckState::Error => {
                    Outcome::failed(name, id, check.failure(), t0.elapsed())
                }
                CheckState::NeedsChange
                    if step.spec().needs_root && !matches!(sudo.as_str(), "ok" | "root") =>
                {
                    Outcome::failed(
                        name,
                        id,
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
                    report.phase(name, &format!("applying {id}"));
                    let applied = step.apply(&sh.cx(host, transport, plan), check).await;
                    match applied {
                        Ok(applied) => {
                            let relogin = if applied.relogin {
                                report.phase(name, "reconnecting for new group membership");
                                transport.relogin().await
                            } else {
                                Ok(())
                            };
                            match (relogin, applied.changed) {
                                // The change needs a new login to take effect: without one
                                // the step did not converge, and nothing after it can run.
                                (Err(e), did) => {
                                    lost = Some(id);
                                    Outcome::failed(
                                        name,
                                        id,
                                        relogin_failed(e, did.as_deref()),
                                        t0.elapsed(),
                                    )
                                }
                                (Ok(()), Some(what)) => {
                                    Outcome::changed(name, id, what, t0.elapsed())
                                }
                                (Ok(()), None) => Outcome::ok(name, id, t0.elapsed()),
                            }
                        }
                        Err(Error::Interrupted) => {
                            Outcome::interrupted(name, id, true, t0.elapsed())
                        }
                        Err(e) => {
                            if e.is_connect() {
                                lost = Some(id);
                            }
                            Outcome::failed(name, id, e, t0.elapsed())
                        }
                    }
                }
            }
        };
        match outcome.kind() {
            Kind::Failed => {
                failed = true;
                root.insert(id, id);
            }
            Kind::Skipped => {
                root.insert(id, cause.unwrap_or(id));
            }
            Kind::Interrupted => interrupted = true,
            _ => {
                done.insert(id);
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

/// The new login a step's change needs (a new group) failed: the step's error, saying what
/// it had done, so the user knows the host changed although the step did not converge.
fn relogin_failed(e: Error, did: Option<&str>) -> Error {
    match e {
        Error::Connect { target, reason } => Error::Connect {
            target,
            reason: match did {
                Some(did) => format!("logging in again after the change ({did}): {reason}"),
                None => format!("logging in again: {reason}"),
            },
        },
        other => other,
    }
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
    // The undo during which the connection was lost: the later ones are skipped.
    let mut lost: Option<&'static str> = None;
    for step in REGISTRY.iter().rev() {
        let Some(undo) = step.spec().undo else {
            continue;
        };
        if !undo.when.wanted(purge, purge_docker) {
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
        if let Some(during) = lost {
            report.outcome(&Outcome::skipped_lost(name, undo.id, during));
            continue;
        }
        let result: Result<bool, Error> =
            if step.spec().needs_root && !matches!(sudo.as_str(), "ok" | "root") {
                Err(Error::plan(format!(
                    "needs root, but sudo for this user is {sudo}"
                )))
            } else {
                step.undo(&sh.cx(host, transport, plan), purge).await
            };
        let outcome = match result {
            Ok(true) => Outcome::changed(
                name,
                undo.id,
                format!("undid {}", step.spec().title),
                t0.elapsed(),
            ),
            Ok(false) => Outcome::ok(name, undo.id, t0.elapsed()),
            Err(Error::Interrupted) => {
                interrupted = true;
                Outcome::interrupted(name, undo.id, true, t0.elapsed())
            }
            Err(e) => {
                if e.is_connect() {
                    lost = Some(undo.id);
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
