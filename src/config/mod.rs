//! Raw profile layers → one validated [`Config`], section by section.
//!
//! After this module nothing is left to fail on input: every URL parses, every CIDR is a
//! network, every name is a DNS label, versions look like versions. Each section states its
//! defaults once, in code, next to its validation: the sections about how labprov runs are
//! here (`ssh`, `hosts`, `run`, `paths`, `artifacts`, `tunnel`), the sections a step uses are
//! in that step's folder (`steps/<step>/section.rs`), `[doctor]` in `doctor/section.rs`, and
//! [`field`] holds what they share.
//! This module only composes them and checks what spans two sections. Values that reach
//! shell scripts are still quoted by the templates; validation here is about telling the user
//! early, not about safety.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::profile::{Layer, RawProfile};
use crate::steps::cluster::section as cluster;
use crate::steps::cluster::section::Cluster;
use crate::steps::dns::section as dns;
use crate::steps::dns::section::Dns;
use crate::steps::docker::section as docker;
use crate::steps::docker::section::Docker;
use crate::steps::istio::section as istio;
use crate::steps::istio::section::Istio;
use crate::steps::istio_release::section as istio_release;
use crate::steps::kubectl::section as kubectl;
use crate::steps::manifests::section as lab;
use crate::steps::manifests::section::Lab;
use crate::steps::minikube::section as minikube;

pub mod artifacts;
pub mod field;
pub mod hosts;
pub mod login;
pub mod paths;
pub mod run;
pub mod ssh;
pub mod tunnel;

pub use artifacts::{ARCHES, ArchUrl, Artifact, ArtifactMode, Artifacts, ShaSource, Versions};
pub use field::is_dns_label;
pub use hosts::Host;
pub use paths::Paths;
pub use run::Run;
pub use ssh::{HostKeyPolicy, Ssh};
pub use tunnel::tunnel_key;

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
    pub run: Run,
    pub lab: Lab,
    /// Local port of each `labprov tunnel` service.
    pub tunnel: std::collections::BTreeMap<String, u16>,
    /// What `labprov doctor` probes beyond the other sections (the image registries).
    pub doctor: crate::doctor::section::Doctor,
}

/// One section of every layer that has it, most specific first.
fn layered<'a, R>(
    layers: &'a [Layer],
    get: impl Fn(&'a RawProfile) -> Option<&'a R>,
) -> field::Layered<'a, R> {
    field::Layered::new(layers.iter().map(|l| (&l.source, get(&l.raw))))
}

impl Config {
    pub fn from_layers(layers: &[Layer]) -> Result<Config> {
        let top: &Arc<field::Source> = &layers[0].source;
        let ssh = ssh::section(&layered(layers, |r| r.ssh.as_ref()))?;
        let remote = ssh.user.is_some() || ssh.jump.is_some();
        let listed = layers
            .iter()
            .find(|l| !l.raw.hosts.is_empty())
            .map(|l| (l.raw.hosts.as_slice(), &l.source));
        let hosts = hosts::section(listed, remote)?;
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

        // Each pinned download: its version, then its URLs, as its step states them.
        let v = layered(layers, |r| r.versions.as_ref());
        let a = layered(layers, |r| r.artifacts.as_ref());
        let (mode, cache_dir) = artifacts::mode(&a)?;
        let pinned =
            |spec,
             version,
             raw: fn(&artifacts::RawArtifacts) -> Option<&artifacts::RawArtifact>| {
                artifacts::pinned(
                    spec,
                    version,
                    &layered(layers, |r| r.artifacts.as_ref().and_then(raw)),
                )
            };
        let artifacts = Artifacts {
            mode,
            cache_dir,
            minikube: pinned(&minikube::ARTIFACT, v.pick(|r| r.minikube.as_ref()), |r| {
                r.minikube.as_ref()
            })?,
            kubectl: pinned(&kubectl::ARTIFACT, v.pick(|r| r.kubectl.as_ref()), |r| {
                r.kubectl.as_ref()
            })?,
            istio: pinned(
                &istio_release::ARTIFACT,
                v.pick(|r| r.istio.as_ref()),
                |r| r.istio.as_ref(),
            )?,
        };
        let versions = Versions {
            minikube: artifacts.minikube.version.clone(),
            kubectl: artifacts.kubectl.version.clone(),
            istio: artifacts.istio.version.clone(),
        };

        let docker = docker::section(&layered(layers, |r| r.docker.as_ref()))?;
        let cluster = cluster::section(&layered(layers, |r| r.cluster.as_ref()))?;
        let dns = dns::section(&layered(layers, |r| r.dns.as_ref()), &top.path)?;
        let istio_l = layered(layers, |r| r.istio.as_ref());
        let istio = istio::section(&istio_l)?;
        let paths = paths::section(&layered(layers, |r| r.paths.as_ref()))?;
        let run = run::section(&layered(layers, |r| r.run.as_ref()))?;
        let lab_l = layered(layers, |r| r.lab.as_ref());
        let lab = lab::section(&lab_l)?;

        // Bookinfo's exercises (routing, mTLS, traces) need its sidecars, and Istio injects
        // them only where the istio step puts the label.
        if lab.bookinfo_namespace != istio.injection_namespace {
            let reason = format!(
                "Bookinfo would run in `{}`, but sidecars are injected only in `{}` \
                 (istio.injection_namespace): set both to the same namespace",
                lab.bookinfo_namespace, istio.injection_namespace
            );
            let at_bookinfo = lab_l.pick(|r| r.bookinfo_namespace.as_ref());
            let at_injection = istio_l.pick(|r| r.injection_namespace.as_ref());
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
            name: layers
                .iter()
                .find_map(|l| l.raw.name.clone())
                .unwrap_or_else(|| {
                    top.path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "profile".into())
                }),
            ssh,
            hosts,
            versions,
            artifacts,
            docker,
            cluster,
            dns,
            istio,
            paths,
            run,
            lab,
            tunnel: tunnel::section(&layered(layers, |r| r.tunnel.as_ref()))?,
            doctor: crate::doctor::section::section(&layered(layers, |r| r.doctor.as_ref()))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::Value;

    use super::*;

    /// The defaults as the code states them: the config of a profile that sets nothing.
    fn defaults() -> Value {
        let source = Arc::new(field::Source {
            path: PathBuf::from("empty.toml"),
            text: String::new(),
        });
        let raw = crate::profile::parse(&source).expect("an empty profile parses");
        let cfg = Config::from_layers(&[Layer { source, raw }]).expect("defaults validate");
        serde_json::to_value(cfg).expect("config serializes")
    }

    /// Every leaf of a section, as the profile key that sets it (`tunnel.hello_node`).
    fn leaves(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    leaves(&format!("{prefix}.{}", k.replace('-', "_")), v, out);
                }
            }
            _ => {
                out.insert(prefix.to_string(), v.clone());
            }
        }
    }

    /// The README's profile-key table: (keys, default cell), `.x` keys expanded.
    fn readme_rows() -> Vec<(Vec<String>, String)> {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("| key | default | meaning |")
            .nth(1)
            .expect("README has the profile-key table");
        let mut rows = Vec::new();
        for line in table.lines().skip(2) {
            let Some(row) = line.strip_prefix('|') else {
                break;
            };
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let mut keys: Vec<String> = Vec::new();
            for k in cells[0].split(", ") {
                let k = k.trim_matches('`');
                match k.strip_prefix('.') {
                    Some(rest) => {
                        let first = &keys[0];
                        let parent = &first[..first.rfind('.').expect("a dotted key")];
                        keys.push(format!("{parent}.{rest}"));
                    }
                    None => keys.push(k.to_string()),
                }
            }
            rows.push((keys, cells[1].replace('`', "")));
        }
        rows
    }

    fn shown(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Array(a) => a.iter().map(shown).collect::<Vec<_>>().join(", "),
            other => other.to_string(),
        }
    }

    /// The README's table of profile keys and their defaults is checked against the defaults
    /// the code states, so the two cannot drift: every default shown is the code's, and every
    /// key a section has is in the table.
    #[test]
    fn readme_key_table_matches_the_code() {
        let d = defaults();
        let mut actual = BTreeMap::new();
        for section in [
            "ssh", "versions", "docker", "cluster", "dns", "istio", "paths", "run", "lab",
            "tunnel", "doctor",
        ] {
            leaves(section, &d[section], &mut actual);
        }
        actual.insert("artifacts.mode".into(), d["artifacts"]["mode"].clone());
        // Worked out, not set: minikube's own pool.
        actual.remove("cluster.pod_cidr");
        // Defaults that are someone else's or depend on the machine: the README says which.
        let prose: BTreeMap<&str, &str> = [
            ("ssh.user", "—"),
            ("ssh.jump", "—"),
            ("ssh.port", "ssh's"),
            ("ssh.identity_file", "ssh's"),
            ("ssh.config_file", "~/.ssh/config"),
            ("artifacts.cache_dir", "$XDG_CACHE_HOME/labprov"),
        ]
        .into();
        let mut documented = Vec::new();
        for (keys, cell) in readme_rows() {
            // Rows about a family of keys (`artifacts.<name>.url`) or a table of entries.
            if keys
                .iter()
                .any(|k| k.contains('<') || k.contains('[') || !k.contains('.'))
            {
                continue;
            }
            let cells: Vec<String> = if keys.len() == 1 {
                vec![cell.clone()]
            } else {
                cell.split(", ").map(str::to_string).collect()
            };
            for (i, key) in keys.iter().enumerate() {
                documented.push(key.clone());
                if let Some(text) = prose.get(key.as_str()) {
                    assert_eq!(cell, *text, "README default of {key}");
                    if key != "artifacts.cache_dir" {
                        assert_eq!(actual.get(key), Some(&Value::Null), "{key} has a default");
                    }
                    continue;
                }
                let code = actual
                    .get(key)
                    .unwrap_or_else(|| panic!("README lists {key}, which no section has"));
                let code = shown(code);
                // One cell for several keys of the same host (docker's URLs) names the host.
                let readme = cells.get(i).or(cells.first()).expect("a default cell");
                assert!(
                    code == *readme || (cells.len() < keys.len() && code.contains(readme.as_str())),
                    "README says the default of {key} is `{readme}`, the code says `{code}`"
                );
            }
        }
        for key in actual.keys() {
            assert!(
                documented.contains(key),
                "{key} is missing from the README's table"
            );
        }
    }
}
