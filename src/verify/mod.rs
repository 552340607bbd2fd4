//! `labprov verify`: prove that the lab works, check by check, on every selected host.
//!
//! Per host, over its one SSH connection: a first round trip reads what the selected checks
//! need (`docker info`, `minikube status`, the node's DNS, the cluster's objects in two
//! batched `kubectl get`s); the controller decides every check it can from that, and which
//! probes the others need ([`judge::plan`]); a second round trip creates verify's probe
//! pods, runs every probe from pods and deletes the pods ([`judge::judge`] decides from the
//! answers). Checks decide from behaviour, never by comparing with labprov's own YAML.
//! [`crate::report`] prints; [`crate::run`] decides the exit code.

pub mod checks;
pub mod cluster;
pub mod example;
pub mod judge;
pub mod stats;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};
use tera::{Context, Tera};

use crate::config::{Config, Host};
use crate::error::{Error, Result};
use crate::interrupt::Stop;
use crate::render::{template_error, tidy};
use crate::report::Report;
use crate::template::Template;
use crate::transport::{Bastion, Transport};
use checks::{CHECKS, Check, Needs};
use judge::{Image, Kind, Plan, Pod, Probe};

pub use judge::Kind as VerdictKind;

const GATHER: Template = crate::template::template!("verify/gather.sh");
const PROBE: Template = crate::template::template!("verify/probe.sh");

/// agnhost, the image hello-node runs (guide 2.3): the lab already pulled it.
const AGNHOST: &str = "registry.k8s.io/e2e-test-images/agnhost:2.39";
/// Istio's curl sample (`samples/curl/curl.yaml`): its image and command.
const CURL: &str = "curlimages/curl";

/// One check's result on one host.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub host: String,
    pub check: &'static str,
    pub section: &'static str,
    pub kind: Kind,
    /// The evidence of a pass or fail, the reason of a skip.
    pub detail: String,
    pub elapsed_ms: u128,
}

/// The scripts of `verify`, from `templates/verify/`.
pub struct Scripts {
    tera: Tera,
}

impl Scripts {
    pub fn new() -> Result<Scripts> {
        let mut tera = Tera::default();
        let mut all = vec![GATHER, PROBE];
        all.extend(CHECKS.iter().filter_map(|c| c.probe));
        tera.add_raw_templates(all.iter().map(|t| (t.name, t.text)))
            .map_err(|e| template_error("verify", e))?;
        tera.autoescape_on(vec![]);
        tera.register_filter("q", crate::render::quote);
        Ok(Scripts { tera })
    }

    fn render(&self, name: &str, ctx: &Context) -> Result<String> {
        self.tera
            .render(name, ctx)
            .map_err(|e| template_error(name, e))
    }

    /// The first round trip: what `selected` reads.
    pub fn gather(&self, cfg: &Config, selected: &[&Check]) -> Result<String> {
        let needs = |n: Needs| selected.iter().any(|c| c.needs == n);
        let mut ctx = Context::new();
        ctx.insert("bin_dir", &cfg.paths.bin_dir);
        ctx.insert("probe_host", &cfg.dns.probe_host);
        ctx.insert("docker", &needs(Needs::Docker));
        ctx.insert("minikube", &needs(Needs::Minikube));
        ctx.insert("node_dns", &needs(Needs::NodeDns));
        // minikube-cilium reads Cilium's DaemonSet too.
        ctx.insert(
            "objects",
            &(needs(Needs::Objects) || needs(Needs::Minikube)),
        );
        self.render(GATHER.name, &ctx).map(|s| tidy(&s))
    }

    /// The second round trip: the probes, with the pods they run from.
    pub fn probes(&self, cfg: &Config, probes: &[Probe]) -> Result<String> {
        let mut pods: Vec<Pod> = Vec::new();
        for p in probes {
            for pod in &p.pods {
                if !pods
                    .iter()
                    .any(|q| q.namespace == pod.namespace && q.name == pod.name)
                {
                    pods.push(pod.clone());
                }
            }
        }
        let mut namespaces: Vec<String> = pods.iter().map(|p| p.namespace.clone()).collect();
        namespaces.sort();
        namespaces.dedup();
        let own = namespaces.iter().any(|n| n == judge::VERIFY_NS);
        let mut bodies = Vec::new();
        for p in probes {
            let Some(t) = p.check.probe else { continue };
            let mut ctx = Context::new();
            ctx.insert("p", &p.vars);
            bodies
                .push(json!({"name": p.check.name, "body": self.render(t.name, &ctx)?.trim_end()}));
        }
        let mut ctx = Context::new();
        ctx.insert("bin_dir", &cfg.paths.bin_dir);
        ctx.insert("pods", &!pods.is_empty());
        ctx.insert("namespaces", &namespaces);
        let mut stale = vec![
            judge::VERIFY_NS.to_string(),
            cfg.lab.netpol_namespace.clone(),
            cfg.lab.legacy_namespace.clone(),
        ];
        stale.sort();
        stale.dedup();
        ctx.insert("stale_namespaces", &stale);
        ctx.insert("own_namespace", &own);
        ctx.insert("manifest", &manifest(cfg, &pods, own).to_string());
        ctx.insert("checks", &bodies);
        self.render(PROBE.name, &ctx).map(|s| tidy(&s))
    }
}

/// The probe pods (and verify's namespace, and a Service in front of its server) as one
/// List for `kubectl apply -f -` (JSON is YAML).
fn manifest(cfg: &Config, pods: &[Pod], own: bool) -> Value {
    let managed = json!({cluster::MANAGED.0: cluster::MANAGED.1});
    let agnhost = if cfg.lab.hello_node_image.contains("/agnhost:") {
        cfg.lab.hello_node_image.as_str()
    } else {
        AGNHOST
    };
    let mut items = Vec::new();
    if own {
        items.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": judge::VERIFY_NS, "labels": managed}}));
    }
    for pod in pods {
        let mut labels = pod.labels.clone();
        labels.insert("labprov.io/probe".into(), pod.name.into());
        let container = match pod.image {
            Image::Agnhost => json!({"name": "probe", "image": agnhost,
                "args": ["netexec", "--http-port=8080"],
                "ports": [{"containerPort": 8080}]}),
            Image::Curl => json!({"name": "probe", "image": CURL,
                "command": ["/bin/sleep", "infinity"]}),
        };
        items.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod.name, "namespace": pod.namespace, "labels": labels},
            "spec": {"containers": [container], "terminationGracePeriodSeconds": 1}}));
        if pod.name == "labprov-server" {
            items.push(json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": pod.name, "namespace": pod.namespace, "labels": managed},
                "spec": {"selector": {"labprov.io/probe": pod.name},
                         "ports": [{"port": 8080, "targetPort": 8080, "protocol": "TCP"}]}}));
        }
    }
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

struct Shared {
    cfg: Config,
    scripts: Scripts,
    gather: String,
    selected: Vec<&'static Check>,
    report: Arc<Report>,
    bastion: Option<Bastion>,
    stop: Stop,
}

/// Verify every host, `cfg.parallel` at a time; per host, whether every check passed or
/// was skipped.
pub async fn run(
    cfg: Config,
    hosts: Vec<Host>,
    selected: Vec<&'static Check>,
    report: Arc<Report>,
    stop: Stop,
) -> Result<Vec<bool>> {
    let scripts = Scripts::new()?;
    let gather = scripts.gather(&cfg, &selected)?;
    let bastion = match crate::fleet::bastion(&cfg, &hosts).await {
        Ok(b) => b,
        Err(e) => {
            for h in &hosts {
                report.verdict(&connect_failure(&h.name, &e));
            }
            return Ok(hosts.iter().map(|_| false).collect());
        }
    };
    let parallel = cfg.run.parallel;
    let shared = Arc::new(Shared {
        cfg,
        scripts,
        gather,
        selected,
        report,
        bastion,
        stop,
    });
    let job = |host: Host| {
        let shared = shared.clone();
        async move {
            let verdicts = if shared.stop.is_set() {
                interrupted(&shared, &host.name, &[])
            } else {
                verify_host(&shared, &host).await
            };
            shared.report.host_done(&host.name);
            verdicts
                .iter()
                .all(|k| *k != Kind::Fail && *k != Kind::Interrupted)
        }
    };
    let panicked = |name: &str, why: String| {
        shared.report.host_done(name);
        shared.report.verdict(&Verdict {
            host: name.to_string(),
            check: "host",
            section: "",
            kind: Kind::Fail,
            detail: format!("internal error: {why}; please report it"),
            elapsed_ms: 0,
        });
        false
    };
    let results = crate::fleet::fan_out(hosts, parallel, job, panicked).await;
    if let Some(b) = Arc::into_inner(shared).and_then(|s| s.bastion) {
        b.close().await;
    }
    Ok(results)
}

fn connect_failure(host: &str, e: &Error) -> Verdict {
    Verdict {
        host: host.to_string(),
        check: "connect",
        section: "",
        kind: Kind::Fail,
        detail: e.to_string(),
        elapsed_ms: 0,
    }
}

/// Every selected check not in `done` is reported interrupted.
fn interrupted(sh: &Shared, host: &str, done: &[&str]) -> Vec<Kind> {
    let mut kinds = Vec::new();
    for c in sh.selected.iter().filter(|c| !done.contains(&c.name)) {
        sh.report.verdict(&Verdict {
            host: host.to_string(),
            check: c.name,
            section: c.section,
            kind: Kind::Interrupted,
            detail: "interrupted: not finished".into(),
            elapsed_ms: 0,
        });
        kinds.push(Kind::Interrupted);
    }
    kinds
}

async fn verify_host(sh: &Shared, host: &Host) -> Vec<Kind> {
    let report = &sh.report;
    report.phase(&host.name, "connecting");
    let transport =
        match Transport::connect(&sh.cfg, host, sh.bastion.as_ref(), sh.stop.clone()).await {
            Ok(t) => t,
            Err(_) if sh.stop.is_set() => return interrupted(sh, &host.name, &[]),
            Err(e) => {
                report.verdict(&connect_failure(&host.name, &e));
                return vec![Kind::Fail];
            }
        };
    let kinds = verify_connected(sh, host, &transport).await;
    transport.close().await;
    kinds
}

async fn verify_connected(sh: &Shared, host: &Host, transport: &Transport) -> Vec<Kind> {
    let report = &sh.report;
    let mut kinds = Vec::new();
    let mut done: Vec<&str> = Vec::new();
    let mut say = |check: &'static Check, kind: Kind, detail: String, ms: u128| {
        report.verdict(&Verdict {
            host: host.name.clone(),
            check: check.name,
            section: check.section,
            kind,
            detail,
            elapsed_ms: ms,
        });
        kinds.push(kind);
        done.push(check.name);
    };
    report.phase(&host.name, "reading the cluster");
    let started = Instant::now();
    let gathered = match transport.run(&sh.gather, None).await {
        Ok(out) => judge::Gather::parse(&out.stdout),
        Err(Error::Interrupted) => return interrupted(sh, &host.name, &[]),
        Err(e) => {
            report.verdict(&connect_failure(&host.name, &e));
            return vec![Kind::Fail];
        }
    };
    let read_ms = started.elapsed().as_millis();
    let mut probes = Vec::new();
    for check in &sh.selected {
        match judge::plan(&sh.cfg, check, &gathered) {
            Plan::Done(kind, detail) => say(check, kind, detail, read_ms),
            Plan::Probe(p) => probes.push(p),
        }
    }
    if probes.is_empty() {
        return kinds;
    }
    let script = match sh.scripts.probes(&sh.cfg, &probes) {
        Ok(s) => s,
        Err(e) => {
            for p in &probes {
                say(p.check, Kind::Fail, format!("internal error: {e}"), 0);
            }
            return kinds;
        }
    };
    report.phase(&host.name, "probing from pods");
    let out = match transport.run(&script, None).await {
        Ok(out) => out,
        Err(Error::Interrupted) => {
            let mut rest = interrupted(sh, &host.name, &done);
            kinds.append(&mut rest);
            return kinds;
        }
        Err(e) => {
            for p in &probes {
                say(
                    p.check,
                    Kind::Fail,
                    format!("the probes did not run: {e}"),
                    0,
                );
            }
            return kinds;
        }
    };
    let answers = judge::answers(&out.stdout, "::probe", 2);
    let took: BTreeMap<String, u128> = out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("::took ")?.split(' ');
            Some((w.next()?.to_string(), w.next()?.parse().ok()?))
        })
        .collect();
    let pods_failed = answers.get(&vec!["_".to_string(), "pods".to_string()]);
    for p in &probes {
        if let Some(a) = pods_failed {
            say(
                p.check,
                Kind::Fail,
                format!(
                    "verify's probe pods did not start (exit {}): {}",
                    a.code,
                    a.why()
                ),
                0,
            );
            continue;
        }
        let mine: BTreeMap<String, judge::Answer> = answers
            .iter()
            .filter(|(k, _)| k[0] == p.check.name)
            .map(|(k, a)| (k[1].clone(), a.clone()))
            .collect();
        let (kind, detail) = if mine.is_empty() && !took.contains_key(p.check.name) {
            if sh.stop.is_set() {
                (Kind::Interrupted, "interrupted: not finished".to_string())
            } else {
                (
                    Kind::Fail,
                    format!(
                        "the probe script ended before this check (exit {}): {}",
                        out.code,
                        crate::error::tail(&out.stderr, 3)
                    ),
                )
            }
        } else {
            judge::judge(p, &mine)
        };
        say(
            p.check,
            kind,
            detail,
            took.get(p.check.name).copied().unwrap_or_default(),
        );
    }
    kinds
}

/// The checks as `verify --list` shows them.
pub fn list() -> Vec<(&'static str, &'static str, &'static str)> {
    CHECKS.iter().map(|c| (c.name, c.section, c.what)).collect()
}
