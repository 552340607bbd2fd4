//! Doctor's verdicts: pure functions from what a host reported (its facts, its routes, its
//! HEAD requests) and the profile to `ok`, `warn` or `fail` with a one-line fix. Where `plan`
//! blocks, the two call the same functions (OS, disk, CPUs and memory are the facts and
//! cluster steps' own, called here; `plan`'s facts step calls [`cgroup`], [`routes`], [`clock`]
//! and [`sudo_refusal`] from here), so `plan` and `doctor` never disagree.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::config::{ArtifactMode, Config};
use crate::outcome::HostPlan;
use crate::steps::cluster::fit;
use crate::steps::cluster::section::Amount;
use crate::steps::facts;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Ok,
    Warn,
    Fail,
}

/// One check's verdict on one host: what was seen, and what to do about it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub kind: Kind,
    pub detail: String,
    /// The one-line fix (empty when `ok`).
    pub fix: String,
}

impl Finding {
    fn ok(check: &'static str, detail: impl Into<String>) -> Finding {
        Finding {
            check,
            kind: Kind::Ok,
            detail: detail.into(),
            fix: String::new(),
        }
    }
    fn warn(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check,
            kind: Kind::Warn,
            detail: detail.into(),
            fix: fix.into(),
        }
    }
    fn fail(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check,
            kind: Kind::Fail,
            detail: detail.into(),
            fix: fix.into(),
        }
    }
}

/// minikube's docker network for the first cluster (pkg/network: the first free private /24
/// from 192.168.49.0; `lab.egress_cidr`'s default): a VM route into it makes minikube pick
/// another /24, and the egress exercise's ipBlock no longer matches the node's network.
pub const MINIKUBE_NETWORK: &str = "192.168.49.0/24";

/// Clock offset that is worth a warning (logs and tokens out of order), and one that breaks
/// TLS and apt (a certificate or Release file "not yet valid" once the clock is behind by more
/// than the time since it was issued, which for a fresh one is minutes).
pub const CLOCK_WARN_MS: i64 = 5_000;
pub const CLOCK_FAIL_MS: i64 = 300_000;

fn fact<'a>(plan: &'a HostPlan, key: &str) -> &'a str {
    plan.facts.get(key).map(String::as_str).unwrap_or("")
}

/// OS and architecture: the facts step's own verdict ([`facts::judge_os`]).
pub fn os(plan: &HostPlan) -> Finding {
    let what = format!(
        "{} {} {}",
        fact(plan, "os"),
        fact(plan, "os_version"),
        fact(plan, "arch")
    );
    match facts::judge_os(&plan.facts) {
        Ok(()) => Finding::ok("os", what),
        Err(e) => Finding::fail(
            "os",
            e.to_string(),
            "use an Ubuntu 22.04 or 24.04, or a Debian 12 or 13 VM, on amd64 or arm64",
        ),
    }
}

/// Resources and disk decide whether a cluster can be made: once its node exists (the check
/// then measures no runtime) there is nothing to judge, its limits were accepted.
fn node_exists(check: &'static str, plan: &HostPlan) -> Finding {
    Finding::ok(
        check,
        format!(
            "the cluster's node exists ({}): only a new cluster is measured",
            fact(plan, "node")
        ),
    )
}

/// The CPUs a new cluster gets against what the runtime reports: the cluster step's own
/// verdict ([`fit::cpus`]), which `plan` blocks on.
pub fn cpus(cfg: &Config, plan: &HostPlan) -> Finding {
    match fit::cpus(&cfg.cluster, &plan.facts) {
        Ok(Some((n, how))) => Finding::ok(
            "cpus",
            format!(
                "cluster.cpus = {}: {n} CPUs for the cluster{}",
                match cfg.cluster.cpus {
                    Amount::Auto => "\"auto\"".to_string(),
                    Amount::Fixed(n) => n.to_string(),
                },
                how.map(|h| format!(" ({h})")).unwrap_or_default()
            ),
        ),
        Ok(None) => node_exists("cpus", plan),
        Err(e) => Finding::fail(
            "cpus",
            e.to_string(),
            "set cluster.cpus = \"auto\", or give the VM more CPUs",
        ),
    }
}

/// The memory a new cluster gets against what the runtime reports (minikube refuses more,
/// RSRC_OVER_ALLOC_MEM): the cluster step's own verdict ([`fit::memory`]).
pub fn memory(cfg: &Config, plan: &HostPlan) -> Finding {
    match fit::memory(&cfg.cluster, &plan.facts) {
        Ok(Some((mb, how))) => Finding::ok(
            "memory",
            format!(
                "cluster.memory = {}: {mb} MB for the cluster{}",
                cfg.cluster.memory_text,
                how.map(|h| format!(" ({h})")).unwrap_or_default()
            ),
        ),
        Ok(None) => node_exists("memory", plan),
        Err(e) => Finding::fail(
            "memory",
            e.to_string(),
            "set cluster.memory = \"auto\", or give the VM more memory",
        ),
    }
}

/// Free disk where Docker keeps its images, for a new cluster: the facts step's own verdict
/// ([`facts::judge_disk`]).
pub fn disk(plan: &HostPlan) -> Finding {
    if fit::runtime(&plan.facts).is_none() {
        return node_exists("disk", plan);
    }
    match facts::judge_disk(&plan.facts) {
        Ok(()) => Finding::ok(
            "disk",
            format!(
                "{} MB free for Docker's images",
                fact(plan, "docker_free_mib")
            ),
        ),
        Err(e) => Finding::fail(
            "disk",
            e.to_string(),
            "grow the VM's disk or free space under /var/lib/docker",
        ),
    }
}

/// cgroup v2: Kubernetes 1.35+ kubelets refuse to start on cgroup v1 (failCgroupV1 defaults
/// to true, kubernetes.io/docs/concepts/architecture/cgroups/). Docker's own answer when it is
/// installed (what the node gets), else the file system at /sys/fs/cgroup.
pub fn cgroup(plan: &HostPlan) -> Finding {
    let docker = fact(plan, "docker_cgroup");
    let fs = fact(plan, "cgroup_fs");
    let v2 = if docker.is_empty() {
        fs == "cgroup2fs"
    } else {
        docker == "2"
    };
    let seen = if docker.is_empty() {
        format!("/sys/fs/cgroup is {fs}")
    } else {
        format!("Docker reports cgroup v{docker}")
    };
    if v2 {
        Finding::ok("cgroup", format!("cgroup v2 ({seen})"))
    } else {
        Finding::fail(
            "cgroup",
            format!("not cgroup v2 ({seen}): the cluster's kubelet will not start"),
            "boot with the unified hierarchy (systemd.unified_cgroup_hierarchy=1), as Ubuntu 22.04+ does by default",
        )
    }
}

/// sudo without a password: every install and the cluster need it (labprov uses `sudo -n`).
pub fn sudo(plan: &HostPlan) -> Finding {
    let user = fact(plan, "user");
    match fact(plan, "sudo") {
        "root" => Finding::ok("sudo", "logged in as root"),
        "ok" => Finding::ok("sudo", format!("{user} has sudo without a password")),
        "password" => Finding::fail(
            "sudo",
            format!("sudo asks {user} for a password: labprov cannot install anything"),
            format!(
                "as root: echo '{user} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/labprov \
                 && chmod 0440 /etc/sudoers.d/labprov"
            ),
        ),
        other => Finding::fail(
            "sudo",
            format!(
                "no sudo for {user} ({})",
                if other.is_empty() { "unknown" } else { other }
            ),
            "install sudo and give the user a NOPASSWD rule",
        ),
    }
}

/// Group docker, when Docker is installed: `up` adds the user itself, so only a warning.
pub fn docker_group(plan: &HostPlan) -> Finding {
    if fact(plan, "docker_installed") != "yes" {
        return Finding::ok(
            "docker-group",
            "Docker is not installed yet (up installs it)",
        );
    }
    let user = fact(plan, "user");
    match (
        fact(plan, "docker_group_session"),
        fact(plan, "docker_group_db"),
    ) {
        (s, _) if s != "0" && !s.is_empty() => {
            Finding::ok("docker-group", format!("{user} is in group docker"))
        }
        (_, d) if d != "0" && !d.is_empty() => Finding::warn(
            "docker-group",
            format!("{user} was added to group docker, but this login predates it"),
            "log in again (labprov reconnects by itself)",
        ),
        _ => Finding::warn(
            "docker-group",
            format!("{user} is not in group docker"),
            "labprov up adds the user (or: sudo usermod -aG docker USER, then log in again)",
        ),
    }
}

/// What a reachability probe is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Downloaded by the host in `remote` mode (push mode carries it from the controller).
    Artifact,
    /// Docker's apt repository and key: the host's apt-get fetches them in either mode.
    AptRepo,
    /// An image registry the cluster pulls from: any HTTP answer means it is reachable.
    Registry,
}

/// One URL a host must reach, as the script probes it.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub index: usize,
    /// The name to resolve (empty for an address).
    pub name: String,
    pub url: String,
    /// The architecture the URL is for (empty: every host).
    pub arch: String,
    #[serde(skip)]
    pub label: String,
    #[serde(skip)]
    pub target: Target,
}

/// What the host answered for one probe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reached {
    /// `ok`, `fail` or `address` (nothing to resolve).
    pub dns: String,
    pub http: u16,
    pub curl_exit: i32,
    pub why: String,
}

/// The `::reach INDEX DNS CODE EXIT WHY64` lines of the script's output.
pub fn parse_reach(stdout: &str) -> BTreeMap<usize, Reached> {
    use base64::Engine;
    let mut out = BTreeMap::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("::reach ") else {
            continue;
        };
        let w: Vec<&str> = rest.split(' ').collect();
        let (Some(i), Some(dns), Some(code), Some(rc)) = (
            w.first().and_then(|i| i.parse().ok()),
            w.get(1),
            w.get(2).and_then(|c| c.parse().ok()),
            w.get(3).and_then(|c| c.parse().ok()),
        ) else {
            continue;
        };
        let why = w
            .get(4)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        out.insert(
            i,
            Reached {
                dns: dns.to_string(),
                http: code,
                curl_exit: rc,
                why,
            },
        );
    }
    out
}

/// Every URL the lab needs from a host: the artifacts (in `remote` mode; one URL per
/// architecture, the script probes its host's), Docker's repository and key, and the image
/// registries.
pub fn probes(cfg: &Config) -> Vec<Probe> {
    let mut list: Vec<(String, String, String, Target)> = Vec::new();
    if cfg.artifacts.mode == ArtifactMode::Remote {
        for a in [
            &cfg.artifacts.minikube,
            &cfg.artifacts.kubectl,
            &cfg.artifacts.istio,
        ] {
            for u in &a.by_arch {
                list.push((
                    a.name.to_string(),
                    u.url.clone(),
                    u.arch.clone(),
                    Target::Artifact,
                ));
            }
        }
    }
    // The script puts the host's release codename in for `{codename}`.
    list.push((
        "docker repository".into(),
        format!(
            "{}/dists/{{codename}}/InRelease",
            cfg.docker.repo_url.trim_end_matches('/')
        ),
        String::new(),
        Target::AptRepo,
    ));
    list.push((
        "docker key".into(),
        cfg.docker.gpg_url.clone(),
        String::new(),
        Target::AptRepo,
    ));
    for r in &cfg.doctor.registries {
        list.push((String::new(), r.clone(), String::new(), Target::Registry));
    }
    list.into_iter()
        .enumerate()
        .map(|(index, (label, url, arch, target))| Probe {
            index,
            name: url::Url::parse(&url)
                .ok()
                .and_then(|u| match u.host() {
                    Some(url::Host::Domain(d)) => Some(d.to_string()),
                    _ => None,
                })
                .unwrap_or_default(),
            url,
            arch,
            label,
            target,
        })
        .collect()
}

/// One probe's verdict.
pub fn reach(probe: &Probe, got: Option<&Reached>) -> Finding {
    let shown = crate::redact::text(&probe.url).into_owned();
    let label = if probe.label.is_empty() {
        String::new()
    } else {
        format!("{}: ", probe.label)
    };
    let check = match probe.target {
        Target::Artifact => "download",
        Target::AptRepo => "apt-repo",
        Target::Registry => "registry",
    };
    let fix_for = |what: &str| match probe.target {
        Target::Artifact => format!(
            "{what}; or set artifacts.mode = \"push\" (the controller downloads and streams it)"
        ),
        Target::AptRepo => {
            format!("{what}; or point docker.repo_url/docker.gpg_url at a mirror the host reaches")
        }
        Target::Registry => format!(
            "{what}; the cluster pulls the lab's images from it (push mode does not carry images)"
        ),
    };
    let Some(r) = got else {
        return Finding::fail(
            check,
            format!("{label}no answer from the probe"),
            fix_for("run doctor again"),
        );
    };
    if r.dns == "fail" {
        return Finding::fail(
            check,
            format!("{label}cannot resolve {} ({shown})", probe.name),
            fix_for("fix the host's DNS (resolvectl status)"),
        );
    }
    let answered = r.http != 0;
    let good = match probe.target {
        Target::Registry => answered,
        _ => (200..400).contains(&r.http),
    };
    if good {
        return Finding::ok(check, format!("{label}HTTP {} ({shown})", r.http));
    }
    let why = if answered {
        format!("HTTP {}", r.http)
    } else if r.why.is_empty() {
        format!("curl exit {}", r.curl_exit)
    } else {
        r.why.clone()
    };
    Finding::fail(
        check,
        format!("{label}{why} ({shown})"),
        fix_for("open the host's way out to it (proxy, firewall)"),
    )
}

fn parse_cidr(s: &str) -> Option<(u32, u32)> {
    let (ip, len) = match s.split_once('/') {
        Some((ip, len)) => (ip, len.parse::<u32>().ok()?),
        None => (s, 32),
    };
    let ip: Ipv4Addr = ip.parse().ok()?;
    if len > 32 {
        return None;
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((u32::from(ip) & mask, mask))
}

fn overlaps(a: (u32, u32), b: (u32, u32)) -> bool {
    let mask = a.1 & b.1;
    a.0 & mask == b.0 & mask
}

/// Routes of the VM (`ip -4 route show table main`) that overlap minikube's docker network or
/// the cluster's pod pool. The default route and Docker's own bridges (minikube's network
/// once it exists, docker0) are not overlaps.
pub fn routes(cfg: &Config, table: &str) -> Finding {
    let nets = [
        ("minikube's network", MINIKUBE_NETWORK.to_string()),
        ("the pod pool", cfg.cluster.pod_cidr.clone()),
    ];
    let mut clashes = Vec::new();
    for line in table.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(dst) = words.first() else { continue };
        let dev = words
            .iter()
            .position(|w| *w == "dev")
            .and_then(|i| words.get(i + 1))
            .copied()
            .unwrap_or("");
        if *dst == "default" || dev.starts_with("br-") || dev == "docker0" {
            continue;
        }
        let Some(route) = parse_cidr(dst) else {
            continue;
        };
        for (what, net) in &nets {
            if parse_cidr(net).is_some_and(|n| overlaps(route, n)) {
                clashes.push(format!("{dst} (dev {dev}) overlaps {what} {net}"));
            }
        }
    }
    if clashes.is_empty() {
        Finding::ok(
            "routes",
            format!(
                "no route overlaps {MINIKUBE_NETWORK} or the pod pool {}",
                cfg.cluster.pod_cidr
            ),
        )
    } else {
        Finding::fail(
            "routes",
            clashes.join("; "),
            "remove or narrow that route (a VPN or second LAN): minikube and the lab's egress exercise use these networks",
        )
    }
}

/// The host's clock against the controller's: `offset_ms` is the host's reading minus the
/// controller's when it sent the script, `rtt_ms` how long the round trip took (the offset is
/// known to within that).
pub fn clock(offset_ms: i64, rtt_ms: i64) -> Finding {
    let off = offset_ms.abs().saturating_sub(rtt_ms.max(0));
    let text = format!(
        "the host's clock is {:+.1} s off the controller's (±{:.1} s)",
        offset_ms as f64 / 1000.0,
        rtt_ms as f64 / 1000.0
    );
    let fix = "enable time sync on the host: sudo timedatectl set-ntp true";
    if off > CLOCK_FAIL_MS {
        Finding::fail(
            "clock",
            format!(
                "{text}: TLS certificates and apt's Release files look not yet valid or expired"
            ),
            fix,
        )
    } else if off > CLOCK_WARN_MS {
        Finding::warn("clock", text, fix)
    } else {
        Finding::ok("clock", text)
    }
}

/// The version pairing (`compat.rs`), as `load_config` judged it: `None` when supported.
pub fn versions(cfg: &Config, unsupported: Option<&str>, allowed: bool) -> Finding {
    let pins = format!(
        "Istio {}, Kubernetes {}, kubectl {}",
        cfg.versions.istio, cfg.cluster.kubernetes_version, cfg.versions.kubectl
    );
    match unsupported {
        None => Finding::ok("versions", format!("{pins} support each other")),
        Some(why) if allowed => Finding::warn(
            "versions",
            why.to_string(),
            "pick a supported pair (--allow-unsupported goes ahead anyway)",
        ),
        Some(why) => Finding::fail(
            "versions",
            why.to_string(),
            "pick a supported pair, or pass --allow-unsupported",
        ),
    }
}

/// The bastion's tolerance for connections at once (sshd's MaxStartups `start:rate:full`,
/// OpenSSH's default 10:30:100), against what a run opens: labprov logs in to the bastion
/// once per run and reaches every target over channels of that one connection.
pub fn bastion(max_startups: Option<&str>, hosts: usize, parallel: usize) -> Finding {
    let Some(ms) = max_startups else {
        return Finding::warn(
            "bastion",
            "the bastion's MaxStartups could not be read (sshd -T and /etc/ssh/sshd_config)",
            "nothing to do for labprov (one connection per run); ask the bastion's admin before other tools fan out",
        );
    };
    let start: usize = ms
        .split(':')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let at_once = hosts.min(parallel);
    let text = format!(
        "MaxStartups {ms}: drops unauthenticated connections past {start} at once; labprov opens 1 \
         per run ({hosts} hosts, {at_once} at a time, as channels of it)"
    );
    if start == 0 {
        Finding::fail(
            "bastion",
            text,
            "the bastion accepts no connection: ask its admin",
        )
    } else {
        Finding::ok("bastion", text)
    }
}

/// Why a step that needs root cannot be applied, when [`sudo`] fails: `plan` blocks such
/// steps with it (those with something to change), as `up` refuses them.
pub fn sudo_refusal(plan: &HostPlan) -> Option<String> {
    if sudo(plan).kind != Kind::Fail {
        return None;
    }
    Some(format!(
        "needs root, but sudo for {} {}: allow it without a password (NOPASSWD) for labprov's user",
        fact(plan, "user"),
        if fact(plan, "sudo") == "password" {
            "asks for a password"
        } else {
            "is not available"
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(facts: &[(&str, &str)]) -> HostPlan {
        HostPlan::of(facts, &[])
    }

    fn cfg() -> Config {
        let source = std::sync::Arc::new(crate::config::field::Source {
            path: "t.toml".into(),
            text: String::new(),
        });
        let raw = crate::profile::parse(&source).unwrap();
        Config::from_layers(&[crate::profile::Layer { source, raw }]).unwrap()
    }

    #[test]
    fn routes_into_minikubes_network_or_the_pod_pool_fail_and_others_pass() {
        let c = cfg();
        let clean = "default via 10.0.0.1 dev eth0\n10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.5\n192.168.49.0/24 dev br-1a2b proto kernel scope link src 192.168.49.1";
        assert_eq!(routes(&c, clean).kind, Kind::Ok);
        let vpn = format!("{clean}\n192.168.0.0/16 via 10.0.0.1 dev tun0");
        let f = routes(&c, &vpn);
        assert_eq!(f.kind, Kind::Fail, "{f:?}");
        assert!(
            f.detail
                .contains("192.168.0.0/16 (dev tun0) overlaps minikube's network")
        );
        let pods = format!("{clean}\n10.244.3.0/24 dev wg0");
        assert!(
            routes(&c, &pods)
                .detail
                .contains("the pod pool 10.244.0.0/16")
        );
    }

    #[test]
    fn the_bastion_is_judged_by_its_max_startups_and_an_unreadable_one_only_warns() {
        let f = bastion(Some("10:30:100"), 30, 16);
        assert_eq!(f.kind, Kind::Ok);
        assert!(
            f.detail.contains("past 10 at once") && f.detail.contains("30 hosts, 16 at a time")
        );
        assert_eq!(bastion(Some("0"), 30, 16).kind, Kind::Fail);
        assert_eq!(bastion(None, 30, 16).kind, Kind::Warn);
    }

    #[test]
    fn docker_group_warns_until_a_new_login_has_it() {
        let no_docker = plan(&[("docker_installed", "no")]);
        assert_eq!(docker_group(&no_docker).kind, Kind::Ok);
        let stale = plan(&[
            ("docker_installed", "yes"),
            ("docker_group_session", "0"),
            ("docker_group_db", "1"),
        ]);
        assert!(docker_group(&stale).fix.contains("log in again"));
        let member = plan(&[("docker_installed", "yes"), ("docker_group_session", "1")]);
        assert_eq!(docker_group(&member).kind, Kind::Ok);
    }

    #[test]
    fn clock_offsets_within_the_round_trip_pass() {
        assert_eq!(clock(900, 1000).kind, Kind::Ok);
        assert_eq!(clock(-7_000, 500).kind, Kind::Warn);
        assert_eq!(clock(3_600_000, 500).kind, Kind::Fail);
    }

    #[test]
    fn sudo_with_a_password_blocks_and_says_how_to_fix_it() {
        let c = cfg();
        let p = plan(&[
            ("sudo", "password"),
            ("user", "student"),
            ("docker_free_mib", "50000"),
            ("runtime_cpus", "8"),
            ("runtime_mem_mb", "16000"),
            ("runtime_from", "docker"),
        ]);
        // Sudo is its own refusal: the resources pass.
        for f in [disk(&p), cpus(&c, &p), memory(&c, &p)] {
            assert_eq!(f.kind, Kind::Ok, "{f:?}");
        }
        assert!(sudo(&p).fix.contains("NOPASSWD"));
        assert!(
            sudo_refusal(&p)
                .unwrap()
                .contains("sudo for student asks for a password")
        );
    }

    #[test]
    fn a_small_disk_and_too_little_memory_fail_with_both_numbers_as_plan_does() {
        let mut c = cfg();
        c.cluster.memory = crate::steps::cluster::section::Amount::Fixed(8192);
        c.cluster.memory_text = "8g".into();
        let new = [
            ("docker_free_mib", "1024"),
            ("runtime_cpus", "4"),
            ("runtime_mem_mb", "7940"),
            ("runtime_from", "docker"),
            ("os", "ubuntu"),
            ("os_version", "24.04"),
            ("arch", "amd64"),
        ];
        let p = plan(&new);
        let d = disk(&p);
        assert_eq!(d.kind, Kind::Fail);
        assert!(
            d.detail.contains("1024 MB")
                && d.detail.contains(&facts::MIN_DISK_FREE_MIB.to_string()),
            "{d:?}"
        );
        let m = memory(&c, &p);
        assert_eq!(m.kind, Kind::Fail);
        assert!(
            m.detail.contains("8192") && m.detail.contains("7940"),
            "{m:?}"
        );
        assert_eq!(cpus(&c, &p).kind, Kind::Ok);
        // plan's facts step refuses the same host, for the first of the same reasons.
        let why = facts::judge(&p.facts, &c).unwrap_err().to_string();
        assert_eq!(why, m.detail);
        // Once the cluster's node exists (the check measures no runtime), nothing is judged.
        let made = plan(&[("docker_free_mib", "1024"), ("node", "running")]);
        assert_eq!(disk(&made).kind, Kind::Ok);
        assert_eq!(memory(&c, &made).kind, Kind::Ok);
        assert!(
            facts::judge(&made.facts, &c).is_err(),
            "no OS facts: refused for that"
        );
    }

    #[test]
    fn an_unreachable_artifact_suggests_push_mode_and_a_registry_needs_only_an_answer() {
        let c = cfg();
        let ps = probes(&c);
        let art = ps.iter().find(|p| p.target == Target::Artifact).unwrap();
        let down = Reached {
            dns: "ok".into(),
            http: 0,
            curl_exit: 7,
            why: "curl: (7) Failed to connect".into(),
        };
        let f = reach(art, Some(&down));
        assert_eq!(f.kind, Kind::Fail);
        assert!(f.fix.contains("artifacts.mode = \"push\""), "{f:?}");
        let reg = ps.iter().find(|p| p.target == Target::Registry).unwrap();
        let unauthorized = Reached {
            dns: "ok".into(),
            http: 401,
            ..Reached::default()
        };
        assert_eq!(reach(reg, Some(&unauthorized)).kind, Kind::Ok);
        let parsed = parse_reach("x\n::reach 3 fail 000 6 Y3VybDogKDYp\n");
        assert_eq!(parsed[&3].why, "curl: (6)");
        assert_eq!(parsed[&3].dns, "fail");
    }
}
