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

/// Guide 4.7 step 5: Jaeger shows traces only once a Telemetry enables a tracing provider the
/// mesh config declares. After `up` (addons selected by default) the cluster has that chain:
/// the Telemetry labprov applied names `jaeger`, the demo profile's mesh config declares
/// `jaeger` as OpenTelemetry to a collector, and that collector Service, from the addons,
/// listens on the provider's port.
#[test]
fn up_enables_tracing_to_the_provider_the_demo_profile_declares() {
    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());

    let telemetry = kubectl_json(
        &world,
        "h1",
        &["get", "telemetry", "mesh-default", "-n", "istio-system"],
    );
    assert_eq!(
        telemetry["metadata"]["labels"]["labprov.io/bundle"], "addons",
        "{telemetry}"
    );
    let providers: Vec<&str> = telemetry["spec"]["tracing"]
        .as_array()
        .expect("spec.tracing")
        .iter()
        .flat_map(|t| t["providers"].as_array().into_iter().flatten())
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(providers, ["jaeger"], "{telemetry}");

    let istio = kubectl_json(
        &world,
        "h1",
        &["get", "configmap", "istio", "-n", "istio-system"],
    );
    let mesh: Value = serde_saphyr::from_str(istio["data"]["mesh"].as_str().expect("data.mesh"))
        .expect("the mesh config is YAML");
    let declared: Vec<&str> = mesh["extensionProviders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    let jaeger = mesh["extensionProviders"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "jaeger")
        .unwrap_or_else(|| panic!("the mesh config declares no `jaeger` provider: {declared:?}"));
    let otel = &jaeger["opentelemetry"];
    let (host, port) = (
        otel["service"].as_str().unwrap(),
        otel["port"].as_u64().unwrap(),
    );
    let (name, namespace) = {
        let mut parts = host.split('.');
        (parts.next().unwrap(), parts.next().unwrap())
    };
    let svc = kubectl_json(&world, "h1", &["get", "service", name, "-n", namespace]);
    assert!(
        svc["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["port"].as_u64() == Some(port)),
        "{host}:{port} is a port of the collector Service: {svc}"
    );
}
