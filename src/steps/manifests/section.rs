//! `[lab]`: which bundles the manifests step converges, and the values a course changes.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::bundles::{DEFAULT_BUNDLES, bundle, check_selection, unknown_bundle};
use crate::config::field::{Layered, Sourced, label, one_of};
use crate::error::Result;

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

pub fn section(l: &Layered<RawLab>) -> Result<Lab> {
    let bundles = match l.find(|r| r.bundles.as_ref()) {
        None => DEFAULT_BUNDLES.iter().map(|b| b.to_string()).collect(),
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
                if bundle(&item.value).is_none() {
                    return Err(item.invalid("lab.bundles", unknown_bundle(&item.value)));
                }
                if names.iter().filter(|n| **n == item.value).count() > 1 {
                    return Err(
                        item.invalid("lab.bundles", format!("`{}` is listed twice", item.value))
                    );
                }
            }
            check_selection(&names).map_err(|why| whole.invalid("lab.bundles", why.to_string()))?;
            names
        }
    };
    let egress_cidr = match l.pick(|r| r.egress_cidr.as_ref()) {
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
        l.pick(|r| r.mtls_mode.as_ref()),
        "STRICT",
        &["STRICT", "PERMISSIVE", "DISABLE"],
        "lab.mtls_mode",
    )?;
    let hello_node_image = match l.pick(|r| r.hello_node_image.as_ref()) {
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
    let rollout_timeout = match l.pick(|r| r.rollout_timeout.as_ref()) {
        None => 300,
        Some(t) if (1..=3600).contains(&t.value) => t.value,
        Some(t) => {
            return Err(t.invalid("lab.rollout_timeout", "must be between 1 and 3600 seconds"));
        }
    };
    let weights = match l.find(|r| r.weights.as_ref()) {
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
        namespace: label(l.pick(|r| r.namespace.as_ref()), "default", "lab.namespace")?,
        bookinfo_namespace: label(
            l.pick(|r| r.bookinfo_namespace.as_ref()),
            "default",
            "lab.bookinfo_namespace",
        )?,
        netpol_namespace: label(
            l.pick(|r| r.netpol_namespace.as_ref()),
            "network-policy-demo",
            "lab.netpol_namespace",
        )?,
        legacy_namespace: label(
            l.pick(|r| r.legacy_namespace.as_ref()),
            "legacy",
            "lab.legacy_namespace",
        )?,
        mesh_namespace: label(
            l.pick(|r| r.mesh_namespace.as_ref()),
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
