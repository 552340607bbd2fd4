//! The profile as written: TOML text → raw structs, with spans kept for error messages.
//!
//! Nothing here decides what a value means; [`crate::config`] does. Every section denies
//! unknown fields so a typo is an error with a "did you mean" instead of a silently ignored
//! key. Values that are checked later (URLs, CIDRs, names) are `Spanned` so the error can
//! point at them. `extends` chains are resolved here: each file is parsed on its own (so an
//! error names the file it is in), then merged field by field, the extending file winning.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Result, Snippet};

/// Profiles shipped inside the binary, usable by name (`--profile crownlabs`, `extends = "local"`).
pub const BUILTIN: &[(&str, &str)] = &[
    ("local", include_str!("../profiles/local.toml")),
    ("crownlabs", include_str!("../profiles/crownlabs.toml")),
    ("vagrant", include_str!("../profiles/vagrant.toml")),
];

/// One parsed file: where it came from and its text, so later validation can point into it.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn snippet(&self, span: std::ops::Range<usize>) -> Snippet {
        Snippet::new(&self.path, &self.text, span)
    }
}

/// A value together with the file it was read from.
#[derive(Debug, Clone)]
pub struct Sourced<T> {
    pub value: T,
    pub span: std::ops::Range<usize>,
    pub source: std::sync::Arc<Source>,
}

impl<T> Sourced<T> {
    pub fn invalid(&self, field: &str, reason: impl Into<String>) -> Error {
        Error::ProfileValue {
            field: field.to_string(),
            reason: reason.into(),
            snippet: Box::new(self.source.snippet(self.span.clone())),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub extends: Option<Spanned<String>>,
    pub name: Option<String>,
    pub ssh: Option<RawSsh>,
    #[serde(default)]
    pub hosts: Vec<RawHost>,
    pub versions: Option<RawVersions>,
    pub artifacts: Option<RawArtifacts>,
    pub docker: Option<RawDocker>,
    pub cluster: Option<RawCluster>,
    pub dns: Option<RawDns>,
    pub istio: Option<RawIstio>,
    pub paths: Option<RawPaths>,
    pub run: Option<RawRun>,
    pub lab: Option<RawLab>,
    pub tunnel: Option<RawTunnel>,
}

/// Local ports of `labprov tunnel`, one per service.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTunnel {
    pub dashboard: Option<Spanned<u16>>,
    pub kiali: Option<Spanned<u16>>,
    pub grafana: Option<Spanned<u16>>,
    pub jaeger: Option<Spanned<u16>>,
    pub prometheus: Option<Spanned<u16>>,
    pub gateway: Option<Spanned<u16>>,
    pub ssh: Option<Spanned<u16>>,
    pub hello_node: Option<Spanned<u16>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSsh {
    pub user: Option<Spanned<String>>,
    pub jump: Option<Spanned<String>>,
    pub port: Option<u16>,
    pub config_file: Option<String>,
    pub identity_file: Option<String>,
    pub host_key_policy: Option<Spanned<String>>,
    pub connect_timeout: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    pub name: Spanned<String>,
    pub address: Spanned<String>,
    pub user: Option<Spanned<String>>,
    pub port: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVersions {
    pub minikube: Option<Spanned<String>>,
    pub kubectl: Option<Spanned<String>>,
    pub istio: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArtifacts {
    pub mode: Option<Spanned<String>>,
    pub cache_dir: Option<String>,
    pub minikube: Option<RawArtifact>,
    pub kubectl: Option<RawArtifact>,
    pub istio: Option<RawArtifact>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArtifact {
    pub url: Option<Spanned<String>>,
    pub sha256: Option<Spanned<String>>,
    pub sha256_url: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDocker {
    pub repo_url: Option<Spanned<String>>,
    pub gpg_url: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub driver: Option<Spanned<String>>,
    pub cni: Option<Spanned<String>>,
    pub cpus: Option<Spanned<u32>>,
    pub memory: Option<Spanned<String>>,
    pub kubernetes_version: Option<Spanned<String>>,
    pub addons: Option<Vec<Spanned<String>>>,
    /// Removed (it never reached the cluster); still read so that a profile that sets it is
    /// told why instead of only "unknown field".
    pub pod_cidr: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    pub probe_host: Option<Spanned<String>>,
    pub nameserver: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIstio {
    pub profile: Option<Spanned<String>>,
    pub injection_namespace: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPaths {
    pub bin_dir: Option<Spanned<String>>,
    pub istio_dir: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLab {
    pub bundles: Option<Spanned<Vec<Spanned<String>>>>,
    pub namespace: Option<Spanned<String>>,
    pub bookinfo_namespace: Option<Spanned<String>>,
    pub netpol_namespace: Option<Spanned<String>>,
    pub legacy_namespace: Option<Spanned<String>>,
    pub mesh_namespace: Option<Spanned<String>>,
    pub egress_cidr: Option<Spanned<String>>,
    pub mtls_mode: Option<Spanned<String>>,
    pub hello_node_image: Option<Spanned<String>>,
    pub rollout_timeout: Option<Spanned<u32>>,
    pub weights: Option<Spanned<RawWeights>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeights {
    pub v1: Spanned<i64>,
    pub v2: Spanned<i64>,
    pub v3: Spanned<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRun {
    pub parallel: Option<Spanned<u32>>,
    pub grace_period: Option<Spanned<u32>>,
    pub lock_timeout: Option<Spanned<u32>>,
}

/// A parsed profile file and the files it extends, nearest first.
#[derive(Debug)]
pub struct Layer {
    pub source: std::sync::Arc<Source>,
    pub raw: RawProfile,
}

/// Read `spec` (a path, or the name of a built-in profile) and everything it extends.
/// Returns layers from the most specific (the file given) to the most general.
pub fn load(spec: &str) -> Result<Vec<Layer>> {
    let mut layers = Vec::new();
    let mut next = Some((spec.to_string(), None::<PathBuf>));
    let mut seen: Vec<PathBuf> = Vec::new();
    while let Some((name, relative_to)) = next.take() {
        let source = read_source(&name, relative_to.as_deref(), layers.last())?;
        if seen.contains(&source.path) {
            let from = layers.last().map(|l: &Layer| l.source.path.clone());
            return Err(Error::ProfileExtends {
                path: from.unwrap_or_default(),
                name,
                reason: "the extends chain loops".into(),
            });
        }
        seen.push(source.path.clone());
        let raw = parse(&source)?;
        if let Some(ext) = &raw.extends {
            let dir = source.path.parent().map(Path::to_path_buf);
            next = Some((ext.get_ref().clone(), dir));
        }
        layers.push(Layer {
            source: std::sync::Arc::new(source),
            raw,
        });
    }
    Ok(layers)
}

fn read_source(name: &str, dir: Option<&Path>, from: Option<&Layer>) -> Result<Source> {
    let builtin = BUILTIN.iter().find(|(n, _)| *n == name);
    let candidate = match dir {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    };
    let with_ext = candidate.with_extension("toml");
    for path in [&candidate, &with_ext] {
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|source| Error::ProfileRead {
                path: path.clone(),
                source: source.into(),
            })?;
            return Ok(Source {
                path: path.clone(),
                text,
            });
        }
    }
    if let Some((n, text)) = builtin {
        return Ok(Source {
            path: PathBuf::from(format!("<builtin profile {n}>")),
            text: text.to_string(),
        });
    }
    match from {
        Some(layer) => {
            let span = layer.raw.extends.as_ref().map(|e| e.span()).unwrap_or(0..0);
            Err(Error::ProfileExtends {
                path: layer.source.path.clone(),
                name: name.to_string(),
                reason: format!(
                    "no such file, and no built-in profile of that name (built-in: {}) at line {}",
                    builtin_names(),
                    layer.source.snippet(span).line
                ),
            })
        }
        None => Err(Error::ProfileRead {
            path: candidate,
            source: std::sync::Arc::new(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "no such file, and no built-in profile of that name (built-in: {})",
                    builtin_names()
                ),
            )),
        }),
    }
}

fn builtin_names() -> String {
    BUILTIN
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parse one file, turning serde's message into a pointed error with a suggestion.
pub fn parse(source: &Source) -> Result<RawProfile> {
    toml::from_str(&source.text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let mut message = e.message().trim().to_string();
        if let (Some(rest), Some(key)) = (
            message.strip_prefix("invalid type: "),
            key_path(&source.text, span.start),
        ) {
            message = format!("invalid type for `{key}`: {rest}");
        }
        let help = did_you_mean(&message);
        Error::ProfileSyntax {
            message,
            snippet: Box::new(source.snippet(span)),
            help,
        }
    })
}

/// The dotted key (`cluster.cpus`) of the `key = value` line holding byte `at`, from the
/// nearest `[table]` header above it; serde's type errors do not say which key they are about.
fn key_path(text: &str, at: usize) -> Option<String> {
    let at = at.min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?;
    let key = line.split_once('=')?.0.trim().trim_matches('"');
    let table = text[..line_start].lines().rev().find_map(|l| {
        let l = l.trim();
        (l.starts_with('[') && l.ends_with(']'))
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    });
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" suggest the closest name.
fn did_you_mean(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    let best = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|cand| (strsim::jaro_winkler(unknown, cand), cand))
        .filter(|(score, _)| *score > 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    Some(format!("did you mean `{}`?", best.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_closest_field() {
        let m = "unknown field `cpu`, expected one of `driver`, `cni`, `cpus`, `memory`";
        assert_eq!(did_you_mean(m).as_deref(), Some("did you mean `cpus`?"));
        assert_eq!(did_you_mean("unknown field `zzzz`, expected `a`"), None);
    }

    #[test]
    fn key_path_names_table_and_key() {
        let text = "a = 1\n[cluster]\ncpus = \"four\"\n";
        assert_eq!(
            key_path(text, text.find("\"four").unwrap()).as_deref(),
            Some("cluster.cpus")
        );
        assert_eq!(key_path(text, 4).as_deref(), Some("a"));
    }

    #[test]
    fn builtin_profiles_parse() {
        for (name, text) in BUILTIN {
            let src = Source {
                path: PathBuf::from(*name),
                text: text.to_string(),
            };
            parse(&src).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
