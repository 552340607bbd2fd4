//! `[tunnel]`: the local port of each `labprov tunnel` service.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::field::Layered;
use crate::error::Result;

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

/// The profile key of a tunnel service's local port.
pub fn tunnel_key(service: &str) -> String {
    format!("tunnel.{}", service.replace('-', "_"))
}

pub fn section(l: &Layered<RawTunnel>) -> Result<BTreeMap<String, u16>> {
    type PortOf = fn(&RawTunnel) -> Option<&Spanned<u16>>;
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
    let mut ports = BTreeMap::new();
    let mut used: Vec<(u16, &str)> = Vec::new();
    for (name, default, get) in fields {
        let port = match l.pick(get) {
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
