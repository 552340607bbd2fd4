//! Raw profile layers → one validated [`Config`].
//!
//! After this module nothing is left to fail on input: every URL parses, every CIDR is a
//! network, every name is a DNS label, versions look like versions. Defaults are the upstream
//! ones from `shared/upstream-facts.md`. Values that reach shell scripts are still quoted by
//! the templates; validation here is about telling the user early, not about safety.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use toml::Spanned;

use crate::error::{Error, Result};
use crate::profile::{Layer, Source, Sourced};

// The pinned releases (checked 2026-12-01; crate::compat refuses pairs that do not support
// each other, with these sources):
// - minikube v1.39.0 (2026-09-01, its newest release): supports Kubernetes v1.28.0 to v1.37.0,
//   default v1.37.0 (release notes "Add support for Kubernetes v1.36 and v1.37 (default:
//   v1.37.0)"; pkg/minikube/constants/constants.go OldestKubernetesVersion /
//   NewestKubernetesVersion = DefaultKubernetesVersion).
// - Kubernetes v1.37.0: minikube's newest (a newer patch makes minikube ask GitHub first),
//   supported upstream until 2027-10-28 (kubernetes.io/releases/1.37).
// - kubectl v1.37.1 (2026-09-15): the same minor as the cluster; kubectl is supported within
//   one minor of the API server (kubernetes.io/releases/version-skew-policy/#kubectl).
// - Istio 1.31.1: Istio 1.31 supports Kubernetes 1.32 to 1.37, end of life ~Feb 2027
//   (istio.io/latest/docs/releases/supported-releases, from istio/istio.io
//   data/compatibility/supportStatus.yml); 1.30 stops at 1.36 and reaches its end of life
//   about now, 1.29 was due to end on 2026-10-12.
pub const DEFAULT_MINIKUBE: &str = "v1.39.0";
pub const DEFAULT_KUBECTL: &str = "v1.37.1";
pub const DEFAULT_ISTIO: &str = "1.31.1";
pub const DEFAULT_KUBERNETES: &str = "v1.37.0";

/// Architectures a target may report (`dpkg --print-architecture`); URLs are rendered for each.
pub const ARCHES: &[&str] = &["amd64", "arm64"];

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The profile file given on the command line (for messages).
    pub path: PathBuf,
    pub name: String,
    pub ssh: Ssh,
    pub hosts: Vec<Host>,
    pub versions: Versions,
    pub artifacts: Artifacts,
    pub docker: Docker,
    pub cluster: Cluster,
    pub dns: Dns,
    pub istio: Istio,
    pub paths: Paths,
    pub parallel: usize,
    /// Seconds a running remote command may go on after Ctrl-C or SIGTERM before labprov
    /// stops it (and its children) on the host.
    pub grace_period: u64,
    /// Seconds a run waits for another run's lock on a host before that host fails.
    pub lock_timeout: u64,
    pub lab: Lab,
    /// Local port of each `labprov tunnel` service.
    pub tunnel: std::collections::BTreeMap<String, u16>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ssh {
    pub user: Option<String>,
    pub jump: Option<String>,
    pub port: Option<u16>,
    pub config_file: Option<PathBuf>,
    pub identity_file: Option<PathBuf>,
    pub host_key_policy: HostKeyPolicy,
    pub connect_timeout: u64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    Strict,
    AcceptNew,
}

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    /// `None` for the local machine.
    pub address: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
}

impl Host {
    pub fn is_local(&self) -> bool {
        self.address.is_none()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    pub minikube: String,
    pub kubectl: String,
    pub istio: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactMode {
    /// Each host downloads from the URL itself.
    Remote,
    /// The controller downloads once, verifies, and streams to each host.
    Push,
}

#[derive(Debug, Clone, Serialize)]
pub struct Artifacts {
    pub mode: ArtifactMode,
    pub cache_dir: PathBuf,
    pub minikube: Artifact,
    pub kubectl: Artifact,
    pub istio: Artifact,
}

/// One downloadable artifact, with URLs already expanded for each architecture.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    pub name: &'static str,
    pub version: String,
    pub by_arch: Vec<ArchUrl>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchUrl {
    pub arch: String,
    pub url: String,
    /// Where the expected digest comes from.
    pub sha: ShaSource,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum ShaSource {
    /// A hex digest written in the profile.
    Fixed(String),
    /// A URL whose body starts with the hex digest (bare, or `sha256sum` format).
    Url(String),
}

impl Artifact {
    pub fn for_arch(&self, arch: &str) -> Option<&ArchUrl> {
        self.by_arch.iter().find(|a| a.arch == arch)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Docker {
    pub repo_url: String,
    pub gpg_url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    pub driver: String,
    pub cni: String,
    pub cpus: u32,
    /// As minikube takes it (`8g`, `8192mb`).
    pub memory: String,
    /// The same in MiB, to compare with what `minikube profile list` reports.
    pub memory_mib: u64,
    pub kubernetes_version: String,
    pub addons: Vec<String>,
    /// The pod pool in effect (minikube's, for every CNI; not set by the profile): a node
    /// resolver inside it breaks DNS (cilium/cilium#16439).
    pub pod_cidr: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dns {
    pub probe_host: String,
    pub nameserver: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Istio {
    pub profile: String,
    pub injection_namespace: String,
}

/// The lab's manifests: which bundles, and the values a course changes.
#[derive(Debug, Clone, Serialize)]
pub struct Lab {
    pub bundles: Vec<String>,
    pub namespace: String,
    pub bookinfo_namespace: String,
    pub netpol_namespace: String,
    pub legacy_namespace: String,
    pub mesh_namespace: String,
    pub egress_cidr: String,
    pub mtls_mode: String,
    pub hello_node_image: String,
    pub rollout_timeout: u32,
    pub weights: Weights,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Weights {
    pub v1: u32,
    pub v2: u32,
    pub v3: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Paths {
    pub bin_dir: String,
    pub istio_dir: String,
}

/// The first layer (most specific) that sets a value, with its source attached.
fn pick<T: Clone>(
    layers: &[Layer],
    get: impl Fn(&crate::profile::RawProfile) -> Option<&Spanned<T>>,
) -> Option<Sourced<T>> {
    layers.iter().find_map(|l| {
        get(&l.raw).map(|s| Sourced {
            value: s.get_ref().clone(),
            span: s.span(),
            source: l.source.clone(),
        })
    })
}

fn pick_plain<T: Clone>(
    layers: &[Layer],
    get: impl Fn(&crate::profile::RawProfile) -> Option<&T>,
) -> Option<T> {
    layers.iter().find_map(|l| get(&l.raw).cloned())
}

impl Config {
    pub fn from_layers(layers: &[Layer]) -> Result<Config> {
        let top: &Arc<Source> = &layers[0].source;
        fn s(l: &crate::profile::RawProfile) -> Option<&crate::profile::RawSsh> {
            l.ssh.as_ref()
        }

        let host_key_policy = match pick(layers, |r| s(r)?.host_key_policy.as_ref()) {
            None => HostKeyPolicy::AcceptNew,
            Some(v) => match v.value.as_str() {
                "strict" => HostKeyPolicy::Strict,
                "accept-new" => HostKeyPolicy::AcceptNew,
                other => {
                    return Err(v.invalid(
                        "ssh.host_key_policy",
                        format!("`{other}` is not one of `strict`, `accept-new`"),
                    ));
                }
            },
        };
        let user = pick(layers, |r| s(r)?.user.as_ref());
        if let Some(u) = &user {
            check_user(u, "ssh.user")?;
        }
        let jump = pick(layers, |r| s(r)?.jump.as_ref());
        if let Some(j) = &jump {
            check_destination(j, "ssh.jump")?;
        }
        let ssh = Ssh {
            user: user.map(|u| u.value),
            jump: jump.map(|j| j.value),
            port: pick_plain(layers, |r| s(r)?.port.as_ref()),
            config_file: pick_plain(layers, |r| s(r)?.config_file.as_ref()).map(PathBuf::from),
            identity_file: pick_plain(layers, |r| s(r)?.identity_file.as_ref()).map(PathBuf::from),
            host_key_policy,
            connect_timeout: pick_plain(layers, |r| s(r)?.connect_timeout.as_ref()).unwrap_or(15),
        };

        let remote = ssh.user.is_some() || ssh.jump.is_some();
        let hosts = hosts(layers, remote)?;
        if hosts.iter().any(|h| !h.is_local())
            && ssh.user.is_none()
            && let Some(h) = hosts.iter().find(|h| h.user.is_none())
        {
            return Err(Error::ProfileInvalid {
                path: top.path.clone(),
                message: format!(
                    "host `{}` has no user: set `ssh.user` or `user` in its [[hosts]] entry",
                    h.name
                ),
            });
        }

        fn v(r: &crate::profile::RawProfile) -> Option<&crate::profile::RawVersions> {
            r.versions.as_ref()
        }
        let minikube = version(
            pick(layers, |r| v(r)?.minikube.as_ref()),
            DEFAULT_MINIKUBE,
            true,
            "versions.minikube",
        )?;
        let kubectl = version(
            pick(layers, |r| v(r)?.kubectl.as_ref()),
            DEFAULT_KUBECTL,
            true,
            "versions.kubectl",
        )?;
        let istio = version(
            pick(layers, |r| v(r)?.istio.as_ref()),
            DEFAULT_ISTIO,
            false,
            "versions.istio",
        )?;

        fn a(r: &crate::profile::RawProfile) -> Option<&crate::profile::RawArtifacts> {
            r.artifacts.as_ref()
        }
        let mode = match pick(layers, |r| a(r)?.mode.as_ref()) {
            None => ArtifactMode::Remote,
            Some(m) => match m.value.as_str() {
                "remote" => ArtifactMode::Remote,
                "push" => ArtifactMode::Push,
                other => {
                    return Err(m.invalid(
                        "artifacts.mode",
                        format!("`{other}` is not one of `remote`, `push`"),
                    ));
                }
            },
        };
        let cache_dir = pick_plain(layers, |r| a(r)?.cache_dir.as_ref())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                dirs::cache_dir()
                    .unwrap_or_else(std::env::temp_dir)
                    .join("labprov")
            });
        let artifacts = Artifacts {
            mode,
            cache_dir,
            minikube: artifact(
                layers,
                "minikube",
                &minikube,
                "https://github.com/kubernetes/minikube/releases/download/{version}/minikube-linux-{arch}",
                |r| r.minikube.as_ref(),
            )?,
            kubectl: artifact(
                layers,
                "kubectl",
                &kubectl,
                "https://dl.k8s.io/release/{version}/bin/linux/{arch}/kubectl",
                |r| r.kubectl.as_ref(),
            )?,
            istio: artifact(
                layers,
                "istio",
                &istio,
                "https://github.com/istio/istio/releases/download/{version}/istio-{version}-linux-{arch}.tar.gz",
                |r| r.istio.as_ref(),
            )?,
        };

        fn d(r: &crate::profile::RawProfile) -> Option<&crate::profile::RawDocker> {
            r.docker.as_ref()
        }
        let docker = Docker {
            repo_url: url(
                pick(layers, |r| d(r)?.repo_url.as_ref()),
                "https://download.docker.com/linux/ubuntu",
                "docker.repo_url",
            )?,
            gpg_url: url(
                pick(layers, |r| d(r)?.gpg_url.as_ref()),
                "https://download.docker.com/linux/ubuntu/gpg",
                "docker.gpg_url",
            )?,
        };

        fn c(r: &crate::profile::RawProfile) -> Option<&crate::profile::RawCluster> {
            r.cluster.as_ref()
        }
        let driver = one_of(
            pick(layers, |r| c(r)?.driver.as_ref()),
            "docker",
            &["docker"],
            "cluster.driver",
        )?;
        let cni = one_of(
            pick(layers, |r| c(r)?.cni.as_ref()),
            "cilium",
            &["cilium", "calico", "flannel", "kindnet", "bridge", "auto"],
            "cluster.cni",
        )?;
        let cpus = match pick(layers, |r| c(r)?.cpus.as_ref()) {
            None => 4,
            Some(c) if c.value >= 2 => c.value,
            Some(c) => return Err(c.invalid("cluster.cpus", "minikube needs at least 2 CPUs")),
        };
        let (memory, memory_mib) = memory(pick(layers, |r| c(r)?.memory.as_ref()))?;
        let kubernetes_version = version(
            pick(layers, |r| c(r)?.kubernetes_version.as_ref()),
            DEFAULT_KUBERNETES,
            true,
            "cluster.kubernetes_version",
        )?;
        let addons = match layers.iter().find_map(|l| {
            l.raw
                .cluster
                .as_ref()?
                .addons
                .as_ref()
                .map(|a| (a, l.source.clone()))
        }) {
            None => vec!["metrics-server".to_string(), "dashboard".to_string()],
            Some((list, source)) => list
                .iter()
                .map(|a| {
                    let s = Sourced {
                        value: a.get_ref().clone(),
                        span: a.span(),
                        source: source.clone(),
                    };
                    check_label(&s, "cluster.addons").map(|_| s.value)
                })
                .collect::<Result<_>>()?,
        };
        // The pool is minikube's, not the profile's (see crate::compat::MINIKUBE_POD_CIDR).
        // The key stays in the raw schema only so that an old profile hears why, whatever its value.
        if let Some(p) = pick(layers, |r| c(r)?.pod_cidr.as_ref()) {
            return Err(p.invalid("cluster.pod_cidr", crate::compat::pod_cidr_removed()));
        }
        let pod_cidr = crate::compat::MINIKUBE_POD_CIDR.to_string();

        fn n(r: &crate::profile::RawProfile) -> Option<&crate::profile::RawDns> {
            r.dns.as_ref()
        }
        let probe_host = match pick(layers, |r| n(r)?.probe_host.as_ref()) {
            None => "registry.k8s.io".to_string(),
            Some(h) => {
                check_hostname(&h, "dns.probe_host")?;
                h.value
            }
        };
        let nameserver = match pick(layers, |r| n(r)?.nameserver.as_ref()) {
            None => "8.8.8.8".to_string(),
            Some(ns) => ns
                .value
                .parse::<IpAddr>()
                .map(|ip| ip.to_string())
                .map_err(|_| {
                    ns.invalid(
                        "dns.nameserver",
                        format!("`{}` is not an IP address", ns.value),
                    )
                })?,
        };
        if let (Ok(ns), Ok(pool)) = (
            nameserver.parse::<IpAddr>(),
            pod_cidr.parse::<ipnet::IpNet>(),
        ) && pool.contains(&ns)
        {
            let at = pick(layers, |r| n(r)?.nameserver.as_ref());
            let reason = format!(
                "{nameserver} lies inside {pod_cidr}, the pod pool minikube gives the cluster: \
                 pods could not reach it"
            );
            return Err(match at {
                Some(at) => at.invalid("dns.nameserver", reason),
                None => Error::ProfileInvalid {
                    path: top.path.clone(),
                    message: reason,
                },
            });
        }

        fn i(r: &crate::profile::RawProfile) -> Option<&crate::profile::RawIstio> {
            r.istio.as_ref()
        }
        let istio_profile = one_of(
            pick(layers, |r| i(r)?.profile.as_ref()),
            "demo",
            &[
                "demo", "default", "minimal", "ambient", "empty", "preview", "remote",
            ],
            "istio.profile",
        )?;
        let injection_namespace = match pick(layers, |r| i(r)?.injection_namespace.as_ref()) {
            None => "default".to_string(),
            Some(ns) => {
                check_label(&ns, "istio.injection_namespace")?;
                ns.value
            }
        };

        fn p(r: &crate::profile::RawProfile) -> Option<&crate::profile::RawPaths> {
            r.paths.as_ref()
        }
        let bin_dir = abs_path(
            pick(layers, |r| p(r)?.bin_dir.as_ref()),
            "/usr/local/bin",
            "paths.bin_dir",
        )?;
        let istio_dir = abs_path(
            pick(layers, |r| p(r)?.istio_dir.as_ref()),
            "/opt/labprov",
            "paths.istio_dir",
        )?;

        let parallel = match pick(layers, |r| r.run.as_ref()?.parallel.as_ref()) {
            None => 16,
            Some(p) if (1..=512).contains(&p.value) => p.value as usize,
            Some(p) => return Err(p.invalid("run.parallel", "must be between 1 and 512")),
        };
        let grace_period = match pick(layers, |r| r.run.as_ref()?.grace_period.as_ref()) {
            None => 30,
            Some(g) if g.value <= 3600 => u64::from(g.value),
            Some(g) => {
                return Err(g.invalid("run.grace_period", "must be between 0 and 3600 (seconds)"));
            }
        };

        let lock_timeout = match pick(layers, |r| r.run.as_ref()?.lock_timeout.as_ref()) {
            None => 1800,
            Some(t) if (1..=86400).contains(&t.value) => u64::from(t.value),
            Some(t) => {
                return Err(t.invalid("run.lock_timeout", "must be between 1 and 86400 (seconds)"));
            }
        };

        let lab = lab(layers)?;
        // Bookinfo's exercises (routing, mTLS, traces) need its sidecars, and Istio injects
        // them only where the istio step puts the label.
        if lab.bookinfo_namespace != injection_namespace {
            let reason = format!(
                "Bookinfo would run in `{}`, but sidecars are injected only in `{injection_namespace}` \
                 (istio.injection_namespace): set both to the same namespace",
                lab.bookinfo_namespace
            );
            let at_bookinfo = pick(layers, |r| r.lab.as_ref()?.bookinfo_namespace.as_ref());
            let at_injection = pick(layers, |r| i(r)?.injection_namespace.as_ref());
            return Err(match (at_bookinfo, at_injection) {
                (Some(at), _) => at.invalid("lab.bookinfo_namespace", reason),
                (None, Some(at)) => at.invalid("istio.injection_namespace", reason),
                (None, None) => Error::ProfileInvalid {
                    path: top.path.clone(),
                    message: reason,
                },
            });
        }

        Ok(Config {
            path: top.path.clone(),
            name: pick_plain(layers, |r| r.name.as_ref()).unwrap_or_else(|| {
                top.path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "profile".into())
            }),
            ssh,
            hosts,
            versions: Versions {
                minikube,
                kubectl,
                istio,
            },
            artifacts,
            docker,
            cluster: Cluster {
                driver,
                cni,
                cpus,
                memory,
                memory_mib,
                kubernetes_version,
                addons,
                pod_cidr,
            },
            dns: Dns {
                probe_host,
                nameserver,
            },
            istio: Istio {
                profile: istio_profile,
                injection_namespace,
            },
            paths: Paths { bin_dir, istio_dir },
            parallel,
            grace_period,
            lock_timeout,
            lab,
            tunnel: tunnel_ports(layers)?,
        })
    }
}

/// The profile's hosts; none at all means this machine, unless the profile is about SSH
/// (then the hosts come from `--hosts`, and an empty inventory is reported when one is needed).
fn hosts(layers: &[Layer], remote: bool) -> Result<Vec<Host>> {
    let Some(layer) = layers.iter().find(|l| !l.raw.hosts.is_empty()) else {
        if remote {
            return Ok(Vec::new());
        }
        return Ok(vec![Host {
            name: "local".into(),
            address: None,
            user: None,
            port: None,
        }]);
    };
    let src = &layer.source;
    let at = |s: &Spanned<String>| Sourced {
        value: s.get_ref().clone(),
        span: s.span(),
        source: src.clone(),
    };
    let mut out: Vec<Host> = Vec::new();
    for h in &layer.raw.hosts {
        let name = at(&h.name);
        check_label(&name, "hosts.name")?;
        let address = at(&h.address);
        let is_local = address.value == "local";
        if !is_local {
            check_address(&address, "hosts.address")?;
        }
        if out.iter().any(|o| o.name == name.value) {
            return Err(name.invalid(
                "hosts.name",
                format!("host `{}` is listed twice", name.value),
            ));
        }
        if !is_local
            && out
                .iter()
                .any(|o| o.address.as_deref() == Some(address.value.as_str()) && o.port == h.port)
        {
            return Err(address.invalid(
                "hosts.address",
                format!("address `{}` is listed twice", address.value),
            ));
        }
        let user = h.user.as_ref().map(at);
        if let Some(u) = &user {
            check_user(u, "hosts.user")?;
        }
        out.push(Host {
            name: name.value,
            address: (!is_local).then_some(address.value),
            user: user.map(|u| u.value),
            port: h.port,
        });
    }
    Ok(out)
}

fn version(
    v: Option<Sourced<String>>,
    default: &str,
    leading_v: bool,
    field: &str,
) -> Result<String> {
    let Some(v) = v else {
        return Ok(default.to_string());
    };
    let body = if leading_v {
        v.value.strip_prefix('v')
    } else {
        Some(v.value.as_str())
    };
    let ok = body.is_some_and(|b| {
        let parts: Vec<&str> = b.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    });
    if ok {
        Ok(v.value)
    } else {
        let example = if leading_v { "v1.2.3" } else { "1.2.3" };
        Err(v.invalid(
            field,
            format!("`{}` is not a version like `{example}`", v.value),
        ))
    }
}

fn url(v: Option<Sourced<String>>, default: &str, field: &str) -> Result<String> {
    let Some(v) = v else {
        return Ok(default.to_string());
    };
    check_url(&v, &v.value, field)?;
    Ok(v.value)
}

fn check_url(at: &Sourced<String>, text: &str, field: &str) -> Result<()> {
    match url::Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        Ok(u) => Err(at.invalid(
            field,
            format!(
                "`{}`: only http and https URLs are supported, not `{}`",
                at.value,
                u.scheme()
            ),
        )),
        Err(e) => Err(at.invalid(field, format!("`{}` is not a URL ({e})", at.value))),
    }
}

fn artifact(
    layers: &[Layer],
    name: &'static str,
    version: &str,
    default_url: &str,
    get: fn(&crate::profile::RawArtifacts) -> Option<&crate::profile::RawArtifact>,
) -> Result<Artifact> {
    let field = |f: &str| format!("artifacts.{name}.{f}");
    let from = |f: fn(&crate::profile::RawArtifact) -> Option<&Spanned<String>>| {
        layers.iter().find_map(|l| {
            let s = f(get(l.raw.artifacts.as_ref()?)?)?;
            Some(Sourced {
                value: s.get_ref().clone(),
                span: s.span(),
                source: l.source.clone(),
            })
        })
    };
    let url = from(|a| a.url.as_ref());
    let sha = from(|a| a.sha256.as_ref());
    let sha_url = from(|a| a.sha256_url.as_ref());
    if let Some(s) = &sha
        && (s.value.len() != 64 || !s.value.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(s.invalid(&field("sha256"), "expected 64 hex digits"));
    }
    let template = url
        .as_ref()
        .map_or(default_url.to_string(), |u| u.value.clone());
    let mut by_arch = Vec::new();
    for arch in ARCHES {
        let expand = |t: &str| t.replace("{version}", version).replace("{arch}", arch);
        let full = expand(&template);
        if let Some(u) = &url {
            check_url(u, &full, &field("url"))?;
        }
        let sha = match (&sha, &sha_url) {
            (Some(s), _) => ShaSource::Fixed(s.value.to_ascii_lowercase()),
            (None, Some(su)) => {
                let t = expand(&su.value.replace("{url}", &full));
                check_url(su, &t, &field("sha256_url"))?;
                ShaSource::Url(t)
            }
            (None, None) => ShaSource::Url(format!("{full}.sha256")),
        };
        by_arch.push(ArchUrl {
            arch: arch.to_string(),
            url: full,
            sha,
        });
    }
    Ok(Artifact {
        name,
        version: version.to_string(),
        by_arch,
    })
}

fn one_of(
    v: Option<Sourced<String>>,
    default: &str,
    allowed: &[&str],
    field: &str,
) -> Result<String> {
    match v {
        None => Ok(default.to_string()),
        Some(v) if allowed.contains(&v.value.as_str()) => Ok(v.value),
        Some(v) => {
            let list = allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ");
            Err(v.invalid(field, format!("`{}` is not one of {list}", v.value)))
        }
    }
}

fn memory(v: Option<Sourced<String>>) -> Result<(String, u64)> {
    let Some(v) = v else {
        return Ok(("8g".into(), 8192));
    };
    let lower = v.value.to_ascii_lowercase();
    let digits: String = lower.chars().take_while(|c| c.is_ascii_digit()).collect();
    let unit = &lower[digits.len()..];
    let not_a_size = || {
        v.invalid(
            "cluster.memory",
            format!("`{}` is not a size like `8g` or `8192mb`", v.value),
        )
    };
    let factor = match unit {
        "" | "m" | "mb" => 1,
        "g" | "gb" => 1024,
        _ => return Err(not_a_size()),
    };
    if digits.is_empty() {
        return Err(not_a_size());
    }
    // No machine has 2^64 MiB: a number that does not fit is refused, never wrapped round.
    let too_big = || v.invalid("cluster.memory", format!("`{}` is too large", v.value));
    let mib = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(too_big)?;
    if mib < 1800 {
        return Err(v.invalid("cluster.memory", "minikube needs at least 1800 MB"));
    }
    Ok((v.value.clone(), mib))
}

fn abs_path(v: Option<Sourced<String>>, default: &str, field: &str) -> Result<String> {
    match v {
        None => Ok(default.to_string()),
        Some(p) if p.value.starts_with('/') && !p.value.contains("..") && p.value.len() > 1 => {
            Ok(p.value.trim_end_matches('/').to_string())
        }
        Some(p) => Err(p.invalid(field, format!("`{}` must be an absolute path", p.value))),
    }
}

/// RFC 1123 label: what Kubernetes accepts for namespaces and what we accept for host names.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn check_label(v: &Sourced<String>, field: &str) -> Result<()> {
    if is_dns_label(&v.value) {
        Ok(())
    } else {
        Err(v.invalid(
            field,
            format!(
                "`{}` is not a valid name (lowercase letters, digits and '-', at most 63, not starting or ending with '-')",
                v.value
            ),
        ))
    }
}

fn check_hostname(v: &Sourced<String>, field: &str) -> Result<()> {
    let lower = v.value.to_ascii_lowercase();
    if lower.split('.').all(is_dns_label) {
        Ok(())
    } else {
        Err(v.invalid(field, format!("`{}` is not a host name", v.value)))
    }
}

fn check_address(v: &Sourced<String>, field: &str) -> Result<()> {
    if v.value.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    check_hostname(v, field).map_err(|_| {
        v.invalid(
            field,
            format!("`{}` is neither an IP address nor a host name", v.value),
        )
    })
}

fn check_user(v: &Sourced<String>, field: &str) -> Result<()> {
    let ok = !v.value.is_empty()
        && v.value.len() <= 32
        && v.value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !v.value.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(v.invalid(field, format!("`{}` is not a user name", v.value)))
    }
}

/// `user@host[:port]`, as `ssh -J` takes it.
fn check_destination(v: &Sourced<String>, field: &str) -> Result<()> {
    let bad = v.value.is_empty()
        || v.value.starts_with('-')
        || v.value
            .chars()
            .any(|c| c.is_whitespace() || "'\"`$;&|<>\\".contains(c));
    if bad {
        Err(v.invalid(
            field,
            format!("`{}` is not a jump host like `user@host[:port]`", v.value),
        ))
    } else {
        Ok(())
    }
}

fn lab(layers: &[Layer]) -> Result<Lab> {
    fn l(r: &crate::profile::RawProfile) -> Option<&crate::profile::RawLab> {
        r.lab.as_ref()
    }
    let label = |v: Option<Sourced<String>>, default: &str, field: &str| -> Result<String> {
        match v {
            None => Ok(default.to_string()),
            Some(v) => check_label(&v, field).map(|_| v.value),
        }
    };
    let bundles = match layers.iter().find_map(|layer| {
        l(&layer.raw)?
            .bundles
            .as_ref()
            .map(|b| (b, layer.source.clone()))
    }) {
        None => crate::manifests::DEFAULT_BUNDLES
            .iter()
            .map(|b| b.to_string())
            .collect(),
        Some((list, source)) => {
            let items: Vec<Sourced<String>> = list
                .get_ref()
                .iter()
                .map(|b| Sourced {
                    value: b.get_ref().clone(),
                    span: b.span(),
                    source: source.clone(),
                })
                .collect();
            let whole = Sourced {
                value: String::new(),
                span: list.span(),
                source: source.clone(),
            };
            let names: Vec<String> = items.iter().map(|i| i.value.clone()).collect();
            for item in &items {
                if crate::manifests::bundle(&item.value).is_none() {
                    return Err(
                        item.invalid("lab.bundles", crate::manifests::unknown_bundle(&item.value))
                    );
                }
                if names.iter().filter(|n| **n == item.value).count() > 1 {
                    return Err(
                        item.invalid("lab.bundles", format!("`{}` is listed twice", item.value))
                    );
                }
            }
            crate::manifests::check_selection(&names)
                .map_err(|why| whole.invalid("lab.bundles", why.to_string()))?;
            names
        }
    };
    let egress_cidr = match pick(layers, |r| l(r)?.egress_cidr.as_ref()) {
        // The guide's 192.168.1.0/24 is "your host OS LAN", which a CrownLabs VM's cluster
        // never reaches, so step 7 of 3.5 (ping an allowed address) cannot be seen to work.
        // What a pod can always reach outside the cluster is the host of minikube's docker
        // network: minikube creates it as 192.168.49.0/24 (kic/oci/network_create.go,
        // defaultFirstSubnetAddr) with the host at its gateway 192.168.49.1, the address the
        // node calls host.minikube.internal (node/start.go, AddHostAlias). Pinging it is
        // allowed under this policy and answers; anything else outside is dropped. (minikube
        // takes 192.168.58.0/24 and up when .49 is taken: set lab.egress_cidr then.)
        None => "192.168.49.0/24".to_string(),
        Some(c) => c
            .value
            .parse::<ipnet::IpNet>()
            .map(|n| n.to_string())
            .map_err(|e| {
                c.invalid(
                    "lab.egress_cidr",
                    format!("`{}` is not a CIDR ({e})", c.value),
                )
            })?,
    };
    let mtls_mode = one_of(
        pick(layers, |r| l(r)?.mtls_mode.as_ref()),
        "STRICT",
        &["STRICT", "PERMISSIVE", "DISABLE"],
        "lab.mtls_mode",
    )?;
    let hello_node_image = match pick(layers, |r| l(r)?.hello_node_image.as_ref()) {
        None => "registry.k8s.io/e2e-test-images/agnhost:2.39".to_string(),
        Some(i) => {
            let ok = !i.value.is_empty()
                && i.value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "./:-_@".contains(c));
            if !ok {
                return Err(i.invalid(
                    "lab.hello_node_image",
                    format!("`{}` is not an image reference", i.value),
                ));
            }
            i.value
        }
    };
    let rollout_timeout = match pick(layers, |r| l(r)?.rollout_timeout.as_ref()) {
        None => 300,
        Some(t) if (1..=3600).contains(&t.value) => t.value,
        Some(t) => {
            return Err(t.invalid("lab.rollout_timeout", "must be between 1 and 3600 seconds"));
        }
    };
    let weights = match layers.iter().find_map(|layer| {
        l(&layer.raw)?
            .weights
            .as_ref()
            .map(|w| (w, layer.source.clone()))
    }) {
        None => Weights {
            v1: 50,
            v2: 30,
            v3: 20,
        },
        Some((w, source)) => {
            let at = |s: &Spanned<i64>| Sourced {
                value: s.get_ref().to_string(),
                span: s.span(),
                source: source.clone(),
            };
            let raw = w.get_ref();
            for (name, v) in [("v1", &raw.v1), ("v2", &raw.v2), ("v3", &raw.v3)] {
                if !(0..=100).contains(v.get_ref()) {
                    return Err(at(v).invalid(
                        &format!("lab.weights.{name}"),
                        "a weight is between 0 and 100",
                    ));
                }
            }
            let sum = raw.v1.get_ref() + raw.v2.get_ref() + raw.v3.get_ref();
            if sum != 100 {
                let whole = Sourced {
                    value: String::new(),
                    span: w.span(),
                    source,
                };
                return Err(whole.invalid("lab.weights", format!("weights sum to {sum}, not 100")));
            }
            Weights {
                v1: *raw.v1.get_ref() as u32,
                v2: *raw.v2.get_ref() as u32,
                v3: *raw.v3.get_ref() as u32,
            }
        }
    };
    Ok(Lab {
        bundles,
        namespace: label(
            pick(layers, |r| l(r)?.namespace.as_ref()),
            "default",
            "lab.namespace",
        )?,
        bookinfo_namespace: label(
            pick(layers, |r| l(r)?.bookinfo_namespace.as_ref()),
            "default",
            "lab.bookinfo_namespace",
        )?,
        netpol_namespace: label(
            pick(layers, |r| l(r)?.netpol_namespace.as_ref()),
            "network-policy-demo",
            "lab.netpol_namespace",
        )?,
        legacy_namespace: label(
            pick(layers, |r| l(r)?.legacy_namespace.as_ref()),
            "legacy",
            "lab.legacy_namespace",
        )?,
        mesh_namespace: label(
            pick(layers, |r| l(r)?.mesh_namespace.as_ref()),
            "istio-system",
            "lab.mesh_namespace",
        )?,
        egress_cidr,
        mtls_mode,
        hello_node_image,
        rollout_timeout,
        weights,
    })
}

/// The profile key of a tunnel service's local port.
pub fn tunnel_key(service: &str) -> String {
    format!("tunnel.{}", service.replace('-', "_"))
}

fn tunnel_ports(layers: &[Layer]) -> Result<std::collections::BTreeMap<String, u16>> {
    fn t(r: &crate::profile::RawProfile) -> Option<&crate::profile::RawTunnel> {
        r.tunnel.as_ref()
    }
    type PortOf = fn(&crate::profile::RawTunnel) -> Option<&Spanned<u16>>;
    // Service name (its key in the profile has `_` for `-`), default port, the value.
    let fields: [(&str, u16, PortOf); 8] = [
        ("dashboard", 8001, |r| r.dashboard.as_ref()),
        ("kiali", 20001, |r| r.kiali.as_ref()),
        ("grafana", 3000, |r| r.grafana.as_ref()),
        ("jaeger", 16686, |r| r.jaeger.as_ref()),
        ("prometheus", 9090, |r| r.prometheus.as_ref()),
        ("gateway", 8080, |r| r.gateway.as_ref()),
        ("ssh", 2222, |r| r.ssh.as_ref()),
        // Guide 2.3: `kubectl port-forward service/hello-node 7080:8080`.
        ("hello-node", 7080, |r| r.hello_node.as_ref()),
    ];
    let mut ports = std::collections::BTreeMap::new();
    let mut used: Vec<(u16, &str)> = Vec::new();
    for (name, default, get) in fields {
        let port = match pick(layers, |r| get(t(r)?)) {
            None => default,
            Some(p) if p.value == 0 => {
                return Err(p.invalid(&tunnel_key(name), "port 0 is not a port"));
            }
            Some(p) => {
                if let Some((_, other)) = used.iter().find(|(u, _)| *u == p.value) {
                    return Err(p.invalid(
                        &tunnel_key(name),
                        format!("port {} is also the port of {other}", p.value),
                    ));
                }
                p.value
            }
        };
        used.push((port, name));
        ports.insert(name.to_string(), port);
    }
    Ok(ports)
}
