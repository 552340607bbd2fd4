//! `[dns]`: the name the node must resolve, and the nameserver of the fix.

use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::field::{Layered, check_hostname};
use crate::error::{Error, Result};
use crate::steps::cluster::section::MINIKUBE_POD_CIDR;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    pub probe_host: Option<Spanned<String>>,
    pub nameserver: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dns {
    pub probe_host: String,
    pub nameserver: String,
}

/// `top` is the profile file given, for an error that no key of it caused.
pub fn section(l: &Layered<RawDns>, top: &Path) -> Result<Dns> {
    let probe_host = match l.pick(|r| r.probe_host.as_ref()) {
        None => "registry.k8s.io".to_string(),
        Some(h) => {
            check_hostname(&h, "dns.probe_host")?;
            h.value
        }
    };
    let nameserver = match l.pick(|r| r.nameserver.as_ref()) {
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
    let pod_cidr = MINIKUBE_POD_CIDR;
    if let (Ok(ns), Ok(pool)) = (
        nameserver.parse::<IpAddr>(),
        pod_cidr.parse::<ipnet::IpNet>(),
    ) && pool.contains(&ns)
    {
        let reason = format!(
            "{nameserver} lies inside {pod_cidr}, the pod pool minikube gives the cluster: \
             pods could not reach it"
        );
        return Err(match l.pick(|r| r.nameserver.as_ref()) {
            Some(at) => at.invalid("dns.nameserver", reason),
            None => Error::ProfileInvalid {
                path: top.to_path_buf(),
                message: reason,
            },
        });
    }
    Ok(Dns {
        probe_host,
        nameserver,
    })
}
