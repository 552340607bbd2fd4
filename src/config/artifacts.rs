//! `[versions]` and `[artifacts]`: what a pinned download is, and how each is built from the
//! profile. The pins themselves (key, default version, upstream URL) are stated by the step
//! that installs them, in its own folder, as an [`ArtifactSpec`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::field::{Layered, Sourced, check_url, version};
use crate::error::Result;

/// Architectures a target may report (`dpkg --print-architecture`); URLs are rendered for each.
pub const ARCHES: &[&str] = &["amd64", "arm64"];

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

/// A pinned download as its step states it: the key under `[versions]` and `[artifacts]`,
/// the default version, and upstream's URL (`{version}` and `{arch}` are replaced).
#[derive(Debug, Clone, Copy)]
pub struct ArtifactSpec {
    pub key: &'static str,
    pub default_version: &'static str,
    /// Whether the version is written `v1.2.3` (else `1.2.3`).
    pub leading_v: bool,
    pub url: &'static str,
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

/// `artifacts.mode` and `artifacts.cache_dir`.
pub fn mode(l: &Layered<RawArtifacts>) -> Result<(ArtifactMode, PathBuf)> {
    let mode = match l.pick(|r| r.mode.as_ref()) {
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
    let cache_dir = l
        .pick_plain(|r| r.cache_dir.as_ref())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            dirs::cache_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("labprov")
        });
    Ok((mode, cache_dir))
}

/// One pinned artifact: its version from `[versions]` (or the spec's), its URLs and digests
/// from `[artifacts.<key>]` (or upstream's).
pub fn pinned(
    spec: &ArtifactSpec,
    version_at: Option<Sourced<String>>,
    raw: &Layered<RawArtifact>,
) -> Result<Artifact> {
    let version = version(
        version_at,
        spec.default_version,
        spec.leading_v,
        &format!("versions.{}", spec.key),
    )?;
    let name = spec.key;
    let field = |f: &str| format!("artifacts.{name}.{f}");
    let url = raw.pick(|a| a.url.as_ref());
    let sha = raw.pick(|a| a.sha256.as_ref());
    let sha_url = raw.pick(|a| a.sha256_url.as_ref());
    if let Some(s) = &sha
        && (s.value.len() != 64 || !s.value.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(s.invalid(&field("sha256"), "expected 64 hex digits"));
    }
    let template = url
        .as_ref()
        .map_or(spec.url.to_string(), |u| u.value.clone());
    let mut by_arch = Vec::new();
    for arch in ARCHES {
        let expand = |t: &str| t.replace("{version}", &version).replace("{arch}", arch);
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
        version,
        by_arch,
    })
}
