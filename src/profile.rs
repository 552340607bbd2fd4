//! The profile as written: TOML text → raw structs, with spans kept for error messages.
//!
//! Nothing here decides what a value means; [`crate::config`] does. Each table's raw type is
//! declared by its section (in `config/` or in its step's folder); this file only names them. Every section denies
//! unknown fields so a typo is an error with a "did you mean" instead of a silently ignored
//! key. Values that are checked later (URLs, CIDRs, names) are `Spanned` so the error can
//! point at them. `extends` chains are resolved here: each file is parsed on its own (so an
//! error names the file it is in), then merged field by field, the extending file winning.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::config::artifacts::{RawArtifacts, RawVersions};
use crate::config::hosts::RawHost;
use crate::config::paths::RawPaths;
use crate::config::run::RawRun;
use crate::config::ssh::RawSsh;
use crate::config::tunnel::RawTunnel;
use crate::doctor::section::RawDoctor;
use crate::error::{Error, Result};
use crate::steps::cluster::section::RawCluster;
use crate::steps::dns::section::RawDns;
use crate::steps::docker::section::RawDocker;
use crate::steps::istio::section::RawIstio;
use crate::steps::manifests::section::RawLab;

/// Profiles shipped inside the binary, usable by name (`--profile crownlabs`, `extends = "local"`).
pub const BUILTIN: &[(&str, &str)] = &[
    ("local", include_str!("../profiles/local.toml")),
    ("crownlabs", include_str!("../profiles/crownlabs.toml")),
    ("vagrant", include_str!("../profiles/vagrant.toml")),
];

pub use crate::config::field::{Source, Sourced};

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
    pub doctor: Option<RawDoctor>,
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

/// Parse one file, turning serde's message into a pointed error with a suggestion. A string
/// anywhere in it that holds a control character is refused at that character.
pub fn parse(source: &Source) -> Result<RawProfile> {
    let raw = parse_typed(source)?;
    refuse_control_chars(source)?;
    Ok(raw)
}

/// Every string of the file (values and keys, in tables and arrays) checked for a control
/// character: `"http://mirror\nTrusted: yes"` would add a line to an apt source, and a tab
/// or an ESC would end up in a shell word or on a terminal. Validation of each field checks a
/// parsed value; this checks what was written, wherever it is.
fn refuse_control_chars(source: &Source) -> Result<()> {
    use toml::de::{DeTable, DeValue};
    fn walk(source: &Source, path: &str, value: &toml::Spanned<DeValue<'_>>) -> Result<()> {
        match value.get_ref() {
            DeValue::String(text) => {
                if let Some((_, c)) = crate::config::login::control_char(text) {
                    return Err(Error::ProfileValue {
                        field: path.to_string(),
                        reason: format!(
                            "holds a control character, {}, which no value may",
                            crate::config::login::describe_control(c)
                        ),
                        snippet: Box::new(source.snippet(value.span())),
                    });
                }
            }
            DeValue::Array(items) => {
                for item in items {
                    walk(source, path, item)?;
                }
            }
            DeValue::Table(table) => table_walk(source, path, table)?,
            _ => {}
        }
        Ok(())
    }
    fn table_walk(source: &Source, path: &str, table: &DeTable<'_>) -> Result<()> {
        for (key, value) in table {
            let name = key.get_ref();
            let here = if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}.{name}")
            };
            if let Some((_, c)) = crate::config::login::control_char(name) {
                return Err(Error::ProfileValue {
                    field: here.escape_debug().to_string(),
                    reason: format!(
                        "the key holds a control character, {}",
                        crate::config::login::describe_control(c)
                    ),
                    snippet: Box::new(source.snippet(key.span())),
                });
            }
            walk(source, &here, value)?;
        }
        Ok(())
    }
    // The typed parse above succeeded, so this one does too; if it did not, there is nothing
    // to add to what that parse said.
    match DeTable::parse(&source.text) {
        Ok(doc) => table_walk(source, "", doc.get_ref()),
        Err(_) => Ok(()),
    }
}

fn parse_typed(source: &Source) -> Result<RawProfile> {
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
