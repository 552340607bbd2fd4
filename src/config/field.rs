//! What every profile section shares: where a value was written ([`Source`], [`Sourced`]),
//! the layers of one section ([`Layered`], most specific first), and the checks that turn a
//! written value into a validated one with an error that points at it.
//!
//! A leaf: it names no section and no step, so each section (here in `config/` or in its
//! step's folder) can use it without a cycle.

use std::sync::Arc;

use toml::Spanned;

use crate::error::{Error, Result, Snippet};

/// One parsed file: where it came from and its text, so later validation can point into it.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: std::path::PathBuf,
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
    pub source: Arc<Source>,
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

/// One section (`R`, its raw type) of every layer that has it, most specific first.
pub struct Layered<'a, R> {
    layers: Vec<(&'a Arc<Source>, &'a R)>,
}

impl<'a, R> Layered<'a, R> {
    pub fn new(layers: impl IntoIterator<Item = (&'a Arc<Source>, Option<&'a R>)>) -> Self {
        Layered {
            layers: layers
                .into_iter()
                .filter_map(|(s, r)| Some((s, r?)))
                .collect(),
        }
    }

    /// The first layer (most specific) that sets a value, with its source attached.
    pub fn pick<T: Clone + 'a>(
        &self,
        get: impl Fn(&'a R) -> Option<&'a Spanned<T>>,
    ) -> Option<Sourced<T>> {
        self.layers.iter().find_map(|(source, raw)| {
            get(raw).map(|s| Sourced {
                value: s.get_ref().clone(),
                span: s.span(),
                source: (*source).clone(),
            })
        })
    }

    /// The same for a value whose position is not kept.
    pub fn pick_plain<T: Clone + 'a>(&self, get: impl Fn(&'a R) -> Option<&'a T>) -> Option<T> {
        self.layers.iter().find_map(|(_, raw)| get(raw).cloned())
    }

    /// The first layer that sets a value, as written, with its file: for lists and tables
    /// whose items are checked one by one.
    pub fn find<T>(&self, get: impl Fn(&'a R) -> Option<&'a T>) -> Option<(&'a T, Arc<Source>)> {
        self.layers
            .iter()
            .find_map(|(source, raw)| get(raw).map(|v| (v, (*source).clone())))
    }
}

/// A value written in `source` at `s`'s position.
pub fn sourced<T: Clone>(s: &Spanned<T>, source: &Arc<Source>) -> Sourced<T> {
    Sourced {
        value: s.get_ref().clone(),
        span: s.span(),
        source: source.clone(),
    }
}

pub fn version(
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

pub fn url(v: Option<Sourced<String>>, default: &str, field: &str) -> Result<String> {
    let Some(v) = v else {
        return Ok(default.to_string());
    };
    check_url(&v, &v.value, field)?;
    Ok(v.value)
}

pub fn check_url(at: &Sourced<String>, text: &str, field: &str) -> Result<()> {
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

pub fn one_of(
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

pub fn abs_path(v: Option<Sourced<String>>, default: &str, field: &str) -> Result<String> {
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

pub fn check_label(v: &Sourced<String>, field: &str) -> Result<()> {
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

pub fn check_hostname(v: &Sourced<String>, field: &str) -> Result<()> {
    let lower = v.value.to_ascii_lowercase();
    if lower.split('.').all(is_dns_label) {
        Ok(())
    } else {
        Err(v.invalid(field, format!("`{}` is not a host name", v.value)))
    }
}

pub fn check_address(v: &Sourced<String>, field: &str) -> Result<()> {
    super::login::address(&v.value).map_err(|why| v.invalid(field, why))
}

pub fn check_user(v: &Sourced<String>, field: &str) -> Result<()> {
    super::login::user(&v.value).map_err(|why| v.invalid(field, why))
}

/// `[ssh://]user@host[:port]`, as `ssh -J` takes it.
pub fn check_destination(v: &Sourced<String>, field: &str) -> Result<()> {
    super::login::destination(&v.value)
        .map(|_| ())
        .map_err(|why| v.invalid(field, format!("{why}: a jump host is `user@host[:port]`")))
}

/// A DNS label (a namespace, an addon) or the default.
pub fn label(v: Option<Sourced<String>>, default: &str, field: &str) -> Result<String> {
    match v {
        None => Ok(default.to_string()),
        Some(v) => check_label(&v, field).map(|_| v.value),
    }
}
