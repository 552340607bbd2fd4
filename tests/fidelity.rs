//! The lab as the guide has it (issue 9): what a student sees in the cluster labprov built
//! matches the guide's own order and exercises. Each test runs labprov against a lab world
//! and then looks with the student's tools (kubectl on the host) the way the guide does.

mod common;

use common::World;
use serde_json::Value;

/// `kubectl ARGS -o json` on a host as the login user (the student's kubeconfig), parsed.
fn kubectl_json(world: &World, host: &str, args: &[&str]) -> Value {
    let mut cmd = vec!["kubectl"];
    cmd.extend_from_slice(args);
    cmd.extend_from_slice(&["-o", "json"]);
    let out = world.exec(host, Some(&world.user), &cmd);
    assert!(
        out.status.success(),
        "on {host}: {cmd:?}: exit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{cmd:?} printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The pods of a namespace: name → the names of its containers, native sidecars included
/// (Istio injects istio-proxy as an init container with restartPolicy Always).
fn pod_containers(world: &World, namespace: &str) -> Vec<(String, Vec<String>)> {
    let list = kubectl_json(world, "h1", &["get", "pods", "-n", namespace]);
    list["items"]
        .as_array()
        .expect("a pod list")
        .iter()
        .map(|p| {
            let names = |key: &str| -> Vec<String> {
                p["spec"][key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["name"].as_str().map(String::from))
                    .collect()
            };
            let mut all = names("containers");
            all.extend(names("initContainers"));
            (p["metadata"]["name"].as_str().unwrap().to_string(), all)
        })
        .collect()
}

fn has_sidecar(containers: &[String]) -> bool {
    containers.iter().any(|c| c == "istio-proxy")
}

#[test]
fn hello_node_runs_without_a_sidecar_while_bookinfo_is_injected() {
    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());

    let pods = pod_containers(&world, "default");
    let of = |prefix: &str| -> Vec<&(String, Vec<String>)> {
        pods.iter().filter(|(n, _)| n.starts_with(prefix)).collect()
    };
    // Positive control: `default` is labelled for injection and the injector works, so
    // Bookinfo's pods (applied in the same run, after Istio) carry the sidecar.
    for app in [
        "productpage-v1-",
        "details-v1-",
        "ratings-v1-",
        "reviews-v1-",
    ] {
        let found = of(app);
        assert_eq!(found.len(), 1, "one {app}* pod: {pods:?}");
        assert!(has_sidecar(&found[0].1), "{app}* is injected: {pods:?}");
    }
    let hello = of("hello-node-");
    assert_eq!(hello.len(), 1, "one hello-node pod: {pods:?}");
    assert!(
        !has_sidecar(&hello[0].1),
        "hello-node has no istio-proxy, as when the guide creates it before Istio: {pods:?}"
    );
    assert_eq!(hello[0].1, ["agnhost"]);
}
