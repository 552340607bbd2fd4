//! A converged lab's cluster, as the first round trip would read it, built from the
//! profile: what `labprov render` writes verify's probe script from (every probe, with the
//! values a converged lab gives them), and what the unit tests decide checks against.

use serde_json::{Value, json};

use super::checks::CHECKS;
use super::cluster::Objects;
use super::judge::{Answer, Gather, Plan, Probe, plan};
use crate::config::Config;

fn meta(name: &str, ns: &str, labels: Value) -> Value {
    json!({"name": name, "namespace": ns, "labels": labels})
}

fn deployment(name: &str, ns: &str, image: &str) -> Value {
    json!({"kind": "Deployment", "metadata": meta(name, ns, json!({"app": name})),
        "spec": {"template": {"spec": {"containers": [{"name": name, "image": image}]}}},
        "status": {"availableReplicas": 1}})
}

fn pod(name: &str, ns: &str, app: &str, sidecar: bool) -> Value {
    let mut containers = vec![json!({"name": app})];
    if sidecar {
        containers.push(json!({"name": "istio-proxy"}));
    }
    json!({"kind": "Pod", "metadata": meta(name, ns, json!({"app": app})),
        "spec": {"containers": containers}, "status": {"phase": "Running"}})
}

/// The objects of a converged lab with every exercise applied; `weighted` picks which
/// routing exercise is in the cluster.
pub fn objects(cfg: &Config, weighted: bool) -> Vec<Value> {
    let lab = &cfg.lab;
    let (bns, nns) = (
        lab.bookinfo_namespace.as_str(),
        lab.netpol_namespace.as_str(),
    );
    let mut o = Vec::new();
    let mut seen = Vec::new();
    for (ns, labels) in [
        (bns, json!({"istio-injection": "enabled"})),
        ("kube-system", json!({})),
        ("kubernetes-dashboard", json!({})),
        ("istio-system", json!({})),
        (lab.namespace.as_str(), json!({})),
        (nns, json!({})),
        (lab.legacy_namespace.as_str(), json!({})),
    ] {
        if !seen.contains(&ns) {
            seen.push(ns);
            o.push(json!({"kind": "Namespace", "metadata": {"name": ns, "labels": labels}}));
        }
    }
    o.push(
        json!({"kind": "DaemonSet", "metadata": meta("cilium", "kube-system", json!({})),
        "status": {"numberReady": 1}}),
    );
    o.push(deployment(
        "metrics-server",
        "kube-system",
        "metrics-server",
    ));
    o.push(deployment(
        "kubernetes-dashboard",
        "kubernetes-dashboard",
        "dashboard",
    ));
    o.push(deployment(
        "istiod",
        "istio-system",
        &format!("docker.io/istio/pilot:{}", cfg.versions.istio),
    ));
    o.push(deployment(
        "hello-node",
        &lab.namespace,
        &lab.hello_node_image,
    ));
    for (name, ns) in [
        ("hello-node", lab.namespace.as_str()),
        ("istio-ingressgateway", "istio-system"),
    ] {
        o.push(json!({"kind": "Service", "metadata": meta(name, ns, json!({}))}));
    }
    for app in ["productpage", "details", "reviews", "ratings"] {
        o.push(pod(&format!("{app}-v1-0"), bns, app, true));
    }
    o.push(
        json!({"kind": "NetworkPolicy", "metadata": meta("default-deny-ingress", nns, json!({})),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
    );
    o.push(json!({"kind": "NetworkPolicy", "metadata": meta("allow-specific-ingress", nns, json!({})),
        "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": [{"podSelector": {"matchLabels": {"access": "allowed"}}}]}]}}));
    o.push(json!({"kind": "NetworkPolicy", "metadata": meta("restrict-egress", nns, json!({})),
        "spec": {"podSelector": {"matchLabels": {"app": "testRestrictEgress"}}, "policyTypes": ["Egress"],
                 "egress": [{"to": [{"ipBlock": {"cidr": lab.egress_cidr}}]},
                            {"to": [{"namespaceSelector": {}}], "ports": [{"protocol": "UDP", "port": 53}]}]}}));
    let w = &lab.weights;
    let route = if weighted {
        json!([{"destination": {"host": "reviews", "subset": "v1"}, "weight": w.v1},
               {"destination": {"host": "reviews", "subset": "v2"}, "weight": w.v2},
               {"destination": {"host": "reviews", "subset": "v3"}, "weight": w.v3}])
    } else {
        json!([{"destination": {"host": "reviews", "subset": "v1"}}])
    };
    o.push(
        json!({"kind": "VirtualService", "metadata": meta("reviews", bns, json!({})),
        "spec": {"hosts": ["reviews"], "http": [{"route": route}]}}),
    );
    let subsets: Vec<Value> = ["v1", "v2", "v3"]
        .iter()
        .map(|v| json!({"name": v, "labels": {"version": v}}))
        .collect();
    o.push(
        json!({"kind": "DestinationRule", "metadata": meta("reviews", bns, json!({})),
        "spec": {"host": "reviews", "subsets": subsets}}),
    );
    o.push(json!({"kind": "PeerAuthentication", "metadata": meta("default", &lab.mesh_namespace, json!({})),
        "spec": {"mtls": {"mode": lab.mtls_mode}}}));
    o
}

/// What the first round trip of a converged host reads.
pub fn gather(cfg: &Config, weighted: bool) -> Gather {
    let list = json!({"items": objects(cfg, weighted)}).to_string();
    let ok = |out: &str| Answer {
        code: 0,
        out: out.to_string(),
        err: String::new(),
    };
    Gather {
        env: [
            ("docker", ok("")),
            (
                "minikube",
                ok(r#"{"Name":"minikube","Host":"Running","Kubelet":"Running","APIServer":"Running"}"#),
            ),
            ("node-dns", ok("34.96.108.209   registry.k8s.io")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        objects: Objects::from_lists(&[&list]),
    }
}

/// Every probe, as a converged lab needs it (both routing exercises).
pub fn probes(cfg: &Config) -> Vec<Probe> {
    let (weighted, all_v1) = (gather(cfg, true), gather(cfg, false));
    CHECKS
        .iter()
        .filter_map(|c| {
            let g = if c.name == "routing-all-v1" {
                &all_v1
            } else {
                &weighted
            };
            match plan(cfg, c, g) {
                Plan::Probe(p) => Some(p),
                Plan::Done(..) => None,
            }
        })
        .collect()
}
