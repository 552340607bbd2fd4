//! `labprov up`, `plan` and `status` against a lab world: real sshd hosts behind a bastion,
//! a real mirror, stand-ins for the tools that cannot run here.

mod common;

use common::{UP_STEPS, World};
use std::os::unix::fs::PermissionsExt;

/// Every step but `facts`, which only checks.
const CHANGE_STEPS: &[&str] = UP_STEPS.split_at(1).1;

#[test]
fn fresh_host_converges_and_a_rerun_is_one_connection_one_round_trip() {
    let world = World::start(1);

    let plan = world.labprov(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.explain());
    let states = plan.states("h1");
    let mut expected = vec![("facts".to_string(), "converged".to_string())];
    expected.extend(
        CHANGE_STEPS
            .iter()
            .map(|s| (s.to_string(), "needs-change".to_string())),
    );
    assert_eq!(states, expected, "every step but facts needs a change");
    assert!(
        world.calls("h1").iter().all(|c| c["tool"] != "apt-get"),
        "plan must not install anything"
    );
    // plan says what is wrong now ...
    let reasons = |step: &str| -> Vec<String> {
        let e = plan
            .events
            .iter()
            .find(|e| e["type"] == "plan" && e["host"] == "h1" && e["step"] == step)
            .unwrap_or_else(|| panic!("no plan line for {step}: {}", plan.explain()));
        serde_json::from_value(e["reasons"].clone()).unwrap()
    };
    for step in ["addons", "istio"] {
        assert_eq!(reasons(step), ["cluster not running yet"], "{step}");
    }

    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    // dns is ok, not changed: the node resolves names once the cluster is up.
    let n = up.steps_of("h1");
    assert_eq!(up.tally("h1"), (2, n - 2, 0), "{}", up.explain());
    // ... and each change of `up` says what it did, in the user's terms (the world's profile:
    // 2 CPUs, 4g, the pinned versions; Docker's repository serves docker-ce 28.5.1).
    let did = |step: &str| up.step("h1", step)["detail"].as_str().unwrap().to_string();
    assert_eq!(
        did("docker"),
        "installed docker-ce 28.5.1 from Docker's repository; added student to docker"
    );
    assert_eq!(did("minikube"), "installed minikube v1.39.0");
    assert_eq!(did("kubectl"), "installed kubectl v1.37.1");
    assert_eq!(
        did("istioctl"),
        "unpacked Istio 1.31.1 in /opt/labprov/istio-1.31.1 (istioctl, samples/)"
    );
    assert_eq!(
        did("cluster"),
        "started minikube v1.39.0 with cilium (2 CPUs, 4 GiB)"
    );
    assert_eq!(did("addons"), "enabled metrics-server, dashboard");
    assert_eq!(
        did("istio"),
        "installed Istio 1.31.1 (demo); labelled default for injection"
    );
    assert!(world.host_file("h1", "/usr/local/bin/kubectl").is_file());
    assert!(world.host_file("h1", "/usr/local/bin/minikube").is_file());
    assert!(
        world
            .host_file(
                "h1",
                "/opt/labprov/istio-1.31.1/samples/bookinfo/platform/kube/bookinfo.yaml"
            )
            .is_file()
    );
    assert!(
        !std::path::Path::new("/opt/labprov").exists(),
        "nothing may land on this machine"
    );

    let plan = world.labprov(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.explain());
    plan.assert_states("h1", &UP_STEPS, "converged");

    let before = world.ssh_counts("h1");
    let again = world.labprov(&["up"]);
    assert_eq!(again.code, 0, "{}", again.explain());
    assert_eq!(again.tally("h1"), (n, 0, 0), "{}", again.explain());
    let after = world.ssh_counts("h1");
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (1, 1),
        "a converged re-run opens one connection and runs one command"
    );
}

#[test]
fn two_hosts_at_once() {
    let world = World::start(2);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    for h in ["h1", "h2"] {
        let n = up.steps_of(h);
        assert_eq!(up.tally(h), (2, n - 2, 0), "{h}: {}", up.explain());
    }
    let status = world.labprov(&["status"]);
    assert_eq!(status.code, 0);
    for h in ["h1", "h2"] {
        status.assert_states(h, &UP_STEPS, "converged");
    }
}

/// The docker-group trap: `usermod -aG docker` does not reach the open session. labprov
/// must reconnect, or minikube (which calls docker as the user) is refused by the daemon.
#[test]
fn docker_group_is_picked_up_by_reconnecting() {
    let world = World::start(1);
    let before = world.ssh_counts("h1").0;
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(
        up.step("h1", "cluster")["kind"],
        "changed",
        "{}",
        up.explain()
    );
    assert_eq!(
        world.ssh_counts("h1").0 - before,
        2,
        "one reconnect after the group change"
    );
    let starts = world.calls_of("h1", "minikube", "start");
    assert_eq!(starts.len(), 1, "minikube start ran once: {starts:?}");
    assert_eq!(starts[0]["exit"], 0);
    assert_ne!(
        starts[0]["uid"], 0,
        "minikube runs as the login user, not root"
    );
}

/// The root trap: minikube's docker driver refuses root without --force.
#[test]
fn root_login_user_gets_minikube_with_force() {
    let world = World::start(1);
    let profile = world.profile_plus("root.toml", "");
    let text = std::fs::read_to_string(&profile)
        .unwrap()
        .replace("user = \"student\"", "user = \"root\"");
    std::fs::write(&profile, text).unwrap();
    let up = world.labprov_with(&profile, &["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    let starts = world.calls_of("h1", "minikube", "start");
    assert_eq!(starts.len(), 1, "minikube start ran once: {starts:?}");
    let start = &starts[0];
    assert_eq!(start["uid"], 0);
    assert_eq!(start["exit"], 0, "{start}");
    assert!(
        start["argv"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "--force"),
        "{start}"
    );
}

#[test]
fn corrupted_artifact_fails_its_step_only() {
    let world = World::start(1);
    let kubectl = world.mirror_file("kubectl/release/v1.37.1/bin/linux/amd64/kubectl");
    let good = std::fs::read_to_string(kubectl.with_extension("sha256")).unwrap_or_default();
    std::fs::write(&kubectl, b"#!/bin/sh\necho tampered\n").unwrap();
    let bad = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"#!/bin/sh\necho tampered\n"))
    };
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 1, "{}", up.explain());
    let step = up.step("h1", "kubectl");
    assert_eq!(step["kind"], "failed");
    let detail = step["detail"].as_str().unwrap();
    let url = "http://10.210.";
    assert!(
        detail.contains("sha256 mismatch for ") && detail.contains(url),
        "{detail}"
    );
    assert!(
        detail.contains(&format!(
            "expected {}",
            good.split_whitespace().next().unwrap_or("?")
        )),
        "{detail}"
    );
    assert!(detail.contains(&format!("got {bad}")), "{detail}");
    assert!(
        !world.host_file("h1", "/usr/local/bin/kubectl").exists(),
        "nothing at the final path"
    );
    assert!(
        !world
            .host_file("h1", "/usr/local/bin/kubectl.labprov-new")
            .exists()
    );
    // Steps that do not need kubectl still converge; istio, which does, is skipped.
    for s in ["docker", "minikube", "istioctl", "cluster", "addons"] {
        assert_eq!(up.step("h1", s)["kind"], "changed", "{s}: {}", up.explain());
    }
    assert_eq!(up.step("h1", "dns")["kind"], "ok");
    assert_eq!(up.step("h1", "istio")["kind"], "skipped");
    assert_eq!(up.step("h1", "istio")["detail"], "skipped: needs kubectl");
}

#[test]
fn broken_node_dns_is_fixed_once() {
    let world = World::start_with(1, &["--dns-broken"]);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(up.step("h1", "dns")["kind"], "changed");
    assert_eq!(
        up.step("h1", "dns")["detail"],
        "fixed node DNS: nameserver 8.8.8.8"
    );
    let resolv = world.host_file("h1", "/home/student/.minikube/standin/node/etc/resolv.conf");
    assert_eq!(
        std::fs::read_to_string(&resolv).unwrap(),
        "nameserver 8.8.8.8\n"
    );
    let backup = world.host_file(
        "h1",
        "/home/student/.minikube/standin/node/etc/resolv.conf.labprov.bak",
    );
    assert!(
        std::fs::read_to_string(backup)
            .unwrap()
            .contains("10.0.0.10")
    );
    let again = world.labprov(&["up"]);
    let n = again.steps_of("h1");
    assert!(n > 2, "{}", again.explain());
    assert_eq!(again.tally("h1"), (n, 0, 0), "{}", again.explain());
}

#[test]
fn working_node_dns_is_left_alone() {
    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(
        up.step("h1", "dns")["kind"],
        "ok",
        "probe passed after start: nothing rewritten"
    );
    assert!(
        !world
            .host_file(
                "h1",
                "/home/student/.minikube/standin/node/etc/resolv.conf.labprov.bak"
            )
            .exists()
    );
}

#[test]
fn push_mode_streams_artifacts_from_the_controller() {
    let world = World::start(2);
    let profile = world.push_profile();
    let up = world.labprov_with(&profile, &["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    let log = world.mirror_log();
    for artifact in [
        "minikube-linux-amd64 ",
        "bin/linux/amd64/kubectl ",
        "istio-1.31.1-linux-amd64.tar.gz ",
    ] {
        let fetched = log
            .lines()
            .filter(|l| l.starts_with("GET ") && l.contains(artifact))
            .count();
        assert_eq!(
            fetched, 1,
            "{artifact} fetched once for the whole class:\n{log}"
        );
    }
    // What labprov keeps, on the controller and on the hosts, is its owner's alone: the
    // journals hold stderr tails and URLs, the cache what the class downloads.
    let mut seen = Vec::new();
    for (root, want_files) in [
        (world.dir.join("controller-state/labprov"), 2),
        (world.dir.join("controller-cache/labprov"), 3),
    ] {
        let mut files = 0;
        let mut stack = vec![root.clone()];
        while let Some(p) = stack.pop() {
            let meta = std::fs::metadata(&p).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                assert_eq!(
                    mode,
                    0o700,
                    "{} is a directory others can read",
                    p.display()
                );
                stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else {
                assert_eq!(mode, 0o600, "{} is a file others can read", p.display());
                files += 1;
                seen.push(p);
            }
        }
        assert!(
            files >= want_files,
            "too few files under {}: {seen:?}",
            root.display()
        );
    }
    for host in ["h1", "h2"] {
        let out = world.exec(
            host,
            Some("student"),
            &[
                "sh",
                "-c",
                "cd && stat -c '%a %n' .local/state/labprov .local/state/labprov/host \
                 .local/state/labprov/host/manifests.json .local/state/labprov-lock \
                 .local/state/labprov-lock/lock",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{host}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let modes: Vec<&str> = text.lines().filter_map(|l| l.split(' ').next()).collect();
        assert_eq!(modes, ["700", "700", "600", "700", "600"], "{host}: {text}");
    }
}

/// The argument lists of `minikube start` on a host, in call order.
fn start_argvs(world: &World, host: &str) -> Vec<Vec<String>> {
    world
        .calls_of(host, "minikube", "start")
        .iter()
        .map(common::argv)
        .collect()
}

/// The world's profile with the `[cluster]` table's keys replaced by (or extended with) `keys`.
fn with_cluster(world: &World, name: &str, keys: &[(&str, &str)]) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&world.profile).unwrap();
    assert!(text.contains("\n[cluster]\n"), "{text}");
    let mut out = String::new();
    let mut in_cluster = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_cluster = line == "[cluster]";
            out.push_str(line);
            out.push('\n');
            if in_cluster {
                for (k, v) in keys {
                    out.push_str(&format!("{k} = {v}\n"));
                }
            }
            continue;
        }
        let key = line.split('=').next().unwrap_or("").trim();
        if in_cluster && keys.iter().any(|(k, _)| *k == key) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    let path = world.dir.join(name);
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn drifted_cluster_is_reported_not_recreated() {
    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    // Positive control: the matcher sees the first up's `minikube start`, with the world's
    // memory, and no delete.
    let first = start_argvs(&world, "h1");
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].iter().any(|a| a == "--memory=4096mb"), "{first:?}");
    assert_eq!(world.calls_of("h1", "minikube", "delete").len(), 0);

    let profile = with_cluster(&world, "drift.toml", &[("memory", "\"6g\"")]);
    let plan = world.labprov_with(&profile, &["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.explain());
    let cluster = plan
        .events
        .iter()
        .find(|e| e["type"] == "plan" && e["step"] == "cluster")
        .unwrap_or_else(|| panic!("no plan for cluster: {}", plan.explain()));
    assert_eq!(cluster["state"], "blocked");
    assert_eq!(
        cluster["reasons"][0],
        "running cluster has Memory 4096, profile wants 6144"
    );

    let up = world.labprov_with(&profile, &["up"]);
    let deletes = world.calls_of("h1", "minikube", "delete");
    assert_eq!(
        deletes.len(),
        0,
        "never recreated behind the user's back: {deletes:?}"
    );
    assert_eq!(
        start_argvs(&world, "h1"),
        first,
        "no second `minikube start` after the drift"
    );
    assert_eq!(up.code, 1, "{}", up.explain());
    assert_eq!(
        up.step("h1", "cluster")["kind"],
        "failed",
        "{}",
        up.explain()
    );

    // Positive control for the delete matcher: `down` does delete the cluster.
    let down = world.labprov_with(&profile, &["down", "--yes"]);
    assert_eq!(down.code, 0, "{}", down.explain());
    assert_eq!(world.calls_of("h1", "minikube", "delete").len(), 1);
}

/// Every cluster setting away from labprov's defaults (auto CPUs and memory, v1.37.0, cilium,
/// metrics-server + dashboard) reaches minikube: a dropped flag would fall back to a default
/// and go unnoticed if the expected values were the defaults.
#[test]
fn non_default_cluster_settings_reach_minikube() {
    let world = World::start(1);
    let profile = with_cluster(
        &world,
        "cluster.toml",
        &[
            // The world's machines have 2 CPUs: the only count above minikube's minimum.
            ("cpus", "2"),
            ("memory", "\"3g\""),
            ("kubernetes_version", "\"v1.36.4\""),
            ("cni", "\"calico\""),
            ("addons", "[\"ingress\", \"metrics-server\"]"),
        ],
    );
    let up = world.labprov_with(&profile, &["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(
        start_argvs(&world, "h1"),
        [[
            "start",
            "--driver=docker",
            "--cni=calico",
            "--kubernetes-version=v1.36.4",
            "--cpus=2",
            "--memory=3072mb",
        ]],
        "the whole argv of minikube start"
    );
    let enabled: Vec<String> = world
        .calls_of("h1", "minikube", "addons")
        .iter()
        .filter(|c| c["argv"][1] == "enable")
        .map(|c| c["argv"][2].as_str().unwrap().to_string())
        .collect();
    assert_eq!(enabled, ["ingress", "metrics-server"]);
    // And the cluster minikube reports is the one the profile asks for.
    let plan = world.labprov_with(&profile, &["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.explain());
    plan.assert_states("h1", &UP_STEPS, "converged");
}
