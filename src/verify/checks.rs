//! The checks `labprov verify` knows, as data: name, the guide section its expected outcome
//! comes from, what it needs from the host, and the probe it runs from pods (a template
//! under `templates/verify/checks/`), if it needs one. Adding a check is a line here, its
//! probe template, and its judgement in [`super::judge`].

use crate::template::Template;

/// What a check reads in the first round trip (besides the cluster's objects, which every
/// check but `docker-usable` reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// `docker info` as the login user.
    Docker,
    /// `minikube status -o json`.
    Minikube,
    /// Name resolution inside the minikube node.
    NodeDns,
    /// The cluster's objects only.
    Objects,
}

#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Kebab-case name, as the command line takes it.
    pub name: &'static str,
    /// The lab guide's section whose expected outcome the check proves.
    pub section: &'static str,
    /// What it proves, in a few words (`verify --list`).
    pub what: &'static str,
    pub needs: Needs,
    /// The probe run from pods in the second round trip.
    pub probe: Option<Template>,
}

/// In lab order. Probes run in this order too: `gateway` sends requests through the ingress
/// gateway before `observability` asks Prometheus for them.
pub const CHECKS: &[Check] = &[
    Check {
        name: "docker-usable",
        section: "2.1",
        what: "docker works for the login user without sudo",
        needs: Needs::Docker,
        probe: None,
    },
    Check {
        name: "minikube-cilium",
        section: "2.1",
        what: "minikube is running, with the Cilium CNI ready",
        needs: Needs::Minikube,
        probe: None,
    },
    Check {
        name: "node-dns",
        section: "2.1",
        what: "the minikube node resolves the probe host",
        needs: Needs::NodeDns,
        probe: None,
    },
    Check {
        name: "cluster-addons",
        section: "2.1",
        what: "metrics-server and the dashboard are available",
        needs: Needs::Objects,
        probe: None,
    },
    Check {
        name: "hello-node",
        section: "2.3",
        what: "hello-node is ready and its service answers on 8080 by name from a pod",
        needs: Needs::Objects,
        probe: Some(crate::template::template!("verify/checks/hello-node.sh")),
    },
    Check {
        name: "netpol-deny-all",
        section: "3.3",
        what: "a pod of the exercise's namespace is unreachable from another pod",
        needs: Needs::Objects,
        probe: Some(crate::template::template!(
            "verify/checks/netpol-deny-all.sh"
        )),
    },
    Check {
        name: "netpol-allow-specific",
        section: "3.4",
        what: "pods labelled app=web accept only pods labelled access=allowed",
        needs: Needs::Objects,
        probe: Some(crate::template::template!(
            "verify/checks/netpol-allow-specific.sh"
        )),
    },
    Check {
        name: "netpol-restrict-egress",
        section: "3.5",
        what: "pods labelled app=testRestrictEgress reach no pod, resolve names, reach the allowed CIDR",
        needs: Needs::Objects,
        probe: Some(crate::template::template!(
            "verify/checks/netpol-restrict-egress.sh"
        )),
    },
    Check {
        name: "istio-sidecars",
        section: "4.3",
        what: "istiod at the pinned version, injection on, every Bookinfo pod has its sidecar",
        needs: Needs::Objects,
        probe: None,
    },
    Check {
        name: "gateway",
        section: "4.4",
        what: "/productpage through the ingress gateway answers 200 with the Bookinfo page",
        needs: Needs::Objects,
        probe: Some(crate::template::template!("verify/checks/gateway.sh")),
    },
    Check {
        name: "routing-all-v1",
        section: "4.5",
        what: "every request lands on reviews-v1",
        needs: Needs::Objects,
        probe: Some(crate::template::template!(
            "verify/checks/routing-all-v1.sh"
        )),
    },
    Check {
        name: "routing-weighted",
        section: "4.5",
        what: "the reviews split is consistent with the VirtualService's weights (chi-square)",
        needs: Needs::Objects,
        probe: Some(crate::template::template!(
            "verify/checks/routing-weighted.sh"
        )),
    },
    Check {
        name: "mtls-strict",
        section: "4.6",
        what: "plaintext from the legacy namespace is refused, requests inside the mesh succeed",
        needs: Needs::Objects,
        probe: Some(crate::template::template!("verify/checks/mtls-strict.sh")),
    },
    Check {
        name: "observability",
        section: "4.7",
        what: "Kiali, Grafana, Jaeger and Prometheus answer; Prometheus has istio_requests_total",
        needs: Needs::Objects,
        probe: Some(crate::template::template!("verify/checks/observability.sh")),
    },
];

pub fn find(name: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|c| c.name == name)
}

/// The checks a command line names, in registry order (all of them when it names none); an
/// unknown name is a usage error listing the known ones.
pub fn select(names: &[String]) -> Result<Vec<&'static Check>, String> {
    if let Some(bad) = names.iter().find(|n| find(n).is_none()) {
        let known: Vec<&str> = CHECKS.iter().map(|c| c.name).collect();
        return Err(format!(
            "unknown check `{bad}` (checks: {}; `labprov verify --list` describes them)",
            known.join(", ")
        ));
    }
    Ok(CHECKS
        .iter()
        .filter(|c| names.is_empty() || names.iter().any(|n| n == c.name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kebab_case_unique_and_sectioned() {
        let mut seen = std::collections::BTreeSet::new();
        for c in CHECKS {
            assert!(seen.insert(c.name), "{} twice", c.name);
            assert!(
                c.name
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'),
                "{}",
                c.name
            );
            assert!(c.section.starts_with(['2', '3', '4']), "{}", c.section);
        }
    }

    #[test]
    fn selection_keeps_registry_order_and_refuses_unknown_names() {
        let picked = select(&["observability".into(), "gateway".into()]).unwrap();
        let names: Vec<&str> = picked.iter().map(|c| c.name).collect();
        assert_eq!(names, ["gateway", "observability"]);
        assert_eq!(select(&[]).unwrap().len(), CHECKS.len());
        let e = select(&["nope".into()]).unwrap_err();
        assert!(
            e.contains("unknown check `nope`") && e.contains("netpol-deny-all"),
            "{e}"
        );
    }
}
