//! labprov: provisions the environment of the lab "Kubernetes Network Policies and Service
//! Meshes" (Docker, minikube with Cilium, kubectl, Istio) on this machine or on Ubuntu or Debian VMs
//! reached over SSH through a jump host.
//!
//! The data flows one way: profile text → [`profile`] layers → validated [`config::Config`]
//! → inventory of hosts → per-host [`engine`] runs (one check round trip, then the applies
//! that are needed) → [`report`], the only printer. Input errors stop the run before any host
//! is contacted; the exit code is decided in [`run`] (and by `listen`, which exits 128+N at
//! once on a second signal).

pub mod artifacts;
pub mod cli;
pub mod compat;
pub mod config;
pub mod doctor;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod html_report;
pub mod interrupt;
pub mod inventory;
pub mod journal;
pub mod manifests;
pub mod outcome;
pub mod private;
pub mod profile;
pub mod redact;
pub mod render;
pub mod report;
pub mod steps;
pub mod template;
pub mod transport;
pub mod tunnel;
pub mod verify;

use std::path::Path;
use std::sync::Arc;

use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::engine::{HostResult, Mode};
use crate::error::{Error, Result};
use crate::manifests::Scope;
use crate::report::Report;

/// Run labprov and return the process exit code: 0 converged, 1 some host failed,
/// 2 bad input, 101 an internal error (a panic outside any host), 130 interrupted by SIGINT
/// (Ctrl-C), 143 by SIGTERM; `plan --detailed-exitcode`: 0 nothing to change, 2 changes
/// pending, 1 blocked or failed.
pub fn run(cli: Cli) -> i32 {
    let verbosity = cli.verbose as i8 - cli.quiet as i8;
    // With `plan --detailed-exitcode`, 2 means "changes pending": bad input says 1 there, as
    // any error does in Terraform's convention.
    let detailed = matches!(
        cli.command,
        Command::Plan {
            detailed_exitcode: true,
            ..
        }
    );
    let report = Arc::new(Report::new(cli.output, verbosity));
    // A panic is a bug in labprov: say so in one line instead of a backtrace and exit 101.
    // (A panic inside one host's task never gets here: it is that host's failure.)
    let run = std::panic::AssertUnwindSafe(|| execute(cli, report.clone()));
    match std::panic::catch_unwind(run) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            report.error(&e.to_string());
            match e.exit_code() {
                2 if detailed => 1,
                code => code,
            }
        }
        Err(payload) => {
            let why = fleet::panic_message(payload);
            report.error(&format!("internal error: {why}; please report it"));
            101
        }
    }
}

fn load_config(cli: &Cli, report: &Report) -> Result<Config> {
    let spec = match cli.profile.as_deref() {
        Some(p) => p.to_string(),
        None if Path::new("labprov.toml").is_file() => "labprov.toml".to_string(),
        None => "local".to_string(),
    };
    let layers = profile::load(&spec)?;
    let cfg = Config::from_layers(&layers)?;
    // Versions that do not support each other are refused like any bad value, unless the
    // user says to go ahead.
    if let Some(e) = compat::unsupported(&cfg, &layers) {
        if !cli.allow_unsupported {
            return Err(e);
        }
        report.warn(&format!("--allow-unsupported: going ahead although {e}"));
    }
    Ok(cfg)
}

fn execute(cli: Cli, report: Arc<Report>) -> Result<i32> {
    let (mode, targets) = match &cli.command {
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "labprov", &mut out);
            report.raw(&out);
            return Ok(0);
        }
        Command::Render { out, show_secrets } => {
            let cfg = load_config(&cli, &report)?;
            let n = render_to(&cfg, out, *show_secrets)?;
            report.info(&format!("wrote {n} files to {}", out.display()));
            return Ok(0);
        }
        Command::Report { out, since, runs } => {
            let out = out.clone().unwrap_or_else(html_report::default_path);
            let window = html_report::Window {
                since: since.map(Into::into),
                runs: runs.map(|n| n as usize),
            };
            let written = html_report::write(&out, &window)?;
            report.info(&format!(
                "report written to {} ({} host{}, {} run{})",
                written.path.display(),
                written.hosts,
                if written.hosts == 1 { "" } else { "s" },
                written.runs,
                if written.runs == 1 { "" } else { "s" },
            ));
            return Ok(0);
        }
        Command::Tunnel {
            services,
            forwards,
            check_every,
            targets,
        } => {
            let cfg = load_config(&cli, &report)?;
            let hosts = inventory::select(&cfg, targets, None)?;
            let [host] = hosts.as_slice() else {
                let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
                return Err(Error::Usage {
                    message: format!(
                        "tunnel: pick one host with --limit NAME (hosts: {})",
                        names.join(", ")
                    ),
                });
            };
            let runtime = tokio::runtime::Runtime::new().map_err(|e| Error::Usage {
                message: format!("cannot start runtime: {e}"),
            })?;
            return runtime.block_on(tunnel::run(
                &cfg,
                host,
                services,
                forwards,
                report.clone(),
                std::time::Duration::from_secs(*check_every),
            ));
        }
        Command::Verify {
            checks,
            list,
            targets,
        } => return verify(&cli, checks, *list, targets, report),
        Command::Doctor { targets } => return doctor(&cli, targets, report),
        Command::Up { targets } => (Mode::Up, targets),
        Command::Plan { targets, .. } => (Mode::Plan, targets),
        Command::Status { targets } => (Mode::Status, targets),
        Command::Apply { targets, .. } => (Mode::Apply, targets),
        Command::Down {
            purge,
            purge_docker,
            targets,
            ..
        } => (
            Mode::Down {
                purge: *purge,
                purge_docker: *purge_docker,
            },
            targets,
        ),
        Command::Reset { targets, .. } => (Mode::Reset, targets),
    };
    let mut cfg = load_config(&cli, &report)?;
    let scope = match &cli.command {
        Command::Apply {
            bundles, remove, ..
        } => apply_scope(&cfg, bundles, remove)?,
        _ => Scope::profile(&cfg),
    };
    // `up` prunes what lab.bundles does not select: say so when `apply` adds such a bundle,
    // and that `up` brings back the bundle it replaced if the profile selects that one.
    // (That it replaced one, where it did, the manifests step's outcome says.)
    let notes: Vec<String> = match &cli.command {
        Command::Apply { bundles, .. } => {
            let mut notes = Vec::new();
            for b in bundles.iter().filter(|b| !cfg.lab.bundles.contains(b)) {
                let back: Vec<&str> = manifests::replacements(std::slice::from_ref(b))
                    .into_iter()
                    .map(|(_, old)| old)
                    .filter(|old| cfg.lab.bundles.iter().any(|x| x == old))
                    .collect();
                let back = match back.as_slice() {
                    [] => String::new(),
                    some => format!(" and put {} back", some.join(", ")),
                };
                notes.push(format!(
                    "{b} is not in lab.bundles: the next `labprov up` will remove it{back}; \
                     add it to lab.bundles to keep it."
                ));
            }
            notes
        }
        _ => Vec::new(),
    };
    let hosts = hosts_of(&mut cfg, targets, false)?;
    if hosts.is_empty() {
        report.info("no host failed in the last run: nothing to do");
        return Ok(0);
    }
    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let yes = matches!(
        cli.command,
        Command::Down { yes: true, .. } | Command::Reset { yes: true, .. }
    );
    if matches!(mode, Mode::Down { .. } | Mode::Reset) && !yes {
        let what = match mode {
            Mode::Down {
                purge: true,
                purge_docker: true,
            } => "the lab, its binaries and Docker",
            Mode::Down { purge: true, .. } => "the lab and its binaries",
            Mode::Down { .. } => "the lab (objects, Istio, the cluster)",
            _ => "the cluster and lab objects, then rebuild them,",
        };
        let shown = if names.len() > 8 {
            format!("{}, … ({} hosts)", names[..8].join(", "), names.len())
        } else {
            names.join(", ")
        };
        let question = format!("Remove {what} on {shown}?");
        if !report.confirm(&question)? {
            report.info("nothing done");
            return Ok(1);
        }
    }
    let profile_path = cfg.path.clone();
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Error::Usage {
        message: format!("cannot start runtime: {e}"),
    })?;
    let command = match mode {
        Mode::Up => "up",
        Mode::Apply => "apply",
        Mode::Down { .. } => "down",
        Mode::Reset => "reset",
        Mode::Plan => "plan",
        Mode::Status => "status",
    };
    let run_id = journal::run_id();
    let lock = engine::LockSpec {
        owner: format!("run {run_id} (labprov {command} by {})", controller()),
        wait: (!targets.no_wait).then(|| std::time::Duration::from_secs(cfg.run.lock_timeout)),
    };
    let stop = interrupt::Stop::new();
    let grace = cfg.run.grace_period;
    // plan and status print a block per host; the runs that converge get the class view.
    if !matches!(mode, Mode::Plan | Mode::Status) {
        report.begin(&names, &engine::planned_steps(mode));
    }
    let results = runtime.block_on(async {
        tokio::spawn(listen(stop.clone(), report.clone(), grace));
        engine::run(cfg, hosts, mode, scope, report.clone(), stop.clone(), lock).await
    })?;
    let signal = stop.signal();
    for note in &notes {
        report.note(note);
    }
    if !matches!(mode, Mode::Plan | Mode::Status) {
        let mut j = journal::build(
            &run_id,
            command,
            &profile_path,
            &names,
            &report.outcomes(),
            signal.map(interrupt::name),
        );
        j.elapsed_ms = Some(report.elapsed().as_millis());
        match journal::write(&j) {
            Ok(path) => report.journal(&path),
            Err(e) => report.warn(&format!("the run journal was not written: {e}")),
        }
        // A class run ends with its page, so the TA reads the class at a glance instead of
        // the terminal; one host's run has its answer in the summary already.
        if matches!(mode, Mode::Up | Mode::Apply) && names.len() > 1 && cli.quiet == 0 {
            let out = html_report::default_path();
            match html_report::write(&out, &html_report::Window::default()) {
                Ok(w) => report.html_report(&w.path),
                Err(e) => report.warn(&format!("the HTML report was not written: {e}")),
            }
        }
    }
    report.summary(
        &names,
        !matches!(mode, Mode::Plan | Mode::Status),
        signal.map(interrupt::name),
    );
    let detailed = matches!(
        cli.command,
        Command::Plan {
            detailed_exitcode: true,
            ..
        }
    );
    let any = |r: HostResult| results.contains(&r);
    Ok(match signal {
        Some(sig) => 128 + sig,
        // Terraform's `plan -detailed-exitcode`: 1 blocked or failed, 2 changes pending.
        None if detailed && (any(HostResult::Failed) || any(HostResult::Blocked)) => 1,
        None if detailed && any(HostResult::Pending) => 2,
        // Otherwise `plan` and `status` succeed when every host was checked: what they found
        // is their output, not an error.
        None if results.iter().all(|r| {
            matches!(
                r,
                HostResult::Converged | HostResult::Pending | HostResult::Blocked
            )
        }) =>
        {
            0
        }
        None => 1,
    })
}

/// `labprov verify`: the exit code is decided here, as for every command: 0 when every
/// selected check passed (or was skipped) on every host, 1 when one failed, 128+N on a signal.
fn verify(
    cli: &Cli,
    names: &[String],
    list: bool,
    targets: &cli::Targets,
    report: Arc<Report>,
) -> Result<i32> {
    if list {
        report.check_list(&verify::list());
        return Ok(0);
    }
    let selected = verify::checks::select(names).map_err(|message| Error::Usage {
        message: format!("verify: {message}"),
    })?;
    let mut cfg = load_config(cli, &report)?;
    let hosts = hosts_of(&mut cfg, targets, true)?;
    if hosts.is_empty() {
        report.info("no host failed in the last run: nothing to do");
        return Ok(0);
    }
    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let profile_path = cfg.path.clone();
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Error::Usage {
        message: format!("cannot start runtime: {e}"),
    })?;
    let run_id = journal::run_id();
    let stop = interrupt::Stop::new();
    let grace = cfg.run.grace_period;
    let passed = runtime.block_on(async {
        tokio::spawn(listen(stop.clone(), report.clone(), grace));
        verify::run(cfg, hosts, selected, report.clone(), stop.clone()).await
    })?;
    let signal = stop.signal();
    let mut j = journal::build_verify(
        &run_id,
        &profile_path,
        &names,
        &report.verdicts(),
        signal.map(interrupt::name),
    );
    j.elapsed_ms = Some(report.elapsed().as_millis());
    match journal::write(&j) {
        Ok(path) => report.journal(&path),
        Err(e) => report.warn(&format!("the run journal was not written: {e}")),
    }
    if names.len() > 1 && cli.quiet == 0 {
        let out = html_report::default_path();
        match html_report::write(&out, &html_report::Window::default()) {
            Ok(w) => report.html_report(&w.path),
            Err(e) => report.warn(&format!("the HTML report was not written: {e}")),
        }
    }
    report.verify_summary(&names, signal.map(interrupt::name));
    Ok(match signal {
        Some(sig) => 128 + sig,
        None if passed.iter().all(|ok| *ok) => 0,
        None => 1,
    })
}

/// `labprov doctor`: 0 when no check failed on any host, 1 when one did, 128+N on a signal.
/// Versions that do not support each other are one of its verdicts (a `fail`, a `warn` with
/// `--allow-unsupported`) instead of stopping it: the point is to list everything at once.
fn doctor(cli: &Cli, targets: &cli::Targets, report: Arc<Report>) -> Result<i32> {
    let spec = match cli.profile.as_deref() {
        Some(p) => p.to_string(),
        None if Path::new("labprov.toml").is_file() => "labprov.toml".to_string(),
        None => "local".to_string(),
    };
    let layers = profile::load(&spec)?;
    let mut cfg = Config::from_layers(&layers)?;
    let profile = doctor::Profile {
        unsupported: compat::unsupported(&cfg, &layers).map(|e| e.to_string()),
        allow_unsupported: cli.allow_unsupported,
    };
    let hosts = hosts_of(&mut cfg, targets, false)?;
    if hosts.is_empty() {
        report.info("no host failed in the last run: nothing to do");
        return Ok(0);
    }
    let mut names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    if cfg.ssh.jump.is_some() && hosts.len() > 1 && hosts.iter().any(|h| !h.is_local()) {
        names.insert(0, doctor::JUMP.to_string());
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Error::Usage {
        message: format!("cannot start runtime: {e}"),
    })?;
    let stop = interrupt::Stop::new();
    let grace = cfg.run.grace_period;
    let healthy = runtime.block_on(async {
        tokio::spawn(listen(stop.clone(), report.clone(), grace));
        doctor::run(cfg, hosts, profile, report.clone(), stop.clone()).await
    })?;
    let signal = stop.signal();
    report.doctor_summary(&names, signal.map(interrupt::name));
    Ok(match signal {
        Some(sig) => 128 + sig,
        None if healthy.iter().all(|ok| *ok) => 0,
        None => 1,
    })
}

/// The hosts a run works on (the target options), and `--parallel` into the config.
/// `--only-failed` reads the journals of `verify` for `verify`, of the other runs otherwise.
fn hosts_of(
    cfg: &mut Config,
    targets: &cli::Targets,
    verify_runs: bool,
) -> Result<Vec<config::Host>> {
    if let Some(p) = targets.parallel {
        cfg.run.parallel = p as usize;
    }
    let failed_last = if targets.only_failed {
        Some(journal::failed_last(verify_runs)?)
    } else {
        None
    };
    inventory::select(cfg, targets, failed_last.as_deref())
}

/// `user@host` of this machine, for a run that waits for this one's lock.
fn controller() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "?".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    format!("{user}@{host}")
}

/// The first SIGINT or SIGTERM trips `stop`: the engine starts no more steps and finishes
/// the run (journal, summary, masters closed). A second one ends labprov at once; files
/// reach their final path only by rename, so none is left half-written.
async fn listen(stop: interrupt::Stop, report: Arc<Report>, grace: u64) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        report.warn("cannot listen for Ctrl-C and SIGTERM: they will stop labprov at once");
        return;
    };
    loop {
        let sig = tokio::select! {
            _ = int.recv() => libc_signal::SIGINT,
            _ = term.recv() => libc_signal::SIGTERM,
        };
        if stop.is_set() {
            report.error(&format!("{}: quitting at once", interrupt::name(sig)));
            std::process::exit(128 + sig);
        }
        stop.trip(sig);
        report.warn(&format!(
            "{}: no new step starts; a running command may finish within {grace}s \
             (run.grace_period), then it is stopped; press Ctrl-C again to quit at once",
            interrupt::name(sig)
        ));
    }
}

/// Signal numbers as Linux has them (no libc dependency for two constants).
mod libc_signal {
    pub const SIGINT: i32 = 2;
    pub const SIGTERM: i32 = 15;
}

/// What `labprov apply` works on: named bundles (converged, their stale objects pruned),
/// `--remove` bundles (all their objects pruned), or, with neither, the profile's selection.
fn apply_scope(cfg: &Config, bundles: &[String], remove: &[String]) -> Result<Scope> {
    for b in bundles.iter().chain(remove) {
        if manifests::bundle(b).is_none() {
            return Err(Error::Usage {
                message: format!("apply: {}", manifests::unknown_bundle(b)),
            });
        }
    }
    if !remove.is_empty() {
        return Ok(Scope {
            converge: Vec::new(),
            prune: remove.iter().cloned().collect(),
        });
    }
    if bundles.is_empty() {
        return Ok(Scope::profile(cfg));
    }
    // Named bundles come on top of what the profile selects, so their needs are checked
    // against the union; only the named ones are touched, and the bundles they replace
    // (the other routing exercise) are pruned: the two cannot both be in the cluster.
    let replaced: Vec<&str> = manifests::replacements(bundles)
        .into_iter()
        .map(|(_, old)| old)
        .collect();
    let mut union: Vec<String> = cfg
        .lab
        .bundles
        .iter()
        .filter(|b| !replaced.contains(&b.as_str()))
        .cloned()
        .collect();
    union.extend(
        bundles
            .iter()
            .filter(|b| !union.contains(b))
            .cloned()
            .collect::<Vec<_>>(),
    );
    manifests::check_selection(&union).map_err(|why| Error::Usage {
        message: format!("apply: {why}"),
    })?;
    Ok(Scope {
        converge: bundles.to_vec(),
        prune: bundles
            .iter()
            .cloned()
            .chain(replaced.iter().map(|r| r.to_string()))
            .collect(),
    })
}

/// Write the check script and every apply script, as a host would receive them (but for the
/// credentials in URLs, unless `show_secrets`).
fn render_to(cfg: &Config, dir: &Path, show_secrets: bool) -> Result<usize> {
    let specs = steps::specs();
    let renderer = render::Renderer::for_steps(&specs)?;
    let write = |path: &Path, text: &str| -> Result<()> {
        let text = if show_secrets {
            std::borrow::Cow::Borrowed(text)
        } else {
            redact::text(text)
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Write {
                path: parent.to_path_buf(),
                source: source.into(),
            })?;
        }
        std::fs::write(path, text.as_bytes()).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source: source.into(),
        })
    };
    let mut n = 0;
    write(
        &dir.join("check.sh"),
        &renderer.check_script(cfg, &specs, None)?,
    )?;
    n += 1;
    for (i, step) in specs.iter().enumerate() {
        if let Some(script) = renderer.apply_script(cfg, step, None)? {
            write(
                &dir.join("apply").join(format!("{i:02}-{}.sh", step.id)),
                &script,
            )?;
            n += 1;
        }
    }
    // labprov's own manifests as the profile renders them (the Istio samples come from the
    // release on each host and are not known without contacting it).
    for b in manifests::BUNDLES {
        for t in b.own {
            let text = manifests::render_own(cfg, t)?;
            write(&dir.join("manifests").join(t.name), &text)?;
            n += 1;
        }
    }
    write(
        &dir.join("manifests/apply.sh"),
        &renderer.manifests_apply(cfg, "BUNDLE", true)?,
    )?;
    write(
        &dir.join("manifests/prune.sh"),
        &renderer.manifests_apply(cfg, "BUNDLE", false)?,
    )?;
    write(
        &dir.join("manifests/state.sh"),
        &renderer.manifests_state()?,
    )?;
    n += 3;
    // verify's two round trips: what it reads, and every probe as a converged lab needs it.
    let scripts = verify::Scripts::new()?;
    let all: Vec<_> = verify::checks::CHECKS.iter().collect();
    write(&dir.join("verify/gather.sh"), &scripts.gather(cfg, &all)?)?;
    write(
        &dir.join("verify/probe.sh"),
        &scripts.probes(cfg, &verify::example::probes(cfg))?,
    )?;
    n += 2;
    // doctor's one round trip (the controller's clock is filled in when it is sent).
    write(
        &dir.join("doctor.sh"),
        &doctor::Scripts::new()?.script(cfg, 0)?,
    )?;
    n += 1;
    for (name, text) in tunnel::scripts(cfg)? {
        write(&dir.join(name), &text)?;
        n += 1;
    }
    Ok(n)
}
