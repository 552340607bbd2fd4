//! The cluster as two batched `kubectl get -A -o json` show it (the core kinds, and Istio's
//! apart), and what verify reads from it: which exercise a NetworkPolicy is a solution of (by
//! the pods it selects, not by its name or labprov's labels), the reviews VirtualService's
//! weights, whether a PeerAuthentication exists. Nothing here compares with labprov's own
//! YAML: a student's solution written differently is read the same way.

use std::collections::BTreeMap;

use serde_json::Value;

/// Labels of the probe pods verify creates. Each exercise of guide part 1 is about pods
/// with given labels (3.3: any pod; 3.4: `app=web` reached from `access=allowed`; 3.5:
/// `app=testRestrictEgress`): the probe pods carry exactly those, plus labprov's own.
pub const MANAGED: (&str, &str) = ("app.kubernetes.io/managed-by", "labprov");
pub const PROBE: (&str, &str) = ("labprov.io/verify", "probe");
/// Probe pods are plain pods wherever they run (Istio's injector reads this label first).
pub const NO_SIDECAR: (&str, &str) = ("sidecar.istio.io/inject", "false");

pub fn probe_labels(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    [MANAGED, PROBE, NO_SIDECAR]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub const WEB: (&str, &str) = ("app", "web");
pub const ALLOWED: (&str, &str) = ("access", "allowed");
pub const EGRESS: (&str, &str) = ("app", "testRestrictEgress");

#[derive(Debug, Default, Clone)]
pub struct Objects {
    items: Vec<Value>,
}

impl Objects {
    /// The items of one or more `kubectl get -o json` Lists.
    pub fn from_lists(lists: &[&str]) -> Result<Objects, String> {
        let mut items = Vec::new();
        for text in lists {
            let v: Value = serde_json::from_str(text)
                .map_err(|e| format!("kubectl printed no JSON list ({e})"))?;
            match v["items"].as_array() {
                Some(a) => items.extend(a.iter().cloned()),
                None => return Err("kubectl printed no JSON list (no items)".into()),
            }
        }
        Ok(Objects { items })
    }

    pub fn of(&self, kind: &str) -> impl Iterator<Item = &Value> {
        self.items.iter().filter(move |o| o["kind"] == kind)
    }

    pub fn in_ns<'a>(&'a self, kind: &'a str, ns: &'a str) -> impl Iterator<Item = &'a Value> {
        self.of(kind)
            .filter(move |o| o["metadata"]["namespace"] == ns)
    }

    pub fn get(&self, kind: &str, ns: &str, name: &str) -> Option<&Value> {
        self.items.iter().find(|o| {
            o["kind"] == kind && o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name
        })
    }

    pub fn namespace(&self, name: &str) -> Option<&Value> {
        self.of("Namespace").find(|o| o["metadata"]["name"] == name)
    }
}

pub fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("?")
}

pub fn labels(o: &Value) -> BTreeMap<String, String> {
    o["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A Kubernetes label selector (matchLabels and matchExpressions, ANDed); an empty or
/// missing selector selects everything (the NetworkPolicy API reference: "An empty
/// podSelector selects all pods in the namespace").
pub fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    if let Some(m) = selector["matchLabels"].as_object() {
        for (k, v) in m {
            if labels.get(k).map(String::as_str) != v.as_str() {
                return false;
            }
        }
    }
    for e in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let have = labels.get(key).map(String::as_str);
        let ok = match e["operator"].as_str().unwrap_or_default() {
            "In" => have.is_some_and(|h| values.contains(&h)),
            "NotIn" => have.is_none_or(|h| !values.contains(&h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Whether a NetworkPolicy governs ingress and egress: `policyTypes` when given, else
/// Ingress always and Egress when the policy has an egress section (the API reference's
/// default for `policyTypes`).
pub fn policy_types(policy: &Value) -> (bool, bool) {
    match policy["spec"]["policyTypes"].as_array() {
        Some(types) => (
            types.iter().any(|t| t == "Ingress"),
            types.iter().any(|t| t == "Egress"),
        ),
        None => (true, policy["spec"]["egress"].is_array()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exercise {
    DenyAll,
    AllowSpecific,
    RestrictEgress,
}

/// Which exercise of guide part 1 a policy of the exercises' namespace solves, by the pods
/// it selects: one that selects a pod without the exercises' labels is about every pod
/// (3.3); else one selecting `app=web` is 3.4's, one selecting `app=testRestrictEgress`
/// 3.5's. A policy selecting none of these is still a policy of the namespace: it counts as
/// an attempt at 3.3 (so a wrong solution fails instead of being skipped).
pub fn exercise_of(policy: &Value) -> Exercise {
    let sel = &policy["spec"]["podSelector"];
    if selects(sel, &probe_labels(&[])) {
        Exercise::DenyAll
    } else if selects(sel, &probe_labels(&[WEB])) {
        Exercise::AllowSpecific
    } else if selects(sel, &probe_labels(&[EGRESS])) {
        Exercise::RestrictEgress
    } else {
        Exercise::DenyAll
    }
}

/// The NetworkPolicies of `ns` that solve `exercise`.
pub fn policies_of<'a>(objects: &'a Objects, ns: &'a str, exercise: Exercise) -> Vec<&'a Value> {
    objects
        .in_ns("NetworkPolicy", ns)
        .filter(|p| exercise_of(p) == exercise)
        .collect()
}

/// An address inside the first ipBlock a 3.5 policy allows (its CIDR's first host, e.g.
/// 192.168.49.1 for minikube's docker network: the VM itself), to show it is not dropped.
pub fn allowed_address(policies: &[&Value]) -> Option<(String, String)> {
    for p in policies {
        for rule in p["spec"]["egress"].as_array().into_iter().flatten() {
            for peer in rule["to"].as_array().into_iter().flatten() {
                if let Some(cidr) = peer["ipBlock"]["cidr"].as_str()
                    && let Some(addr) = first_host(cidr)
                {
                    return Some((cidr.to_string(), addr));
                }
            }
        }
    }
    None
}

fn first_host(cidr: &str) -> Option<String> {
    let (ip, len) = cidr.split_once('/')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    if len > 32 {
        return None;
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let net = u32::from(ip) & mask;
    let host = if len >= 31 { net } else { net + 1 };
    Some(std::net::Ipv4Addr::from(host).to_string())
}

/// The reviews routes of a VirtualService for `reviews` in `ns`: (version, weight) per
/// destination of its first HTTP route, versions read from the DestinationRule's subsets
/// (`labels.version`; the subset's own name when no rule defines it).
pub fn reviews_routes(objects: &Objects, ns: &str) -> Option<(String, Vec<(String, u32)>)> {
    let is_reviews = |h: &str| h == "reviews" || h.starts_with(&format!("reviews.{ns}"));
    let vs = objects.in_ns("VirtualService", ns).find(|v| {
        v["spec"]["hosts"]
            .as_array()
            .is_some_and(|hs| hs.iter().filter_map(Value::as_str).any(is_reviews))
    })?;
    let route = vs["spec"]["http"].as_array()?.first()?["route"].as_array()?;
    let subsets: BTreeMap<String, String> = objects
        .in_ns("DestinationRule", ns)
        .filter(|d| d["spec"]["host"].as_str().is_some_and(is_reviews))
        .flat_map(|d| d["spec"]["subsets"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| {
            Some((
                s["name"].as_str()?.to_string(),
                s["labels"]["version"].as_str()?.to_string(),
            ))
        })
        .collect();
    let single = route.len() == 1;
    let mut out: Vec<(String, u32)> = Vec::new();
    for d in route {
        let subset = d["destination"]["subset"].as_str().unwrap_or("(any)");
        let version = subsets
            .get(subset)
            .cloned()
            .unwrap_or_else(|| subset.to_string());
        // Istio: a lone destination takes all traffic; weights of several must be given.
        let weight = if single {
            100
        } else {
            d["weight"].as_u64().unwrap_or(0) as u32
        };
        match out.iter_mut().find(|(v, _)| *v == version) {
            Some((_, w)) => *w += weight,
            None => out.push((version, weight)),
        }
    }
    Some((name(vs).to_string(), out))
}

/// PeerAuthentications that apply to `ns`: mesh-wide (in the mesh's root namespace) or the
/// namespace's own, as `name (namespace): MODE`.
pub fn peer_authentications(objects: &Objects, mesh_ns: &str, ns: &str) -> Vec<String> {
    objects
        .of("PeerAuthentication")
        .filter(|p| p["metadata"]["namespace"] == mesh_ns || p["metadata"]["namespace"] == ns)
        .map(|p| {
            format!(
                "{} ({}): {}",
                name(p),
                p["metadata"]["namespace"].as_str().unwrap_or("?"),
                p["spec"]["mtls"]["mode"].as_str().unwrap_or("UNSET")
            )
        })
        .collect()
}

/// Whether a Deployment has at least one available replica (status or its Available
/// condition).
pub fn available(deploy: &Value) -> bool {
    deploy["status"]["availableReplicas"]
        .as_u64()
        .is_some_and(|n| n > 0)
        || deploy["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Available" && c["status"] == "True")
}

/// Whether a pod carries Istio's proxy: a container `istio-proxy`, or the native-sidecar
/// init container of the same name that Istio injects when native sidecars are on.
pub fn has_sidecar(pod: &Value) -> bool {
    ["containers", "initContainers"].iter().any(|k| {
        pod["spec"][k]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["name"] == "istio-proxy")
    })
}

pub fn running(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running" && pod["metadata"]["deletionTimestamp"].is_null()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(spec: Value) -> Value {
        json!({"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "n"}, "spec": spec})
    }

    #[test]
    fn selectors_follow_the_label_selector_rules() {
        let l = probe_labels(&[WEB]);
        assert!(selects(&json!({}), &l));
        assert!(selects(&Value::Null, &l));
        assert!(selects(&json!({"matchLabels": {"app": "web"}}), &l));
        assert!(!selects(&json!({"matchLabels": {"app": "db"}}), &l));
        let expr = |op: &str, values: Value| json!({"matchExpressions": [{"key": "app", "operator": op, "values": values}]});
        assert!(selects(&expr("In", json!(["web", "x"])), &l));
        assert!(!selects(&expr("NotIn", json!(["web"])), &l));
        assert!(selects(&expr("Exists", Value::Null), &l));
        assert!(!selects(&expr("DoesNotExist", Value::Null), &l));
        assert!(selects(&expr("NotIn", json!(["web"])), &probe_labels(&[])));
    }

    #[test]
    fn policies_are_told_apart_by_the_pods_they_select() {
        let deny = policy(json!({"podSelector": {}, "policyTypes": ["Ingress"]}));
        assert_eq!(exercise_of(&deny), Exercise::DenyAll);
        // A student's 3.4 written with an expression instead of matchLabels.
        let allow = policy(json!({"podSelector": {"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["web"]}]}}));
        assert_eq!(exercise_of(&allow), Exercise::AllowSpecific);
        let egress = policy(
            json!({"podSelector": {"matchLabels": {"app": "testRestrictEgress"}},
            "policyTypes": ["Egress"]}),
        );
        assert_eq!(exercise_of(&egress), Exercise::RestrictEgress);
        let odd = policy(json!({"podSelector": {"matchLabels": {"app": "foo"}}}));
        assert_eq!(exercise_of(&odd), Exercise::DenyAll);
    }

    #[test]
    fn policy_types_default_as_the_api_says() {
        assert_eq!(policy_types(&policy(json!({}))), (true, false));
        assert_eq!(policy_types(&policy(json!({"egress": []}))), (true, true));
        assert_eq!(
            policy_types(&policy(json!({"policyTypes": ["Egress"]}))),
            (false, true)
        );
    }

    #[test]
    fn the_allowed_address_is_the_first_host_of_the_ipblock() {
        let p = policy(json!({"egress": [{"to": [{"namespaceSelector": {}}]},
            {"to": [{"ipBlock": {"cidr": "192.168.49.0/24", "except": ["192.168.49.128/25"]}}]}]}));
        assert_eq!(
            allowed_address(&[&p]),
            Some(("192.168.49.0/24".into(), "192.168.49.1".into()))
        );
        assert_eq!(first_host("10.0.0.7/32").as_deref(), Some("10.0.0.7"));
    }

    #[test]
    fn reviews_weights_come_from_the_virtualservice_and_its_subsets() {
        let list = json!({"items": [
            {"kind": "VirtualService", "metadata": {"name": "reviews", "namespace": "default"},
             "spec": {"hosts": ["reviews"], "http": [{"route": [
                {"destination": {"host": "reviews", "subset": "a"}, "weight": 50},
                {"destination": {"host": "reviews", "subset": "v2"}, "weight": 30},
                {"destination": {"host": "reviews", "subset": "v3"}, "weight": 20}]}]}},
            {"kind": "DestinationRule", "metadata": {"name": "reviews", "namespace": "default"},
             "spec": {"host": "reviews", "subsets": [{"name": "a", "labels": {"version": "v1"}},
                {"name": "v2", "labels": {"version": "v2"}}]}}]});
        let o = Objects::from_lists(&[&list.to_string()]).unwrap();
        let (vs, routes) = reviews_routes(&o, "default").unwrap();
        assert_eq!(vs, "reviews");
        assert_eq!(
            routes,
            [("v1".into(), 50), ("v2".into(), 30), ("v3".into(), 20)]
        );
        assert!(reviews_routes(&o, "other").is_none());
    }
}
