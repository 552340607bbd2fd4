//! Issue 12: a converged re-run costs each host at most 5 tool processes (≤ 1 minikube, ≤ 2
//! kubectl, no istioctl), counted from the stand-ins' call log, and the cheap check still sees
//! every way a host drifts: each case breaks one thing on a converged host the way a user (or a
//! crash) would, and `plan` reports the step with its reason.
mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Run, UP_STEPS, World};
use serde_json::Value;

const MINIKUBE: &str = "/usr/local/bin/minikube";
const KUBECTL: &str = "/usr/local/bin/kubectl";

/// Tool processes per tool in a slice of the call log.
fn per_tool(calls: &[Value]) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for c in calls {
        *n.entry(c["tool"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += 1;
    }
    n
}

/// Run `cmd` with bash on h1 as the world's user; it must succeed.
fn user_sh(world: &World, cmd: &str) {
    let out = world.exec("h1", Some(&world.user), &["bash", "-c", cmd]);
    assert!(
        out.status.success(),
        "{cmd}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The same as root.
fn root_sh(world: &World, cmd: &str) {
    let out = world.exec("h1", None, &["bash", "-c", cmd]);
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn plan(world: &World, profile: &Path) -> Run {
    let run = world.labprov_with(profile, &["plan"]);
    assert_eq!(run.code, 0, "{}", run.explain());
    run
}

/// The state and reasons `plan` gives one step of h1.
fn planned(run: &Run, step: &str) -> (String, Vec<String>) {
    let e = run
        .events
        .iter()
        .find(|e| e["type"] == "plan" && e["host"] == "h1" && e["step"] == step)
        .unwrap_or_else(|| panic!("no plan for {step}: {}", run.explain()));
    let reasons = e["reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    (e["state"].as_str().unwrap_or("").to_string(), reasons)
}

/// `plan` says `step` is in `state` with a reason containing `needle`.
fn assert_planned(run: &Run, step: &str, state: &str, needle: &str) {
    let (s, reasons) = planned(run, step);
    assert_eq!(s, state, "{step}: {reasons:?}\n{}", run.explain());
    assert!(
        reasons.iter().any(|r| r.contains(needle)),
        "{step}: no reason with {needle:?} in {reasons:?}"
    );
}

/// Set a field of the minikube stand-in's record of the cluster (what a crashed component
/// would change on a real node: nothing a user command of the world does).
fn set_cluster_field(world: &World, key: &str, value: &str) {
    user_sh(
        world,
        &format!(
            "python3 -c 'import json, sys; p = sys.argv[1]; d = json.load(open(p)); d[sys.argv[2]] = sys.argv[3]; \
             json.dump(d, open(p, \"w\"))' ~/.minikube/standin/cluster.json {key} {value}"
        ),
    );
}

#[test]
fn converged_rerun_keeps_the_tool_budget_and_sees_a_stopped_paused_or_silent_cluster() {
    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    let first = world.calls("h1");
    // Positive control: the log sees the tools when they run (the first up starts the cluster).
    let first_tools = per_tool(&first);
    for tool in ["minikube", "kubectl", "istioctl", "docker"] {
        assert!(
            first_tools.get(tool).copied().unwrap_or(0) > 0,
            "{tool} not seen in the first up: {first_tools:?}"
        );
    }

    let rerun = world.labprov(&["up"]);
    assert_eq!(rerun.code, 0, "{}", rerun.explain());
    assert_eq!(
        rerun.tally("h1"),
        (rerun.steps_of("h1"), 0, 0),
        "{}",
        rerun.explain()
    );
    let calls = world.calls("h1");
    let budget = per_tool(&calls[first.len()..]);
    let n = |t: &str| budget.get(t).copied().unwrap_or(0);
    let total: usize = budget.values().sum();
    assert!(n("minikube") <= 1, "minikube processes: {budget:?}");
    assert!(n("kubectl") <= 2, "kubectl processes: {budget:?}");
    assert_eq!(n("istioctl"), 0, "istioctl processes: {budget:?}");
    assert!(total <= 5, "tool processes in all: {budget:?}");

    let profile = world.profile.clone();
    let baseline = plan(&world, &profile);
    baseline.assert_states("h1", &UP_STEPS, "converged");

    // A paused node container (`docker pause`): blocked, the user froze it.
    user_sh(&world, "docker pause minikube");
    let run = plan(&world, &profile);
    assert_planned(&run, "cluster", "blocked", "paused");
    user_sh(&world, "docker unpause minikube");

    // An API server that does not answer on a running node.
    set_cluster_field(&world, "APIServer", "Stopped");
    let run = plan(&world, &profile);
    assert_planned(
        &run,
        "cluster",
        "needs-change",
        "API server does not answer",
    );
    set_cluster_field(&world, "APIServer", "Running");
    plan(&world, &profile).assert_states("h1", &UP_STEPS, "converged");

    // A stopped cluster: `minikube stop`; `up` starts it again.
    user_sh(&world, &format!("{MINIKUBE} stop"));
    let run = plan(&world, &profile);
    assert_planned(
        &run,
        "cluster",
        "needs-change",
        "no running minikube cluster",
    );
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    plan(&world, &profile).assert_states("h1", &UP_STEPS, "converged");
}

#[test]
fn cheap_check_sees_every_drift() {
    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    let profile = world.profile.clone();
    plan(&world, &profile).assert_states("h1", &UP_STEPS, "converged");

    // Drifted CPUs, memory, Kubernetes version and CNI: the profile asks for other settings
    // than the running cluster's (read from minikube's profile config.json).
    let text = std::fs::read_to_string(&profile).unwrap();
    let drifted = text
        .replace("cpus = 2\n", "")
        .replace("memory = \"4g\"\n", "")
        .replace(
            "[cluster]\n",
            "[cluster]\ncpus = 3\nmemory = \"3g\"\nkubernetes_version = \"v1.36.0\"\ncni = \"calico\"\n",
        );
    assert_ne!(drifted, text);
    let drift = world.dir.join("drift.toml");
    std::fs::write(&drift, drifted).unwrap();
    let run = plan(&world, &drift);
    for needle in [
        "running cluster has CPUs 2, profile wants 3",
        "running cluster has Memory 4096, profile wants 3072",
        "running cluster has KubernetesVersion v1.37.0, profile wants v1.36.0",
        "running cluster has CNI cilium, profile wants calico",
    ] {
        assert_planned(&run, "cluster", "blocked", needle);
    }

    // A disabled addon.
    user_sh(&world, &format!("{MINIKUBE} addons disable metrics-server"));
    // Broken DNS in the node: a nameserver that does not answer, written in place as an admin
    // inside the node would.
    user_sh(
        &world,
        &format!("{MINIKUBE} ssh -- 'echo nameserver 10.0.0.10 | sudo tee /etc/resolv.conf'"),
    );
    // istiod at another version: its deployment re-applied with a 1.30.0 image.
    user_sh(
        &world,
        &format!(
            "{KUBECTL} -n istio-system get deployment istiod -o json | sed 's/:1\\.31\\.1/:1.30.0/' | {KUBECTL} apply -f -"
        ),
    );
    // The injection label removed.
    user_sh(
        &world,
        &format!("{KUBECTL} label namespace default istio-injection-"),
    );
    // Drifted manifests: a sample file of the Istio release on the host changed.
    root_sh(
        &world,
        "f=/opt/labprov/istio-1.31.1/samples/bookinfo/platform/kube/bookinfo.yaml && \
         grep -q 'replicas: 1' \"$f\" && sed -i '0,/replicas: 1/s//replicas: 2/' \"$f\"",
    );
    let run = plan(&world, &profile);
    assert_planned(
        &run,
        "addons",
        "needs-change",
        "addon metrics-server is not enabled",
    );
    assert_planned(&run, "dns", "needs-change", "cannot resolve");
    assert_planned(&run, "istio", "needs-change", "istiod runs");
    assert_planned(&run, "istio", "needs-change", "istio-injection=enabled");
    assert_planned(&run, "manifests", "needs-change", "");
    assert_eq!(planned(&run, "cluster").0, "converged", "{}", run.explain());

    // `up` puts every one of them back.
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    plan(&world, &profile).assert_states("h1", &UP_STEPS, "converged");
}
