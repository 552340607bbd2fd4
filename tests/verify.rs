//! `labprov verify`, the lab's grader, against the lab world: a converged lab with every
//! exercise applied passes every check; each check fails with its evidence in a lab broken
//! its own way; students' solutions written differently from `yamls/` pass and wrong ones
//! fail; a class of 30 VMs costs one SSH connection per VM.

mod common;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{Run, World};
use support::host_sh;

/// Every exercise of the guide in the cluster (weighted routing rather than all-v1).
const EVERY_EXERCISE: &str = r#"[lab]
bundles = ["hello-node", "netpol-deny-all", "netpol-allow-specific", "netpol-restrict-egress",
           "bookinfo", "destination-rules", "routing-weighted", "mtls-strict", "addons"]
"#;

/// Every check `verify --list` names, in its order.
fn all_checks(world: &World) -> Vec<String> {
    let list = world.labprov(&["verify", "--list"]);
    assert_eq!(list.code, 0, "{}", list.explain());
    let names: Vec<String> = list
        .events
        .iter()
        .filter(|e| e["type"] == "check-list")
        .map(|e| e["check"].as_str().unwrap().to_string())
        .collect();
    assert!(names.len() >= 14, "{}", list.stdout);
    names
}

/// check -> (kind, detail) of one host, from the JSON lines.
fn verdicts(run: &Run, host: &str) -> BTreeMap<String, (String, String)> {
    let out: BTreeMap<String, (String, String)> = run
        .events
        .iter()
        .filter(|e| e["type"] == "check" && e["host"] == host)
        .map(|e| {
            (
                e["check"].as_str().unwrap().to_string(),
                (
                    e["kind"].as_str().unwrap().to_string(),
                    e["detail"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect();
    assert!(
        !out.is_empty(),
        "no check verdict for {host}:\n{}",
        run.explain()
    );
    out
}

fn verify(world: &World, profile: &Path, args: &[&str]) -> Run {
    let mut argv = vec!["verify"];
    argv.extend_from_slice(args);
    world.labprov_with(profile, &argv)
}

/// Run one check on h1 and return its (kind, detail).
fn one(world: &World, profile: &Path, check: &str) -> (String, String, i32) {
    let run = verify(world, profile, &[check]);
    let v = verdicts(&run, "h1");
    let (kind, detail) = v
        .get(check)
        .cloned()
        .unwrap_or_else(|| panic!("no verdict for {check}:\n{}", run.explain()));
    (kind, detail, run.code)
}

fn assert_pass(world: &World, profile: &Path, check: &str) {
    let (kind, detail, code) = one(world, profile, check);
    assert_eq!((kind.as_str(), code), ("pass", 0), "{check}: {detail}");
}

/// The check fails, exit 1, and its evidence says `evidence`.
fn assert_fail(world: &World, profile: &Path, check: &str, evidence: &str) -> String {
    let (kind, detail, code) = one(world, profile, check);
    assert_eq!((kind.as_str(), code), ("fail", 1), "{check}: {detail}");
    assert!(
        detail.contains(evidence),
        "{check}: evidence {detail:?} does not say {evidence:?}"
    );
    detail
}

/// kubectl as the student, on h1.
fn kubectl(world: &World, script: &str) -> String {
    host_sh(world, "h1", Some(&world.user), script)
}

fn kubectl_apply(world: &World, yaml: &str) {
    kubectl(world, &format!("kubectl apply -f - <<'YAML'\n{yaml}\nYAML"));
}

/// Probe pods and verify's namespace still in h1's cluster.
fn leftovers(world: &World) -> String {
    kubectl(
        world,
        "kubectl get pods -A -l labprov.io/verify=probe -o name; \
         kubectl get namespace labprov-verify -o name 2>/dev/null || true",
    )
}

fn converged(n: usize, extra: &str) -> (World, PathBuf) {
    let world = World::start(n);
    let profile = world.profile_plus("verify.toml", extra);
    let up = world.labprov_with(&profile, &["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    (world, profile)
}

#[test]
fn a_converged_lab_passes_every_check_and_each_breakage_fails_its_own() {
    let (world, profile) = converged(1, EVERY_EXERCISE);
    let checks = all_checks(&world);
    let started = Instant::now();
    let run = verify(&world, &profile, &[]);
    let took = started.elapsed();
    let v = verdicts(&run, "h1");
    for c in &checks {
        let (kind, detail) = v
            .get(c)
            .unwrap_or_else(|| panic!("no verdict for {c}:\n{}", run.explain()));
        // routing-all-v1 is the one exercise not applied: skipped, saying why.
        let want = if c == "routing-all-v1" {
            "skip"
        } else {
            "pass"
        };
        assert_eq!(kind, want, "{c}: {detail}\n{}", run.explain());
    }
    assert_eq!(run.code, 0, "{}", run.explain());
    eprintln!("verify of every check on one host: {took:?}");
    let summary = run.summary();
    assert_eq!(summary["hosts"]["h1"]["fail"], 0);
    assert_eq!(
        summary["hosts"]["h1"]["pass"].as_u64(),
        Some(checks.len() as u64 - 1)
    );
    // The journal: one entry per check, as the report reads it.
    let journal = run
        .events
        .iter()
        .find(|e| e["type"] == "journal")
        .and_then(|e| e["path"].as_str())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no journal line:\n{}", run.stdout));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&journal).unwrap()).unwrap();
    assert_eq!(j["command"], "verify");
    let steps = j["hosts"]["h1"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), checks.len());
    assert!(
        steps
            .iter()
            .any(|s| s["step"] == "netpol-deny-all" && s["outcome"] == "pass")
    );

    // The probes ran from verify's own pods (the call log shows them), and none is left.
    let execs = world.calls_of("h1", "kubectl", "exec");
    assert!(
        execs
            .iter()
            .any(|c| common::argv(c).iter().any(|a| a == "labprov-source")),
        "no probe ran from labprov-source: {execs:?}"
    );
    assert_eq!(leftovers(&world).trim(), "", "probe pods left behind");

    // Each check fails in a lab broken its own way, with the evidence a TA acts on. Every
    // check passed above: that is each case's positive control.
    let fault = |action: &str| world.fault("h1", action);
    // A CNI that ignores NetworkPolicy: every exercise of part 1 fails.
    fault("netpol-off");
    assert_fail(
        &world,
        &profile,
        "netpol-deny-all",
        "connected to another pod",
    );
    assert_fail(
        &world,
        &profile,
        "netpol-allow-specific",
        "connected to a pod labelled app=web",
    );
    assert_fail(
        &world,
        &profile,
        "netpol-restrict-egress",
        "connected to another pod",
    );
    fault("netpol-on");
    assert_pass(&world, &profile, "netpol-deny-all");

    // Weights 90/5/5 where the exercise asks 50/30/20 (lab.weights).
    kubectl_apply(
        &world,
        &virtual_service("reviews", "reviews", &[("v1", 90), ("v2", 5), ("v3", 5)]),
    );
    let why = assert_fail(
        &world,
        &profile,
        "routing-weighted",
        "not consistent with the exercise's split (lab.weights), 50/30/20",
    );
    assert!(why.contains("chi-square"), "{why}");
    kubectl_apply(
        &world,
        &virtual_service("reviews", "reviews", &[("v1", 50), ("v2", 30), ("v3", 20)]),
    );

    // PERMISSIVE lets plaintext in.
    kubectl_apply(&world, &peer_authentication("istio-system", "PERMISSIVE"));
    assert_fail(&world, &profile, "mtls-strict", "got HTTP 200");
    kubectl_apply(&world, &peer_authentication("istio-system", "STRICT"));
    assert_pass(&world, &profile, "mtls-strict");

    // The node's resolver after a reboot, back inside Cilium's pool.
    kubectl(
        &world,
        "minikube ssh -- 'echo nameserver 10.0.0.10 | sudo tee /etc/resolv.conf' >/dev/null",
    );
    assert_fail(
        &world,
        &profile,
        "node-dns",
        "cannot resolve registry.k8s.io",
    );

    // Prometheus down.
    kubectl(
        &world,
        "kubectl scale deployment prometheus -n istio-system --replicas=0",
    );
    assert_fail(
        &world,
        &profile,
        "observability",
        "Prometheus does not answer",
    );

    // The sidecar label removed, and a Bookinfo pod recreated since.
    kubectl(
        &world,
        "kubectl label namespace default istio-injection- && \
         kubectl rollout restart deployment/details-v1 && \
         kubectl rollout status deployment/details-v1 --timeout=60s",
    );
    let why = assert_fail(
        &world,
        &profile,
        "istio-sidecars",
        "not labelled istio-injection=enabled",
    );
    assert!(
        why.contains("without an istio-proxy sidecar: details-v1-"),
        "{why}"
    );

    // A deleted policy is an exercise not applied: skipped, saying so (exit 0: nothing failed).
    kubectl(
        &world,
        "kubectl delete networkpolicy default-deny-ingress -n network-policy-demo",
    );
    let (kind, detail, code) = one(&world, &profile, "netpol-deny-all");
    assert_eq!((kind.as_str(), code), ("skip", 0), "{detail}");
    assert!(
        detail.contains("no NetworkPolicy in network-policy-demo selects every pod"),
        "{detail}"
    );
    assert_eq!(leftovers(&world).trim(), "", "probe pods left behind");
}

/// A VirtualService for reviews, as a student may write it: `host` is how it names the
/// service, routes in the order given.
fn virtual_service(name: &str, host: &str, routes: &[(&str, u32)]) -> String {
    let mut y = format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  hosts:\n  - {host}\n  http:\n  - route:\n"
    );
    for (subset, weight) in routes {
        y.push_str(&format!(
            "    - destination:\n        host: reviews\n        subset: {subset}\n"
        ));
        if routes.len() > 1 {
            y.push_str(&format!("      weight: {weight}\n"));
        }
    }
    y
}

fn peer_authentication(ns: &str, mode: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: {ns}\nspec:\n  mtls:\n    mode: {mode}\n"
    )
}

/// Students' own solutions, written otherwise than `yamls/`: right ones pass, wrong ones fail
/// with evidence; exercises not applied are skipped, saying which.
#[test]
fn students_solutions_are_graded_by_what_they_do() {
    // The environment a student starts with: no exercise applied. (A short grace period, for
    // the Ctrl-C at the end.)
    let (world, profile) = converged(1, "[run]\ngrace_period = 2\n");
    let run = verify(&world, &profile, &[]);
    let v = verdicts(&run, "h1");
    for c in [
        "netpol-deny-all",
        "netpol-allow-specific",
        "netpol-restrict-egress",
        "routing-all-v1",
        "routing-weighted",
        "mtls-strict",
    ] {
        assert_eq!(v[c].0, "skip", "{c}: {:?}\n{}", v[c], run.explain());
        assert!(v[c].1.contains("not applied"), "{c}: {}", v[c].1);
    }
    assert_eq!(run.code, 0, "{}", run.explain());

    // Right, and unlike yamls/: expressions instead of matchLabels, policyTypes left to its
    // default, a namespaceSelector by kubernetes.io/metadata.name, DNS to kube-dns only.
    kubectl_apply(&world, STUDENT_DENY_ALL);
    kubectl_apply(&world, STUDENT_ALLOW_SPECIFIC);
    kubectl_apply(&world, STUDENT_RESTRICT_EGRESS);
    // All traffic to v1, naming the service by its FQDN.
    kubectl_apply(
        &world,
        &virtual_service(
            "my-reviews",
            "reviews.default.svc.cluster.local",
            &[("v1", 100)],
        ),
    );
    // STRICT for the namespace instead of mesh-wide.
    kubectl_apply(&world, &peer_authentication("default", "STRICT"));
    let run = verify(&world, &profile, &[]);
    let v = verdicts(&run, "h1");
    for (c, (kind, detail)) in &v {
        let want = if c == "routing-weighted" {
            "skip"
        } else {
            "pass"
        };
        assert_eq!(kind, want, "{c}: {detail}\n{}", run.explain());
    }
    assert_eq!(run.code, 0);

    // The weighted split, routes in another order.
    kubectl_apply(
        &world,
        &virtual_service(
            "my-reviews",
            "reviews.default.svc.cluster.local",
            &[("v3", 20), ("v1", 50), ("v2", 30)],
        ),
    );
    assert_pass(&world, &profile, "routing-weighted");

    // Wrong: deny-all that selects a label no pod has; allow-specific with a typo in the
    // allowed label; egress without DNS; all traffic to v2; PERMISSIVE.
    kubectl_apply(
        &world,
        &STUDENT_DENY_ALL.replace(
            "matchExpressions:\n    - key: labprov-test-absent\n      operator: DoesNotExist",
            "matchLabels:\n      app: pod1",
        ),
    );
    assert_fail(
        &world,
        &profile,
        "netpol-deny-all",
        "connected to another pod",
    );
    kubectl_apply(
        &world,
        &STUDENT_ALLOW_SPECIFIC.replace("access: allowed", "access: allow"),
    );
    assert_fail(
        &world,
        &profile,
        "netpol-allow-specific",
        "cannot reach a pod labelled app=web",
    );
    kubectl_apply(
        &world,
        &STUDENT_RESTRICT_EGRESS[..STUDENT_RESTRICT_EGRESS
            .find("  - to:\n    - namespaceSelector")
            .unwrap()],
    );
    assert_fail(
        &world,
        &profile,
        "netpol-restrict-egress",
        "cannot resolve names (DNS)",
    );
    kubectl_apply(
        &world,
        &virtual_service("my-reviews", "reviews", &[("v2", 100)]),
    );
    assert_fail(&world, &profile, "routing-all-v1", "all should be on v1");
    kubectl_apply(&world, &peer_authentication("default", "PERMISSIVE"));
    assert_fail(&world, &profile, "mtls-strict", "got HTTP 200");
    assert_eq!(leftovers(&world).trim(), "", "probe pods left behind");

    // Ctrl-C while the probes run: verify's pods go all the same, the run says interrupted.
    let bg = support::Background::start(&world, &profile, &["verify"]);
    common::poll(
        "verify's probe pods to run",
        std::time::Duration::from_secs(300),
        || {
            let l = leftovers(&world);
            if l.contains("pod/labprov-") {
                Ok(())
            } else {
                Err(l)
            }
        },
    );
    bg.signal("INT");
    let run = bg.finish(std::time::Duration::from_secs(120));
    assert_eq!(run.code, 130, "{}", run.explain());
    assert!(
        verdicts(&run, "h1")
            .values()
            .any(|(k, _)| k == "interrupted"),
        "{}",
        run.explain()
    );
    assert_eq!(run.summary()["interrupted"], "SIGINT");
    common::poll(
        "verify's probe pods to be deleted",
        std::time::Duration::from_secs(60),
        || {
            let l = leftovers(&world);
            if l.trim().is_empty() { Ok(()) } else { Err(l) }
        },
    );
}

const STUDENT_DENY_ALL: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: nobody-gets-in
  namespace: network-policy-demo
spec:
  podSelector:
    matchExpressions:
    - key: labprov-test-absent
      operator: DoesNotExist
  ingress: []
";

const STUDENT_ALLOW_SPECIFIC: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-from-allowed
  namespace: network-policy-demo
spec:
  podSelector:
    matchExpressions:
    - key: app
      operator: In
      values: [web]
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: network-policy-demo
      podSelector:
        matchLabels:
          access: allowed
";

const STUDENT_RESTRICT_EGRESS: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: egress-only-lan-and-dns
  namespace: network-policy-demo
spec:
  podSelector:
    matchLabels:
      app: testRestrictEgress
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock:
        cidr: 192.168.49.0/24
  - to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
    ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
";

// `verify` on 30 hosts (one SSH connection per host, two round trips) is checked in
// tests/batch.rs, on the class that test has already converged.
