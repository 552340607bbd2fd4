//! The lab's manifests in the lab world: applied once, never re-sent when unchanged, changed
//! object by object, pruned by bundle, waited for like the guide waits.

mod common;

use common::World;
use serde_json::Value;

/// The stand-in cluster's objects on a host, keyed `group|Kind|namespace|name`.
fn cluster_objects(world: &World, host: &str) -> serde_json::Map<String, Value> {
    let path = world.host_file(host, "/home/student/.minikube/standin/objects.json");
    let store: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    store["objects"].as_object().unwrap().clone()
}

/// kubectl calls on a host with this verb, found as kubectl finds it (global flags such as
/// `-n NS` or `--context X` may come first).
fn kubectl_calls(world: &World, host: &str, verb: &str) -> usize {
    world.calls_of(host, "kubectl", verb).len()
}

fn with_lab(world: &World, name: &str, lab: &str) -> std::path::PathBuf {
    world.profile_plus(name, lab)
}

const WEIGHTED: &str = r#"[lab]
bundles = ["hello-node", "bookinfo", "destination-rules", "routing-weighted", "addons"]
"#;

#[test]
fn default_bundles_applied_once_then_never_resent() {
    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    let detail = up.step("h1", "manifests")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.ends_with("to create, 0 to change, 0 to prune"),
        "{detail}"
    );
    let objects = cluster_objects(&world, "h1");
    for key in [
        "apps|Deployment|default|hello-node",
        "|Service|default|hello-node",
        "|Namespace||network-policy-demo",
        "|Namespace||legacy",
        "apps|Deployment|default|productpage-v1",
        "networking.istio.io|Gateway|default|bookinfo-gateway",
        "networking.istio.io|DestinationRule|default|reviews",
        "apps|Deployment|istio-system|kiali",
    ] {
        let obj = objects
            .get(key)
            .unwrap_or_else(|| panic!("{key} not applied"));
        assert_eq!(
            obj["metadata"]["labels"]["app.kubernetes.io/managed-by"], "labprov",
            "{key}"
        );
    }
    assert!(
        !objects
            .keys()
            .any(|k| k.contains("NetworkPolicy") || k.contains("PeerAuthentication")),
        "exercise solutions only when selected"
    );
    // The baselines must see the first up's work, or "no more" below proves nothing.
    let applies = kubectl_calls(&world, "h1", "apply");
    let rollouts = kubectl_calls(&world, "h1", "rollout");
    assert!(
        applies >= 1,
        "the first up's kubectl apply calls are counted"
    );
    assert!(rollouts >= 1, "readiness was waited for");

    for args in [["up"], ["apply"]] {
        let again = world.labprov(&args);
        assert_eq!(again.code, 0, "{}", again.explain());
        assert_eq!(again.step("h1", "manifests")["kind"], "ok");
        let (_, changed, failed) = again.tally("h1");
        assert_eq!((changed, failed), (0, 0), "{}", again.explain());
    }
    assert_eq!(
        kubectl_calls(&world, "h1", "apply"),
        applies,
        "no kubectl apply on a converged host"
    );
    assert_eq!(kubectl_calls(&world, "h1", "rollout"), rollouts);
}

#[test]
fn changed_weights_change_exactly_one_object_and_plan_shows_the_diff() {
    let world = World::start(1);
    let first = with_lab(&world, "w1.toml", WEIGHTED);
    assert_eq!(world.labprov_with(&first, &["up"]).code, 0);
    let changed = with_lab(
        &world,
        "w2.toml",
        &format!("{WEIGHTED}\n[lab.weights]\nv1 = 80\nv2 = 10\nv3 = 10\n"),
    );
    let applies = kubectl_calls(&world, "h1", "apply");
    assert!(
        applies >= 1,
        "the first up's kubectl apply calls are counted"
    );

    let plan = world.labprov_with(&changed, &["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.explain());
    let objects: Vec<&Value> = plan
        .events
        .iter()
        .filter(|e| e["type"] == "object")
        .collect();
    assert_eq!(objects.len(), 1, "{}", plan.explain());
    assert_eq!(objects[0]["action"], "change");
    assert_eq!(objects[0]["object"], "VirtualService default/reviews");
    let diff = objects[0]["diff"].as_str().unwrap();
    assert!(
        diff.contains("-      weight: 50\n+      weight: 80\n"),
        "{diff}"
    );
    assert!(
        diff.contains("-      weight: 30\n+      weight: 10\n"),
        "{diff}"
    );
    assert_eq!(
        kubectl_calls(&world, "h1", "apply"),
        applies,
        "plan changes nothing"
    );

    let up = world.labprov_with(&changed, &["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(
        up.step("h1", "manifests")["detail"],
        "0 to create, 1 to change, 0 to prune"
    );
    assert_eq!(
        kubectl_calls(&world, "h1", "apply"),
        applies + 1,
        "one apply call, for one object"
    );
    let vs = &cluster_objects(&world, "h1")["networking.istio.io|VirtualService|default|reviews"];
    let weights: Vec<u64> = vs["spec"]["http"][0]["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["weight"].as_u64().unwrap())
        .collect();
    assert_eq!(weights, [80, 10, 10]);
}

#[test]
fn removing_a_bundle_from_the_profile_prunes_exactly_its_objects() {
    let world = World::start(1);
    let with = with_lab(&world, "with.toml", WEIGHTED);
    assert_eq!(world.labprov_with(&with, &["up"]).code, 0);
    let before = cluster_objects(&world, "h1");
    assert!(before.contains_key("networking.istio.io|VirtualService|default|reviews"));

    let without = world.profile.clone();
    let plan = world.labprov_with(&without, &["plan"]);
    let objects: Vec<&Value> = plan
        .events
        .iter()
        .filter(|e| e["type"] == "object")
        .collect();
    assert_eq!(objects.len(), 1, "{}", plan.explain());
    assert_eq!(objects[0]["action"], "prune");
    assert_eq!(objects[0]["bundle"], "routing-weighted");

    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(
        up.step("h1", "manifests")["detail"],
        "0 to create, 0 to change, 1 to prune"
    );
    let after = cluster_objects(&world, "h1");
    let gone: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    assert_eq!(gone, ["networking.istio.io|VirtualService|default|reviews"]);
}

#[test]
fn apply_and_remove_one_exercise_bundle() {
    let world = World::start(1);
    assert_eq!(world.labprov(&["up"]).code, 0);
    let key = "networking.k8s.io|NetworkPolicy|network-policy-demo|default-deny-ingress";

    let apply = world.labprov(&["apply", "netpol-deny-all"]);
    assert_eq!(apply.code, 0, "{}", apply.explain());
    assert_eq!(
        apply.step("h1", "manifests")["detail"],
        "1 to create, 0 to change, 0 to prune"
    );
    assert!(cluster_objects(&world, "h1").contains_key(key));

    let remove = world.labprov(&["apply", "--remove", "netpol-deny-all"]);
    assert_eq!(remove.code, 0, "{}", remove.explain());
    assert_eq!(
        remove.step("h1", "manifests")["detail"],
        "0 to create, 0 to change, 1 to prune"
    );
    let after = cluster_objects(&world, "h1");
    assert!(!after.contains_key(key));
    assert!(
        after.contains_key("apps|Deployment|default|hello-node"),
        "other bundles untouched"
    );
}

#[test]
fn a_rollout_that_never_finishes_names_the_object() {
    let world = World::start(1);
    let knob = world.exec(
        "h1",
        None,
        &[
            "sh",
            "-c",
            "echo 'never_ready=\"default/reviews-v2\"' >> /etc/labprov-world.conf",
        ],
    );
    assert!(knob.status.success());
    let profile = with_lab(&world, "timeout.toml", "[lab]\nrollout_timeout = 2\n");
    let up = world.labprov_with(&profile, &["up"]);
    assert_eq!(up.code, 1, "{}", up.explain());
    let detail = up.step("h1", "manifests")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.starts_with(
            "rollout of bundle bookinfo exited 1: not ready after 2s: default/Deployment/reviews-v2"
        ),
        "{detail}"
    );
    // What was applied is recorded: the next run only waits again, it does not re-apply.
    let applies = kubectl_calls(&world, "h1", "apply");
    assert!(
        applies >= 1,
        "the first up's kubectl apply calls are counted"
    );
    let plan = world.labprov_with(&profile, &["plan"]);
    assert!(
        !plan
            .events
            .iter()
            .any(|e| e["type"] == "object" && e["bundle"] == "bookinfo"),
        "{}",
        plan.explain()
    );
    assert_eq!(kubectl_calls(&world, "h1", "apply"), applies);
    let manifests = plan
        .events
        .iter()
        .find(|e| e["type"] == "plan" && e["step"] == "manifests")
        .unwrap();
    assert_eq!(
        manifests["state"], "needs-change",
        "an unconfirmed rollout is not converged"
    );
    // The bundles after bookinfo were not applied yet; bookinfo itself is only re-waited for.
    let reason = manifests["reasons"][0].as_str().unwrap().to_string();
    assert!(
        reason.ends_with("0 to change, 0 to prune; rollout of bookinfo to confirm"),
        "{reason}"
    );

    // Once the deployment can become ready, the next run waits again and is done.
    let clear = world.exec(
        "h1",
        None,
        &["sed", "-i", "/never_ready/d", "/etc/labprov-world.conf"],
    );
    assert!(clear.status.success());
    let rollouts = kubectl_calls(&world, "h1", "rollout");
    let up = world.labprov_with(&profile, &["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(up.step("h1", "manifests")["detail"], reason.as_str());
    assert!(
        kubectl_calls(&world, "h1", "rollout") > rollouts,
        "waited again"
    );
    assert_eq!(
        kubectl_calls(&world, "h1", "apply"),
        applies + 2,
        "one apply each for destination-rules and addons, none for bookinfo"
    );
    let rollouts = kubectl_calls(&world, "h1", "rollout");
    assert!(rollouts >= 1);
    assert_eq!(world.labprov_with(&profile, &["up"]).code, 0);
    assert_eq!(
        kubectl_calls(&world, "h1", "rollout"),
        rollouts,
        "confirmed: no more waiting"
    );
}
