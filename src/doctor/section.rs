//! `[doctor]`: what `labprov doctor` probes beyond what the other sections name.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::field::{Layered, check_url, sourced};
use crate::error::Result;

/// The registries the lab's images come from, as URLs of their v2 API (any HTTP answer, 401
/// included, means the host reaches it): registry.k8s.io (Kubernetes, metrics-server, agnhost),
/// gcr.io (minikube's node image, gcr.io/k8s-minikube/kicbase), quay.io (Cilium, Kiali) and
/// Docker Hub (Istio's proxies and Bookinfo under docker.io/istio, the dashboard, Grafana,
/// Jaeger, Prometheus).
pub const REGISTRIES: &[&str] = &[
    "https://registry.k8s.io/v2/",
    "https://gcr.io/v2/",
    "https://quay.io/v2/",
    "https://registry-1.docker.io/v2/",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDoctor {
    pub registries: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Doctor {
    pub registries: Vec<String>,
}

pub fn section(l: &Layered<RawDoctor>) -> Result<Doctor> {
    let registries = match l.find(|r| r.registries.as_ref()) {
        None => REGISTRIES.iter().map(|r| r.to_string()).collect(),
        Some((list, source)) => list
            .iter()
            .map(|r| {
                let s = sourced(r, &source);
                check_url(&s, &s.value, "doctor.registries").map(|_| s.value)
            })
            .collect::<Result<_>>()?,
    };
    Ok(Doctor { registries })
}
