//! `[istio]`: the installation profile and the namespace that gets sidecars.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::field::{Layered, check_label, one_of};
use crate::error::Result;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIstio {
    pub profile: Option<Spanned<String>>,
    pub injection_namespace: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Istio {
    pub profile: String,
    pub injection_namespace: String,
}

pub fn section(l: &Layered<RawIstio>) -> Result<Istio> {
    let profile = one_of(
        l.pick(|r| r.profile.as_ref()),
        "demo",
        &[
            "demo", "default", "minimal", "ambient", "empty", "preview", "remote",
        ],
        "istio.profile",
    )?;
    let injection_namespace = match l.pick(|r| r.injection_namespace.as_ref()) {
        None => "default".to_string(),
        Some(ns) => {
            check_label(&ns, "istio.injection_namespace")?;
            ns.value
        }
    };
    Ok(Istio {
        profile,
        injection_namespace,
    })
}
