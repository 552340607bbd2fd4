//! "Only objects labprov recorded are ever pruned" (README, "The lab's manifests"): an object
//! that carries labprov's labels but was not applied by labprov survives every prune of its
//! bundle, while the bundle's recorded objects go.

mod common;
mod support;

use common::World;
use support::{host_sh, kubectl_json};

/// A student's own copy of hello-node, labelled exactly like labprov's objects of the bundle,
/// so a prune by label selector would take it.
const COPY: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: student-copy
  namespace: default
  labels:
    app: hello-node
    app.kubernetes.io/managed-by: labprov
    labprov.io/bundle: hello-node
spec:
  replicas: 1
  selector:
    matchLabels:
      app: student-copy
  template:
    metadata:
      labels:
        app: student-copy
    spec:
      containers:
        - name: agnhost
          image: registry.k8s.io/e2e-test-images/agnhost:2.39
          args: ["netexec", "--http-port=8080"]
"#;

/// Names of the Deployments in `default` carrying labprov's label for bundle hello-node.
fn labelled(world: &World) -> Vec<String> {
    let list = kubectl_json(
        world,
        "h1",
        &[
            "get",
            "deployments",
            "-n",
            "default",
            "-l",
            "app.kubernetes.io/managed-by=labprov,labprov.io/bundle=hello-node",
        ],
    );
    let mut names: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn a_labelled_object_labprov_did_not_apply_survives_the_prunes_of_its_bundle() {
    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());

    let copy = world.dir.join("student-copy.yaml");
    std::fs::write(&copy, COPY).unwrap();
    host_sh(
        &world,
        "h1",
        Some(&world.user),
        &format!("kubectl apply -f {}", copy.display()),
    );
    assert_eq!(labelled(&world), ["hello-node", "student-copy"]);
    let state = std::fs::read_to_string(world.host_file(
        "h1",
        "/home/student/.local/state/labprov/host/manifests.json",
    ))
    .unwrap();
    assert!(state.contains("hello-node") && !state.contains("student-copy"));

    // `apply --remove`: the recorded objects of the bundle go, the copy stays.
    let remove = world.labprov(&["apply", "--remove", "hello-node"]);
    assert_eq!(remove.code, 0, "{}", remove.explain());
    assert_eq!(
        remove.step("h1", "manifests")["detail"],
        "0 to create, 0 to change, 4 to prune",
        "{}",
        remove.explain()
    );
    assert_eq!(labelled(&world), ["student-copy"]);

    // `up` with a profile that no longer selects the bundle prunes it the same way.
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(labelled(&world), ["hello-node", "student-copy"]);
    let without = world.profile_plus(
        "without-hello-node.toml",
        "[lab]\nbundles = [\"bookinfo\", \"destination-rules\", \"addons\"]\n",
    );
    let plan = world.labprov_with(&without, &["plan"]);
    let pruned: Vec<&str> = plan
        .events
        .iter()
        .filter(|e| e["type"] == "object" && e["action"] == "prune")
        .map(|e| e["object"].as_str().unwrap())
        .collect();
    assert!(
        pruned.contains(&"Deployment default/hello-node")
            && !pruned.iter().any(|o| o.contains("student-copy")),
        "{pruned:?}"
    );
    let up = world.labprov_with(&without, &["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(
        up.step("h1", "manifests")["detail"],
        "0 to create, 0 to change, 4 to prune"
    );
    assert_eq!(labelled(&world), ["student-copy"]);
}
