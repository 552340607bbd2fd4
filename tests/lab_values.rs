//! Non-default `lab.*` values of the profile reach the objects in the cluster (README,
//! "Profiles"), read back with the host's own kubectl as a student would.

mod common;
mod support;

use common::World;
use support::kubectl_json;

const LAB: &str = r#"[lab]
bundles = ["hello-node", "netpol-restrict-egress", "bookinfo", "destination-rules", "routing-weighted", "mtls-strict", "addons"]
netpol_namespace = "np-lab"
legacy_namespace = "old-apps"
egress_cidr = "10.20.30.0/24"
mtls_mode = "PERMISSIVE"
hello_node_image = "registry.k8s.io/e2e-test-images/agnhost:2.40"
namespace = "hello"
bookinfo_namespace = "shop"

[istio]
injection_namespace = "shop"

[lab.weights]
v1 = 70
v2 = 20
v3 = 10
"#;

#[test]
fn non_default_lab_values_are_what_the_cluster_holds() {
    let world = World::start(1);
    let profile = world.profile_plus("lab.toml", LAB);
    let up = world.labprov_with(&profile, &["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    let get = |args: &[&str]| kubectl_json(&world, "h1", args);

    // lab.netpol_namespace, lab.legacy_namespace and lab.namespace: created, and the defaults not.
    for ns in ["np-lab", "old-apps", "hello"] {
        let n = get(&["get", "namespace", ns]);
        assert_eq!(
            n["metadata"]["labels"]["app.kubernetes.io/managed-by"], "labprov",
            "{n}"
        );
    }
    let names: Vec<String> = get(&["get", "namespaces"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n == "network-policy-demo" || n == "legacy"),
        "{names:?}"
    );

    // lab.egress_cidr, in lab.netpol_namespace.
    let np = get(&["get", "networkpolicy", "restrict-egress", "-n", "np-lab"]);
    assert_eq!(
        np["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"], "10.20.30.0/24",
        "{np}"
    );

    // lab.weights.
    let vs = get(&["get", "virtualservice", "reviews", "-n", "shop"]);
    let weights: Vec<(String, u64)> = vs["spec"]["http"][0]["route"]
        .as_array()
        .unwrap_or_else(|| panic!("{vs}"))
        .iter()
        .map(|r| {
            (
                r["destination"]["subset"].as_str().unwrap().to_string(),
                r["weight"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        weights,
        [("v1".into(), 70), ("v2".into(), 20), ("v3".into(), 10)]
    );

    // lab.mtls_mode, in lab.mesh_namespace (istio-system).
    let pa = get(&["get", "peerauthentication", "default", "-n", "istio-system"]);
    assert_eq!(pa["spec"]["mtls"]["mode"], "PERMISSIVE", "{pa}");

    // lab.bookinfo_namespace = istio.injection_namespace: created by the istio step, labelled
    // for injection, and Bookinfo's pods there carry their sidecar.
    let shop = get(&["get", "namespace", "shop"]);
    assert_eq!(
        shop["metadata"]["labels"]["istio-injection"], "enabled",
        "{shop}"
    );
    let pods = get(&["get", "pods", "-n", "shop", "-l", "app=productpage"]);
    let containers: Vec<&str> = pods["items"][0]["spec"]["containers"]
        .as_array()
        .into_iter()
        .chain(pods["items"][0]["spec"]["initContainers"].as_array())
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(containers.contains(&"istio-proxy"), "{pods}");

    // lab.namespace and lab.hello_node_image.
    let d = get(&["get", "deployment", "hello-node", "-n", "hello"]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.k8s.io/e2e-test-images/agnhost:2.40",
        "{d}"
    );
}
