//! Facts: OS, architecture, resources, sudo. Read-only; a host labprov does not support, or
//! one too small for the profile, is blocked here, before any other step applies (every other
//! step needs facts).
use std::collections::BTreeMap;

use crate::config::Config;
use crate::error::Error;
use crate::manifests::Scope;
use crate::outcome::{CheckState, HostPlan};
use crate::steps::cluster::fit;
use crate::steps::spec::{Spec, no_vars};
use crate::steps::step::Step;
use crate::template::template;

pub struct Facts;

pub static STEP: Facts = Facts;

static SPEC: Spec = Spec {
    id: "facts",
    title: "host facts",
    needs: &[],
    needs_root: false,
    check: template!("steps/facts.check.sh"),
    apply: None,
    libs: &[],
    artifact: None,
    vars: no_vars,
    undo: None,
};

impl Step for Facts {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    /// `labprov apply` also refuses a host labprov does not support.
    fn in_apply(&self) -> bool {
        true
    }

    /// A host `up` would refuse is blocked, with the reason, so `plan` and `status` show it
    /// as `up` refuses it instead of "converged"; `up` then fails here, before any step
    /// installs anything. Without sudo, each step that needs root and has something to change
    /// is blocked with the reason `up` refuses it for. `labprov doctor` judges with the same
    /// functions ([`judge_os`], [`judge_disk`], the cluster's `fit`, `doctor::judge::sudo_refusal`),
    /// so `plan` and `doctor` never disagree.
    fn decide(&self, cfg: &Config, _: &Scope, plan: &mut HostPlan) {
        if let Some(why) = crate::doctor::judge::sudo_refusal(plan) {
            for s in plan.steps.iter_mut().filter(|s| {
                s.state == CheckState::NeedsChange
                    && crate::steps::find(s.step).is_some_and(|st| st.spec().needs_root)
            }) {
                s.state = CheckState::Blocked;
                s.reasons = vec![why.clone()];
                s.error = Some(Error::plan(why.clone()));
            }
        }
        let Some(why) = judge(&plan.facts, cfg)
            .err()
            .or_else(|| blockers(cfg, plan))
        else {
            return;
        };
        if let Some(facts) = plan
            .steps
            .iter_mut()
            .find(|s| s.step == SPEC.id && s.state == CheckState::Converged)
        {
            facts.state = CheckState::Blocked;
            facts.reasons = vec![why.to_string()];
            facts.error = Some(why);
        }
    }
}

/// What else stops `up`, judged by doctor's own functions: a clock far off (when something is
/// to change), and, while no cluster node exists (the check measures them then, with the
/// runtime), a cgroup v1 host (the kubelet refuses it) and a route into minikube's network or
/// the pod pool.
fn blockers(cfg: &Config, plan: &HostPlan) -> Option<Error> {
    use crate::doctor::judge::{Kind, cgroup, routes};
    if let Some(clock) = clock_off(plan) {
        return Some(clock);
    }
    fit::runtime(&plan.facts)?;
    let table = plan.data.get("routes").map(String::as_str).unwrap_or("");
    let found: Vec<String> = [cgroup(plan), routes(cfg, table)]
        .into_iter()
        .filter(|f| f.kind == Kind::Fail)
        .map(|f| format!("{} (fix: {})", f.detail, f.fix))
        .collect();
    (!found.is_empty()).then(|| Error::plan(found.join("; ")))
}

/// A host clock so far off that TLS and apt fail (doctor's `clock` verdict), when something
/// is to be installed or started: the check's `clock_ms` against the controller's clock when
/// it sent the check (`controller_ms`, `rtt_ms`, added by the engine).
fn clock_off(plan: &HostPlan) -> Option<Error> {
    let num = |k: &str| plan.facts.get(k)?.trim().parse::<i64>().ok();
    let (host, sent, rtt) = (num("clock_ms")?, num("controller_ms")?, num("rtt_ms")?);
    if !plan
        .steps
        .iter()
        .any(|s| s.state == CheckState::NeedsChange)
    {
        return None;
    }
    let f = crate::doctor::judge::clock(host - sent, rtt);
    (f.kind == crate::doctor::judge::Kind::Fail)
        .then(|| Error::plan(format!("{} (fix: {})", f.detail, f.fix)))
}

/// The systems labprov supports, as the refusal names them.
pub const SUPPORTED: &str = "Ubuntu 22.04 and 24.04, Debian 12 and 13 (and newer releases)";

/// Free disk (MiB) a new cluster needs where Docker keeps its images (the node image and
/// every image of the lab): minikube's documented "20GB of free disk space"
/// (minikube.sigs.k8s.io/docs/start).
pub const MIN_DISK_FREE_MIB: u64 = 20_000 * 1_000_000 / (1 << 20);

/// Whether a host with these facts can take this profile: its OS and architecture, and, when
/// a cluster is still to be made, its disk and what the cluster asks of its CPUs and memory
/// (the verdict of [`crate::steps::cluster::fit::fit`], the same one the cluster step shows).
/// `plan`, `status` and `up` all decide through it, `doctor` through its parts.
pub fn judge(facts: &BTreeMap<String, String>, cfg: &Config) -> Result<(), Error> {
    judge_os(facts)?;
    // Measured only when no cluster runs: then the node image and the lab's images are still
    // to come.
    if fit::fit(&cfg.cluster, facts)?.is_some() {
        judge_disk(facts)?;
    }
    Ok(())
}

/// Whether labprov supports the host's OS and architecture.
pub fn judge_os(facts: &BTreeMap<String, String>) -> Result<(), Error> {
    let f = |k: &str| facts.get(k).map(String::as_str).unwrap_or("");
    let version = f("os_version");
    let (major, minor) = match version.split_once('.') {
        Some((maj, min)) => (maj.parse::<u32>().ok(), min.parse::<u32>().ok()),
        None => (version.parse::<u32>().ok(), Some(0)),
    };
    let supported = match (f("os"), major, minor) {
        ("ubuntu", Some(maj), Some(min)) => version.contains('.') && (maj, min) >= (22, 4),
        // Debian's VERSION_ID is the major release alone ("12"); testing/sid have none.
        ("debian", Some(maj), _) => maj >= 12,
        _ => false,
    };
    if !supported {
        return Err(Error::plan(format!(
            "unsupported OS {} {}: labprov supports {SUPPORTED}",
            f("os"),
            version
        )));
    }
    if !matches!(f("arch"), "amd64" | "arm64") {
        return Err(Error::plan(format!(
            "unsupported architecture {}: labprov supports amd64 and arm64",
            f("arch")
        )));
    }
    Ok(())
}

/// The free disk for a new cluster's images: of Docker's data root (`docker_free_mib`, the
/// file system of /var/lib/docker or of its nearest existing parent), else of `/`. `Ok` when
/// the check did not say.
pub fn judge_disk(facts: &BTreeMap<String, String>) -> Result<(), Error> {
    let num = |k: &str| facts.get(k).and_then(|v| v.trim().parse::<u64>().ok());
    let (free, where_) = match (num("docker_free_mib"), num("disk_free_mib")) {
        (Some(free), _) => (free, "for Docker's images (/var/lib/docker)"),
        (None, Some(free)) => (free, "on /"),
        (None, None) => return Ok(()),
    };
    if free < MIN_DISK_FREE_MIB {
        return Err(Error::plan(format!(
            "{free} MB free {where_} is less than the {MIN_DISK_FREE_MIB} MB a new cluster \
             needs (minikube's documented 20 GB, for the node image and the lab's images)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let source = std::sync::Arc::new(crate::config::field::Source {
            path: "empty.toml".into(),
            text: String::new(),
        });
        let raw = crate::profile::parse(&source).expect("an empty profile parses");
        Config::from_layers(&[crate::profile::Layer { source, raw }]).unwrap()
    }

    fn host(os: &str, version: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        [("os", os), ("os_version", version), ("arch", "amd64")]
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ubuntu_22_04_on_and_debian_12_on_are_supported_and_the_refusal_names_them() {
        let cfg = config();
        for (os, v) in [
            ("ubuntu", "22.04"),
            ("ubuntu", "24.04"),
            ("debian", "12"),
            ("debian", "13"),
        ] {
            assert!(judge(&host(os, v, &[]), &cfg).is_ok(), "{os} {v}");
        }
        for (os, v) in [
            ("ubuntu", "20.04"),
            ("ubuntu", "24"),
            ("debian", "11"),
            ("debian", "unknown"),
            ("fedora", "40"),
        ] {
            let e = judge(&host(os, v, &[]), &cfg).unwrap_err().to_string();
            assert!(e.contains(&format!("unsupported OS {os} {v}")), "{e}");
            assert!(e.contains(SUPPORTED), "{e}");
        }
    }

    #[test]
    fn a_new_cluster_needs_the_disk_and_the_resources_a_running_one_does_not() {
        let cfg = config();
        let runtime = [
            ("runtime_cpus", "4"),
            ("runtime_mem_mb", "7940"),
            ("runtime_from", "docker"),
        ];
        let roomy = [runtime.as_slice(), &[("disk_free_mib", "30000")]].concat();
        assert!(judge(&host("debian", "12", &roomy), &cfg).is_ok());
        let full = [runtime.as_slice(), &[("disk_free_mib", "9000")]].concat();
        let e = judge(&host("debian", "12", &full), &cfg)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("9000 MB free on / is less than the 19073 MB"),
            "{e}"
        );
        // A running cluster (no runtime facts) is past needing either.
        let running = host("debian", "12", &[("disk_free_mib", "9000")]);
        assert!(judge(&running, &cfg).is_ok());
        // Too little memory for auto: facts refuses with the cluster's reason.
        let small = [
            ("runtime_cpus", "4"),
            ("runtime_mem_mb", "3900"),
            ("runtime_from", "host"),
            ("disk_free_mib", "30000"),
        ];
        let e = judge(&host("ubuntu", "24.04", &small), &cfg)
            .unwrap_err()
            .to_string();
        assert!(e.contains("3900 MB") && e.contains("7680 MB"), "{e}");
    }

    #[test]
    fn a_new_cluster_on_cgroup_v1_or_behind_a_route_into_its_network_is_blocked() {
        let cfg = config();
        let decided = |extra: &[(&str, &str)], routes: &str| {
            let facts = [
                ("os", "ubuntu"),
                ("os_version", "24.04"),
                ("arch", "amd64"),
                ("runtime_cpus", "4"),
                ("runtime_mem_mb", "7940"),
                ("runtime_from", "docker"),
                ("docker_free_mib", "50000"),
            ];
            let mut plan = HostPlan::of(&[facts.as_slice(), extra].concat(), &["facts"]);
            plan.data.insert("routes".into(), routes.into());
            STEP.decide(&cfg, &Scope::profile(&cfg), &mut plan);
            (plan.steps[0].state, plan.steps[0].reasons.join("; "))
        };
        let lan = "default via 10.0.0.1 dev eth0\n10.0.0.0/24 dev eth0 scope link\n";
        let (state, why) = decided(&[("cgroup_fs", "cgroup2fs")], lan);
        assert_eq!(state, CheckState::Converged, "{why}");
        let (state, why) = decided(&[("cgroup_fs", "tmpfs")], lan);
        assert_eq!(state, CheckState::Blocked);
        assert!(why.contains("not cgroup v2"), "{why}");
        let vpn = format!("{lan}192.168.49.0/24 dev tun0 scope link\n");
        let (state, why) = decided(&[("cgroup_fs", "cgroup2fs")], &vpn);
        assert_eq!(state, CheckState::Blocked);
        assert!(why.contains("192.168.49.0/24 (dev tun0)"), "{why}");
        // A clock an hour off blocks a host with something to change, not a converged one.
        let mut plan = HostPlan::of(
            &[
                ("os", "ubuntu"),
                ("os_version", "24.04"),
                ("arch", "amd64"),
                ("sudo", "ok"),
                ("clock_ms", "1800000000000"),
                ("controller_ms", "1800003600000"),
                ("rtt_ms", "300"),
            ],
            &["facts", "docker"],
        );
        let mut converged = plan.clone();
        STEP.decide(&cfg, &Scope::profile(&cfg), &mut converged);
        assert_eq!(converged.steps[0].state, CheckState::Converged);
        plan.steps[1].state = CheckState::NeedsChange;
        STEP.decide(&cfg, &Scope::profile(&cfg), &mut plan);
        assert_eq!(plan.steps[0].state, CheckState::Blocked);
        assert!(
            plan.steps[0].reasons[0].contains("-3600.0 s off"),
            "{:?}",
            plan.steps[0]
        );
        // A cluster that exists (no runtime measured) is past both.
        let mut plan = HostPlan::of(
            &[
                ("os", "ubuntu"),
                ("os_version", "24.04"),
                ("arch", "amd64"),
                ("cgroup_fs", "tmpfs"),
            ],
            &["facts"],
        );
        STEP.decide(&cfg, &Scope::profile(&cfg), &mut plan);
        assert_eq!(plan.steps[0].state, CheckState::Converged);
    }
}
