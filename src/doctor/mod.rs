//! `labprov doctor`: what would make `up` fail ten minutes in, found before it starts.
//!
//! Per host, one round trip: the facts step's own check (so OS, CPUs, memory, disk and sudo
//! are measured as `plan` measures them) followed by `templates/doctor/doctor.sh` (cgroups,
//! Docker and its group, the routes, the clock, and a DNS lookup and an HTTPS HEAD request to
//! every URL the lab needs from the host). [`judge`] turns the answers into `ok`, `warn` or
//! `fail` verdicts with a one-line fix; where `plan` blocks (OS, disk, CPUs, memory, cgroup,
//! routes, clock, sudo) it calls the same functions. Only the reachability of downloads is
//! doctor's alone: `up` waits for a mirror that is down and retries. For a batch behind a jump host, one command on the run's existing
//! connection to it reads its sshd's MaxStartups. Read-only everywhere. [`crate::report`]
//! prints; [`crate::run`] decides the exit code.

pub mod judge;
pub mod section;

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tera::{Context, Tera};

use crate::config::{Config, Host};
use crate::error::{Error, Result};
use crate::interrupt::Stop;
use crate::render::{template_error, tidy};
use crate::report::Report;
use crate::steps::step::parse_checks;
use crate::template::Template;
use crate::transport::{Bastion, Transport};
pub use judge::{Finding, Kind};

const DOCTOR: Template = crate::template::template!("doctor/doctor.sh");
const PRELUDE: Template = crate::template::template!("prelude.sh");
const CHECK_LIB: Template = crate::template::template!("steps/check.lib.sh");

/// The bastion's sshd settings, read on the run's own connection to it: `sshd -T` when the
/// login may run it (it needs the host keys, so usually root only), else the first
/// MaxStartups of the drop-ins and the main config (sshd keeps a keyword's first value; Ubuntu
/// includes `sshd_config.d/*.conf` at the top), else OpenSSH's default when the config is
/// readable and does not set it; nothing when none of that can be read.
const BASTION_SCRIPT: &str = r#"ms=$(sshd -T 2>/dev/null | awk '$1 == "maxstartups" {print $2; exit}')
if [ -z "$ms" ]; then
  ms=$(cat /etc/ssh/sshd_config.d/*.conf /etc/ssh/sshd_config 2>/dev/null |
    awk 'tolower($1) == "maxstartups" {print $2; exit}')
fi
if [ -z "$ms" ] && [ -r /etc/ssh/sshd_config ]; then ms=10:30:100; fi
printf '%s\n' "$ms""#;

/// One check's verdict on one host.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub host: String,
    pub check: &'static str,
    pub kind: Kind,
    pub detail: String,
    pub fix: String,
}

impl Verdict {
    fn of(host: &str, f: Finding) -> Verdict {
        Verdict {
            host: host.to_string(),
            check: f.check,
            kind: f.kind,
            detail: f.detail,
            fix: f.fix,
        }
    }
}

/// What a run of doctor judges apart from the hosts: the version pairing (`compat.rs`, as
/// `load_config` found it) and whether `--allow-unsupported` was given.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub unsupported: Option<String>,
    pub allow_unsupported: bool,
}

/// The per-host script: the facts check, then doctor's probes, with the controller's clock.
pub struct Scripts {
    tera: Tera,
}

impl Scripts {
    pub fn new() -> Result<Scripts> {
        let mut tera = Tera::default();
        let mut all = vec![DOCTOR, PRELUDE, CHECK_LIB];
        all.extend(facts_spec().templates());
        tera.add_raw_templates(all.iter().map(|t| (t.name, t.text)))
            .map_err(|e| template_error("doctor", e))?;
        tera.autoescape_on(vec![]);
        tera.register_filter("q", crate::render::quote);
        Ok(Scripts { tera })
    }

    /// The script of a host, with the controller's time `now_ms`.
    pub fn script(&self, cfg: &Config, now_ms: u128) -> Result<String> {
        let facts = facts_spec().check.name;
        let mut ctx = Context::new();
        ctx.insert("cfg", cfg);
        let body = self
            .tera
            .render(facts, &ctx)
            .map_err(|e| template_error(facts, e))?;
        ctx.insert("facts", body.trim_end());
        ctx.insert("now_ms", &now_ms.to_string());
        ctx.insert("reach", &judge::probes(cfg));
        let script = self
            .tera
            .render(DOCTOR.name, &ctx)
            .map_err(|e| template_error(DOCTOR.name, e))?;
        Ok(tidy(&script))
    }
}

/// The facts step's check, which doctor runs first, as `plan` does.
fn facts_spec() -> &'static crate::steps::Spec {
    use crate::steps::Step;
    crate::steps::facts::STEP.spec()
}

struct Shared {
    cfg: Config,
    scripts: Scripts,
    profile: Profile,
    report: Arc<Report>,
    bastion: Option<Bastion>,
    stop: Stop,
}

/// The name the bastion's verdict is reported under.
pub const JUMP: &str = "jump-host";

/// Examine every host, `cfg.run.parallel` at a time; per host, whether nothing failed. For
/// more than one host behind a jump host, the jump host's verdict comes first (its own entry,
/// [`JUMP`], in the returned list's first place).
pub async fn run(
    cfg: Config,
    hosts: Vec<Host>,
    profile: Profile,
    report: Arc<Report>,
    stop: Stop,
) -> Result<Vec<bool>> {
    let scripts = Scripts::new()?;
    // Render once now, so a template problem stops the run before any host is contacted.
    scripts.script(&cfg, crate::outcome::now_ms())?;
    let mut results = Vec::new();
    let bastion = match crate::fleet::bastion(&cfg, &hosts).await {
        Ok(b) => b,
        Err(e) => {
            for h in &hosts {
                report.doctor(&Verdict {
                    host: h.name.clone(),
                    check: "connect",
                    kind: Kind::Fail,
                    detail: e.to_string(),
                    fix: "check `ssh -J JUMP USER@HOST true` by hand".into(),
                });
            }
            return Ok(hosts.iter().map(|_| false).collect());
        }
    };
    if let Some(b) = &bastion
        && hosts.len() > 1
    {
        let ms = b.read(BASTION_SCRIPT).await;
        let ms = ms.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let f = judge::bastion(ms, hosts.len(), cfg.run.parallel);
        let ok = f.kind != Kind::Fail;
        report.doctor(&Verdict::of(JUMP, f));
        results.push(ok);
    }
    let parallel = cfg.run.parallel;
    let shared = Arc::new(Shared {
        cfg,
        scripts,
        profile,
        report,
        bastion,
        stop,
    });
    let job = |host: Host| {
        let shared = shared.clone();
        async move {
            let ok = !shared.stop.is_set() && examine(&shared, &host).await;
            shared.report.host_done(&host.name);
            ok
        }
    };
    let panicked = |name: &str, why: String| {
        shared.report.host_done(name);
        shared.report.doctor(&Verdict {
            host: name.to_string(),
            check: "host",
            kind: Kind::Fail,
            detail: format!("internal error: {why}; please report it"),
            fix: String::new(),
        });
        false
    };
    let per_host = crate::fleet::fan_out(hosts, parallel, job, panicked).await;
    if let Some(b) = Arc::into_inner(shared).and_then(|s| s.bastion) {
        b.close().await;
    }
    results.extend(per_host);
    Ok(results)
}

/// One host: connect, one round trip, every verdict. Whether none failed.
async fn examine(sh: &Shared, host: &Host) -> bool {
    let report = &sh.report;
    let say = |f: Finding| {
        let ok = f.kind != Kind::Fail;
        report.doctor(&Verdict::of(&host.name, f));
        ok
    };
    let unreachable = |e: Error| Finding {
        check: "connect",
        kind: Kind::Fail,
        detail: e.to_string(),
        fix: "check that the host is up and `ssh` to it works by hand".into(),
    };
    report.phase(&host.name, "connecting");
    let transport =
        match Transport::connect(&sh.cfg, host, sh.bastion.as_ref(), sh.stop.clone()).await {
            Ok(t) => t,
            Err(e) => return say(unreachable(e)),
        };
    report.phase(&host.name, "examining");
    // Rendered at the last moment: it carries the controller's clock.
    let script = match sh.scripts.script(&sh.cfg, crate::outcome::now_ms()) {
        Ok(s) => s,
        Err(e) => {
            transport.close().await;
            return say(Finding {
                check: "host",
                kind: Kind::Fail,
                detail: format!("internal error: {e}"),
                fix: String::new(),
            });
        }
    };
    let started = Instant::now();
    let out = transport.run(&script, None).await;
    let rtt = started.elapsed().as_millis() as i64;
    transport.close().await;
    let out = match out {
        Ok(o) => o,
        Err(Error::Interrupted) => return false,
        Err(e) => return say(unreachable(e)),
    };
    let plan = parse_checks(&host.name, &out, &[facts_spec()]);
    let fact = |k: &str| plan.facts.get(k).cloned().unwrap_or_default();
    let mut ok = true;
    let cfg = &sh.cfg;
    ok &= say(judge::os(&plan));
    ok &= say(judge::cpus(cfg, &plan));
    ok &= say(judge::memory(cfg, &plan));
    ok &= say(judge::disk(&plan));
    ok &= say(judge::cgroup(&plan));
    ok &= say(judge::sudo(&plan));
    ok &= say(judge::docker_group(&plan));
    let reached = judge::parse_reach(&out.stdout);
    let arch = fact("arch");
    for mut p in judge::probes(cfg)
        .into_iter()
        .filter(|p| p.arch.is_empty() || p.arch == arch)
    {
        // As the script probed it.
        p.url = p.url.replace("{codename}", &fact("codename"));
        ok &= say(judge::reach(&p, reached.get(&p.index)));
    }
    ok &= say(judge::routes(
        cfg,
        plan.data.get("routes").map(String::as_str).unwrap_or(""),
    ));
    match (
        fact("clock_ms").parse::<i64>(),
        fact("controller_ms").parse::<i64>(),
    ) {
        (Ok(host_ms), Ok(ctl_ms)) => ok &= say(judge::clock(host_ms - ctl_ms, rtt)),
        _ => {
            ok &= say(Finding {
                check: "clock",
                kind: Kind::Warn,
                detail: "the host did not report its clock".into(),
                fix: "check `date` on the host".into(),
            })
        }
    }
    ok &= say(judge::versions(
        cfg,
        sh.profile.unsupported.as_deref(),
        sh.profile.allow_unsupported,
    ));
    ok
}
