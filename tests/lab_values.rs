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

    // lab.netpol_namespace and lab.legacy_namespace: created, and the defaults not.
    for ns in ["np-lab", "old-apps"] {
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
    let vs = get(&["get", "virtualservice", "reviews", "-n", "default"]);
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

    // lab.hello_node_image.
    let d = get(&["get", "deployment", "hello-node", "-n", "default"]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.k8s.io/e2e-test-images/agnhost:2.40",
        "{d}"
    );
}
