//! The lab as the guide has it (issue 9): what a student sees in the cluster labprov built
//! matches the guide's own order and exercises. Each test runs labprov against a lab world
//! and then looks with the student's tools (kubectl on the host) the way the guide does.

mod common;
mod support;

use common::World;
use serde_json::Value;
use support::kubectl_json;

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

/// A VirtualService as the routing exercises differ: its name, labprov's bundle label, and
/// the subsets its first http rule routes to with their weights.
type Routing = (String, String, Vec<(String, u64)>);

/// The VirtualServices in Bookinfo's namespace, sorted by name.
fn virtual_services(world: &World) -> Vec<Routing> {
    let list = kubectl_json(world, "h1", &["get", "virtualservices", "-n", "default"]);
    let mut out: Vec<_> = list["items"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|vs| {
            let routes = vs["spec"]["http"][0]["route"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    (
                        r["destination"]["subset"]
                            .as_str()
                            .unwrap_or("")
                            .to_string(),
                        r["weight"].as_u64().unwrap_or(100),
                    )
                })
                .collect();
            (
                vs["metadata"]["name"].as_str().unwrap().to_string(),
                vs["metadata"]["labels"]["labprov.io/bundle"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                routes,
            )
        })
        .collect();
    out.sort();
    out
}

fn notes(run: &common::Run) -> Vec<String> {
    run.events
        .iter()
        .filter(|e| e["type"] == "note")
        .filter_map(|e| e["message"].as_str().map(String::from))
        .collect()
}

/// Guide 4.5: all traffic to v1, then (after deleting it) the weighted routing of reviews.
/// `labprov apply` of one routing exercise while the other is in the cluster switches: only
/// the VirtualServices of the one applied last are left, and labprov says so.
#[test]
fn applying_one_routing_exercise_replaces_the_other() {
    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    // The gateway's VirtualService (bundle bookinfo) is there throughout; the routing
    // exercises come and go beside it.
    let bookinfo = (
        "bookinfo".to_string(),
        "bookinfo".to_string(),
        vec![(String::new(), 100)],
    );
    assert_eq!(virtual_services(&world), std::slice::from_ref(&bookinfo));

    let v1 = world.labprov(&["apply", "routing-all-v1"]);
    assert_eq!(v1.code, 0, "{}", v1.explain());
    let all_v1 = |name: &str| {
        (
            name.to_string(),
            "routing-all-v1".to_string(),
            vec![("v1".to_string(), 100)],
        )
    };
    assert_eq!(
        virtual_services(&world),
        [
            bookinfo.clone(),
            all_v1("details"),
            all_v1("productpage"),
            all_v1("ratings"),
            all_v1("reviews"),
        ]
    );

    let weighted = world.labprov(&["apply", "routing-weighted"]);
    assert_eq!(weighted.code, 0, "{}", weighted.explain());
    assert_eq!(
        virtual_services(&world),
        [
            bookinfo.clone(),
            (
                "reviews".to_string(),
                "routing-weighted".to_string(),
                vec![("v1".into(), 50), ("v2".into(), 30), ("v3".into(), 20)]
            ),
        ],
        "exactly the weighted VirtualService for reviews; the all-v1 ones are removed"
    );
    // It says so, in the manifests step's outcome (plan names the reason for each object).
    assert_eq!(
        weighted.step("h1", "manifests")["detail"],
        "0 to create, 1 to change, 3 to prune; routing-all-v1 replaced by routing-weighted",
        "{}",
        weighted.explain()
    );
    assert_eq!(
        notes(&weighted),
        [
            "routing-weighted is not in lab.bundles: the next `labprov up` will remove it; \
          add it to lab.bundles to keep it."
        ]
    );

    // And back: the weighted one goes, all four v1 ones come back.
    let back = world.labprov(&["apply", "routing-all-v1"]);
    assert_eq!(back.code, 0, "{}", back.explain());
    assert_eq!(
        virtual_services(&world),
        [
            bookinfo,
            all_v1("details"),
            all_v1("productpage"),
            all_v1("ratings"),
            all_v1("reviews"),
        ]
    );
    assert_eq!(
        back.step("h1", "manifests")["detail"],
        "3 to create, 1 to change, 0 to prune; routing-weighted replaced by routing-all-v1",
        "{}",
        back.explain()
    );
    // Both at once is still no selection.
    let both = world.labprov(&["apply", "routing-all-v1", "routing-weighted"]);
    assert_eq!(both.code, 2, "{}", both.explain());
    assert!(
        both.stderr.contains("define the same objects: select one"),
        "{}",
        both.explain()
    );
}

/// Guide 3.5 step 7: from `pod4`, "ping your Host OS", which the policy's ipBlock allows.
/// With labprov's default the allowed block holds the VM as the cluster sees it: the node
/// names the host `host.minikube.internal` (minikube adds it to the node's /etc/hosts: the
/// gateway of its docker network), and that address lies in the rendered ipBlock.
#[test]
fn the_default_egress_block_holds_the_vm_the_node_calls_host_minikube_internal() {
    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    let apply = world.labprov(&["apply", "netpol-restrict-egress"]);
    assert_eq!(apply.code, 0, "{}", apply.explain());

    let np = kubectl_json(
        &world,
        "h1",
        &[
            "get",
            "networkpolicy",
            "restrict-egress",
            "-n",
            "network-policy-demo",
        ],
    );
    let cidr: ipnet::IpNet = np["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"]
        .as_str()
        .expect("an ipBlock")
        .parse()
        .expect("a CIDR");

    let out = world.exec(
        "h1",
        Some(&world.user),
        &[
            "minikube",
            "ssh",
            "--",
            "getent",
            "hosts",
            "host.minikube.internal",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let host: std::net::IpAddr = line
        .split_whitespace()
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address for host.minikube.internal: {line:?}"));
    assert!(
        cidr.contains(&host),
        "{host} (the VM) lies in the allowed block {cidr}"
    );
    // The guide's own block would not have held it.
    let guide: ipnet::IpNet = "192.168.1.0/24".parse().unwrap();
    assert!(
        !guide.contains(&host),
        "{host} is no LAN address of the guide's"
    );
}

/// Run labprov on this machine with a profile that extends the built-in `local` one plus
/// `extra`, rendering only (validation runs, nothing is contacted).
fn render_with(extra: &str) -> common::Run {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.toml");
    std::fs::write(&profile, format!("extends = \"local\"\n{extra}")).unwrap();
    let out = common::labprov()
        .arg("--profile")
        .arg(&profile)
        .args(["--output", "plain", "render", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .expect("labprov runs");
    common::Run::new(out)
}

/// `cluster.pod_cidr` never reached the cluster: minikube's `--cni=cilium` always runs the
/// pool 10.244.0.0/16. The key is gone (a profile that sets it is told why, at its line), and
/// the check that the DNS fix's nameserver lies outside the pool uses that pool.
#[test]
fn the_nameserver_check_uses_the_pool_minikube_runs_and_pod_cidr_is_refused() {
    let inside = render_with("[dns]\nnameserver = \"10.244.0.53\"\n");
    assert_eq!(inside.code, 2, "{}", inside.explain());
    assert!(
        inside.stderr.contains(
            "invalid value for `dns.nameserver`: 10.244.0.53 lies inside 10.244.0.0/16, the pod \
             pool minikube gives the cluster: pods could not reach it"
        ) && inside.stderr.contains("p.toml:3:14"),
        "{}",
        inside.explain()
    );
    // Inside Cilium's own default pool (what the key's old default claimed) but outside the
    // pool in effect: accepted.
    let outside = render_with("[dns]\nnameserver = \"10.0.0.53\"\n");
    assert_eq!(outside.code, 0, "{}", outside.explain());

    let old_key = render_with("[cluster]\npod_cidr = \"10.0.0.0/8\"\n");
    assert_eq!(old_key.code, 2, "{}", old_key.explain());
    assert!(
        old_key
            .stderr
            .contains("invalid value for `cluster.pod_cidr`: this key was removed")
            && old_key.stderr.contains("p.toml:3:12"),
        "{}",
        old_key.explain()
    );
}

/// The pool labprov checks against is the one the world's cluster reports, as real minikube
/// would: Cilium's ConfigMap and the pods' addresses.
#[test]
fn the_cluster_runs_the_pod_pool_labprov_checks_against() {
    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    let cm = kubectl_json(
        &world,
        "h1",
        &["get", "configmap", "cilium-config", "-n", "kube-system"],
    );
    let pool: ipnet::IpNet = cm["data"]["cluster-pool-ipv4-cidr"]
        .as_str()
        .expect("cluster-pool-ipv4-cidr")
        .parse()
        .unwrap();
    assert_eq!(pool.to_string(), "10.244.0.0/16");
    let pods = kubectl_json(&world, "h1", &["get", "pods", "-n", "default"]);
    let ips: Vec<std::net::IpAddr> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["status"]["podIP"].as_str()?.parse().ok())
        .collect();
    assert!(!ips.is_empty(), "{pods}");
    for ip in &ips {
        assert!(pool.contains(ip), "pod IP {ip} is in the pool {pool}");
    }
    // A nameserver there is what the profile check refuses.
    let ns = ips[0];
    let bad = world.profile_plus("ns.toml", &format!("[dns]\nnameserver = \"{ns}\"\n"));
    let plan = world.labprov_with(&bad, &["plan"]);
    assert_eq!(plan.code, 2, "{}", plan.explain());
    assert!(
        plan.stderr.contains(&format!("{ns} lies inside {pool}")),
        "{}",
        plan.explain()
    );
}

/// The exercise pods as the cluster has them: `namespace/name` → (labels, containers,
/// phase), sorted; only the pods labprov's exercise-pods bundle owns.
fn exercise_pods(world: &World) -> Vec<(String, Value, Vec<String>, String)> {
    let list = kubectl_json(
        world,
        "h1",
        &["get", "pods", "-A", "-l", "labprov.io/bundle=exercise-pods"],
    );
    let mut out: Vec<_> = list["items"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| {
            let mut labels = p["metadata"]["labels"].clone();
            if let Some(l) = labels.as_object_mut() {
                l.retain(|k, _| !k.contains("labprov") && !k.starts_with("app.kubernetes.io/"));
            }
            let containers = ["containers", "initContainers"]
                .iter()
                .flat_map(|k| p["spec"][*k].as_array().cloned().unwrap_or_default())
                .filter_map(|c| c["name"].as_str().map(String::from))
                .collect();
            (
                format!(
                    "{}/{}",
                    p["metadata"]["namespace"].as_str().unwrap(),
                    p["metadata"]["name"].as_str().unwrap()
                ),
                labels,
                containers,
                p["status"]["phase"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Guide 3.2-3.5 and 4.6 have students create test-pod, pod1-pod4 and legacy-app by hand.
/// The optional bundle exercise-pods creates them (with the labels the policies select on,
/// test-pod and legacy-app without a sidecar) and is applied and pruned like every bundle.
#[test]
fn exercise_pods_are_applied_and_pruned_like_every_bundle() {
    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(exercise_pods(&world), [], "not applied by default");

    let apply = world.labprov(&["apply", "exercise-pods"]);
    assert_eq!(apply.code, 0, "{}", apply.explain());
    assert_eq!(
        apply.step("h1", "manifests")["detail"],
        "6 to create, 0 to change, 0 to prune"
    );
    let pod = |name: &str, labels: Value| {
        let short = name.rsplit('/').next().unwrap().to_string();
        (name.to_string(), labels, vec![short], "Running".to_string())
    };
    let expected = vec![
        pod(
            "default/test-pod",
            serde_json::json!({"run": "test-pod", "sidecar.istio.io/inject": "false"}),
        ),
        pod(
            "legacy/legacy-app",
            serde_json::json!({"run": "legacy-app"}),
        ),
        pod(
            "network-policy-demo/pod1",
            serde_json::json!({"run": "pod1", "app": "web"}),
        ),
        pod(
            "network-policy-demo/pod2",
            serde_json::json!({"run": "pod2"}),
        ),
        pod(
            "network-policy-demo/pod3",
            serde_json::json!({"run": "pod3", "access": "allowed"}),
        ),
        pod(
            "network-policy-demo/pod4",
            serde_json::json!({"run": "pod4", "app": "testRestrictEgress"}),
        ),
    ];
    // Each runs its one container: test-pod, in the injection-labelled `default`, has no
    // istio-proxy (in the guide it runs before Istio exists).
    assert_eq!(exercise_pods(&world), expected);
    // Positive control for that: a pod applied the same way in `default` without the label
    // is injected.
    let probe = world.dir.join("probe.yaml");
    std::fs::write(
        &probe,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: probe\n  namespace: default\nspec:\n  \
         containers:\n  - name: probe\n    image: busybox\n    command: [\"sleep\", \"600\"]\n",
    )
    .unwrap();
    let out = world.exec(
        "h1",
        Some(&world.user),
        &["kubectl", "apply", "-f", probe.to_str().unwrap()],
    );
    assert!(out.status.success(), "{out:?}");
    let probe_pod = kubectl_json(&world, "h1", &["get", "pod", "probe", "-n", "default"]);
    assert!(
        probe_pod["spec"]["initContainers"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["name"] == "istio-proxy"),
        "{probe_pod}"
    );

    // Not in lab.bundles: `up` prunes them, saying why in plan first.
    let plan = world.labprov(&["plan"]);
    let prunes: Vec<&Value> = plan
        .events
        .iter()
        .filter(|e| e["type"] == "object" && e["bundle"] == "exercise-pods")
        .collect();
    assert_eq!(prunes.len(), 6, "{}", plan.explain());
    assert!(
        prunes
            .iter()
            .all(|e| e["action"] == "prune" && e["reason"] == "not selected in lab.bundles")
    );
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(exercise_pods(&world), []);

    // Selected in the profile: `up` creates them, a second `up` leaves them, `--remove`
    // deletes them.
    let selected = world.profile_plus(
        "pods.toml",
        "[lab]\nbundles = [\"hello-node\", \"bookinfo\", \"destination-rules\", \"exercise-pods\", \"addons\"]\n",
    );
    let up = world.labprov_with(&selected, &["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(exercise_pods(&world), expected);
    let again = world.labprov_with(&selected, &["up"]);
    assert_eq!(
        again.step("h1", "manifests")["kind"],
        "ok",
        "{}",
        again.explain()
    );
    let remove = world.labprov_with(&selected, &["apply", "--remove", "exercise-pods"]);
    assert_eq!(remove.code, 0, "{}", remove.explain());
    assert_eq!(
        remove.step("h1", "manifests")["detail"],
        "0 to create, 0 to change, 6 to prune"
    );
    assert_eq!(exercise_pods(&world), []);
}

/// A `labprov tunnel` running inside a host as its user, in its own process group so the
/// test can press Ctrl-C as a terminal does; killed if the test fails midway.
struct HostTunnel(std::process::Child);

impl Drop for HostTunnel {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.0.id())])
                .status();
            let _ = self.0.wait();
        }
    }
}

/// `curl URL` inside host h1 (its network namespace is where a local tunnel listens).
fn host_get(world: &World, url: &str) -> Option<String> {
    let out = world.exec("h1", None, &["curl", "-s", "-m", "5", "-f", url]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Guide 2.2-2.3 and 4.4-4.7 on the machine itself (a CrownLabs VM used from its own
/// desktop, or the built-in `local` profile): `labprov tunnel` starts the same forwarders as
/// through a jump host (hello-node as `kubectl port-forward service/hello-node 7080:8080`,
/// Kiali, the gateway through `minikube tunnel`), prints URLs that answer on this machine,
/// and stops what it started on Ctrl-C.
#[test]
fn tunnel_with_the_local_profile_opens_hello_node_kiali_and_the_gateway() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    use std::time::Duration;

    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    let profile = world.local_profile();
    let mut child = std::process::Command::new(common::root().join("tests/world/exec"))
        .args([
            "--id",
            &world.id.to_string(),
            "h1",
            "--user",
            &world.user,
            "--",
        ])
        .arg(env!("CARGO_BIN_EXE_labprov"))
        .arg("--profile")
        .arg(&profile)
        .args([
            "--output",
            "json",
            "tunnel",
            "hello-node",
            "kiali",
            "gateway",
        ])
        .args(["--check-every", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut tunnel = HostTunnel(child);
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let mut urls = std::collections::BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while urls.len() < 3 && std::time::Instant::now() < deadline {
        if let Ok(e) = rx.recv_timeout(Duration::from_secs(1))
            && let (Some(s), Some(u)) = (e["service"].as_str(), e["url"].as_str())
        {
            urls.insert(s.to_string(), u.to_string());
        }
    }
    assert_eq!(urls.len(), 3, "three URLs printed: {urls:?}");
    assert_eq!(urls["hello-node"], "http://127.0.0.1:7080/");
    assert_eq!(urls["kiali"], "http://127.0.0.1:20001/kiali");
    // The gateway at the address `minikube tunnel` gives it, port 80 (http2), as the guide's
    // GATEWAY_URL.
    let gateway = &urls["gateway"];
    assert!(
        gateway.starts_with("http://") && gateway.ends_with(":80/productpage"),
        "{gateway}"
    );
    for (service, url, expected) in [
        (
            "hello-node",
            urls["hello-node"].as_str(),
            "default/hello-node",
        ),
        ("kiali", urls["kiali"].as_str(), "<title>Kiali</title>"),
        (
            "gateway",
            gateway.as_str(),
            "<title>Simple Bookstore App</title>",
        ),
    ] {
        common::wait_for(
            &format!("{service} at {url} (inside h1)"),
            Duration::from_secs(60),
            || host_get(&world, url).filter(|b| b.contains(expected)),
        );
    }
    // Nothing of it goes through SSH: the forwarders are this machine's.
    let port_forwards = world.calls_of("h1", "kubectl", "port-forward");
    assert!(
        port_forwards.iter().any(|c| {
            let argv: Vec<&str> = c["argv"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|a| a.as_str())
                .collect();
            argv.windows(2).any(|w| w == ["-n", "default"])
                && argv.contains(&"svc/hello-node")
                && argv.contains(&"7080:8080")
        }),
        "kubectl port-forward -n default svc/hello-node 7080:8080: {port_forwards:?}"
    );

    // Ctrl-C: labprov exits 0 and the URLs stop answering (it stopped its forwarders).
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", "--", &format!("-{}", tunnel.0.id())])
            .status()
            .unwrap()
            .success()
    );
    let status = common::wait_for("labprov tunnel to exit", Duration::from_secs(60), || {
        tunnel.0.try_wait().unwrap()
    });
    assert_eq!(status.code(), Some(0), "{status:?}");
    for url in [&urls["hello-node"], &urls["kiali"], gateway] {
        common::wait_for(
            &format!("{url} to stop answering"),
            Duration::from_secs(30),
            || host_get(&world, url).is_none().then_some(()),
        );
    }
}

/// Versions that do not support each other are refused when the profile is read (so by
/// `plan` too, before any host is contacted), pointing at the value and naming the table it
/// comes from; `--allow-unsupported` goes ahead with a warning.
#[test]
fn unsupported_version_pairs_are_refused_with_their_place_and_source() {
    // Positive control: the pinned releases support each other.
    let pinned = render_with("");
    assert_eq!(pinned.code, 0, "{}", pinned.explain());
    assert!(!pinned.stderr.contains("warning"), "{}", pinned.explain());

    // An older Istio on the default Kubernetes (v1.37.0): blamed where the user set it.
    let old_istio = render_with("[versions]\nistio = \"1.27.3\"\n");
    assert_eq!(old_istio.code, 2, "{}", old_istio.explain());
    for want in [
        "error: invalid value for `versions.istio`: Istio 1.27 supports Kubernetes 1.29 to 1.33, not 1.37",
        "https://istio.io/latest/docs/releases/supported-releases/",
        "data/compatibility/supportStatus.yml",
        "--allow-unsupported",
        "p.toml:3:9",
    ] {
        assert!(
            old_istio.stderr.contains(want),
            "`{want}` in\n{}",
            old_istio.explain()
        );
    }
    // A Kubernetes the pinned Istio (1.31: 1.32 to 1.37) does not support, set by the user.
    let old_k8s = render_with("[cluster]\nkubernetes_version = \"v1.31.4\"\n");
    assert_eq!(old_k8s.code, 2, "{}", old_k8s.explain());
    assert!(
        old_k8s.stderr.contains(
            "invalid value for `cluster.kubernetes_version`: Istio 1.31 supports Kubernetes 1.32 \
             to 1.37, not 1.31"
        ) && old_k8s.stderr.contains("p.toml:3:22"),
        "{}",
        old_k8s.explain()
    );
    // An Istio the table does not know at all.
    let unknown = render_with("[versions]\nistio = \"1.22.0\"\n");
    assert_eq!(unknown.code, 2, "{}", unknown.explain());
    assert!(
        unknown
            .stderr
            .contains("Istio 1.22 is not in labprov's table"),
        "{}",
        unknown.explain()
    );

    // kubectl: one minor away is supported, two are not.
    let one = render_with("[versions]\nkubectl = \"v1.36.4\"\n");
    assert_eq!(one.code, 0, "{}", one.explain());
    let two = render_with("[versions]\nkubectl = \"v1.35.0\"\n");
    assert_eq!(two.code, 2, "{}", two.explain());
    for want in [
        "invalid value for `versions.kubectl`: kubectl v1.35.0 is more than 1 minor version away \
         from Kubernetes v1.37.0",
        "https://kubernetes.io/releases/version-skew-policy/#kubectl",
        "p.toml:3:11",
    ] {
        assert!(two.stderr.contains(want), "`{want}` in\n{}", two.explain());
    }

    // The override: the same profile goes ahead, saying what it overrides.
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.toml");
    std::fs::write(
        &profile,
        "extends = \"local\"\n[versions]\nistio = \"1.27.3\"\n",
    )
    .unwrap();
    let allowed = common::Run::new(
        common::labprov()
            .arg("--profile")
            .arg(&profile)
            .args([
                "--allow-unsupported",
                "--output",
                "plain",
                "render",
                "--out",
            ])
            .arg(dir.path().join("out"))
            .output()
            .unwrap(),
    );
    assert_eq!(allowed.code, 0, "{}", allowed.explain());
    assert!(
        allowed
            .stderr
            .contains("warning: --allow-unsupported: going ahead although invalid value for `versions.istio`: Istio 1.27"),
        "{}",
        allowed.explain()
    );

    // `plan` refuses the same way, before contacting the host (a documentation address: were
    // it contacted, the run would fail with 1, not 2).
    std::fs::write(
        &profile,
        "[ssh]\nuser = \"student\"\nconnect_timeout = 2\n\n[[hosts]]\nname = \"vm\"\n\
         address = \"192.0.2.7\"\n\n[versions]\nistio = \"1.27.3\"\n",
    )
    .unwrap();
    let plan = common::Run::new(
        common::labprov()
            .arg("--profile")
            .arg(&profile)
            .args(["--output", "json", "plan"])
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .output()
            .unwrap(),
    );
    assert_eq!(plan.code, 2, "{}", plan.explain());
    assert!(
        plan.stderr
            .contains("Istio 1.27 supports Kubernetes 1.29 to 1.33, not 1.37")
            && plan.stderr.contains("p.toml:10:9"),
        "{}",
        plan.explain()
    );
}
