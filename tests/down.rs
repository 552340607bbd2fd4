//! `down` and `reset`: removing what `up` made, idempotently, and rebuilding one host's
//! cluster without touching the others.

mod common;

use common::{UP_STEPS, World};

#[test]
fn down_twice_then_up_again_then_purge() {
    let world = World::start(1);
    assert_eq!(world.labprov(&["up"]).code, 0);

    let down = world.labprov(&["down", "--yes"]);
    assert_eq!(down.code, 0, "{}", down.explain());
    for step in ["delete-objects", "uninstall-istio", "delete-cluster"] {
        assert_eq!(
            down.step("h1", step)["kind"],
            "changed",
            "{step}: {}",
            down.explain()
        );
    }
    let minikube_deletes = |w: &World| w.calls_of("h1", "minikube", "delete").len();
    assert_eq!(
        minikube_deletes(&world),
        1,
        "the first down deleted the cluster"
    );
    assert!(
        world.host_file("h1", "/usr/local/bin/minikube").exists(),
        "binaries stay"
    );

    let again = world.labprov(&["down", "--yes"]);
    assert_eq!(again.code, 0, "{}", again.explain());
    assert!(again.steps_of("h1") > 0, "{}", again.explain());
    assert_eq!(
        again.tally("h1"),
        (again.steps_of("h1"), 0, 0),
        "a second down changes nothing"
    );
    assert_eq!(minikube_deletes(&world), 1);

    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(up.step("h1", "cluster")["kind"], "changed");
    assert_eq!(
        up.step("h1", "minikube")["kind"],
        "ok",
        "binaries were reused"
    );

    let purge = world.labprov(&["down", "--yes", "--purge"]);
    assert_eq!(purge.code, 0, "{}", purge.explain());
    for path in [
        "/usr/local/bin/minikube",
        "/usr/local/bin/kubectl",
        "/usr/local/bin/istioctl",
        "/opt/labprov/istio-1.31.1",
        "/home/student/.local/state/labprov",
        "/home/student/.minikube",
    ] {
        assert!(!world.host_file("h1", path).exists(), "{path} left behind");
    }
    assert!(
        world.host_file("h1", "/usr/bin/docker").exists(),
        "Docker stays without --purge-docker"
    );
    let again = world.labprov(&["down", "--yes", "--purge"]);
    assert_eq!(again.code, 0, "{}", again.explain());
    let (_, changed, failed) = again.tally("h1");
    assert_eq!((changed, failed), (0, 0), "{}", again.explain());
}

#[test]
fn down_refuses_without_yes_when_nobody_can_answer() {
    let world = World::start(1);
    let before = world.contacts();
    let out = common::labprov()
        .args(["--profile", world.profile.to_str().unwrap(), "down"])
        .env("XDG_STATE_HOME", world.dir.join("controller-state"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let run = common::Run::new(out);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: Remove the lab (objects, Istio, the cluster) on h1? Refusing without --yes: stdin is not a terminal\n"
    );
    assert_eq!(
        world.contacts().since(&before),
        Default::default(),
        "nothing contacted, not even the bastion"
    );
    // Positive control: with --yes the same count sees the bastion and the host.
    let down = world.labprov(&["down", "--yes"]);
    assert_eq!(down.code, 0, "{}", down.explain());
    let seen = world.contacts().since(&before);
    assert!(
        seen.contains_key("bastion") && seen.contains_key("h1"),
        "{seen:?}"
    );
}

#[test]
fn reset_rebuilds_only_the_limited_host() {
    let world = World::start(3);
    assert_eq!(world.labprov(&["up"]).code, 0);
    let calls = |h: &str| world.calls(h).len();
    let before: Vec<usize> = ["h1", "h2", "h3"].iter().map(|h| calls(h)).collect();
    let contacts = world.contacts();

    let reset = world.labprov(&["reset", "--yes", "--limit", "h2"]);
    assert_eq!(reset.code, 0, "{}", reset.explain());
    assert_eq!(reset.step("h2", "delete-cluster")["kind"], "changed");
    assert_eq!(reset.step("h2", "cluster")["kind"], "changed");
    assert_eq!(
        reset.step("h2", "minikube")["kind"],
        "ok",
        "binaries reused"
    );
    let created = reset.step("h2", "manifests")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        created.ends_with("to create, 0 to change, 0 to prune") && !created.starts_with("0 "),
        "{created}"
    );
    let hosts: Vec<&String> = reset.summary()["hosts"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(hosts, ["h2"]);

    // The same counts see h2's calls and connections (positive control) and none elsewhere.
    let after: Vec<usize> = ["h1", "h2", "h3"].iter().map(|h| calls(h)).collect();
    assert!(after[1] > before[1], "h2's stand-in calls are counted");
    assert_eq!(
        (after[0], after[2]),
        (before[0], before[2]),
        "no stand-in call on the other hosts"
    );
    let seen: Vec<String> = world.contacts().since(&contacts).into_keys().collect();
    assert_eq!(
        seen,
        ["bastion", "h2"],
        "the other hosts were not even contacted"
    );

    let status = world.labprov(&["status"]);
    assert_eq!(status.code, 0, "{}", status.explain());
    for h in ["h1", "h2", "h3"] {
        status.assert_states(h, &UP_STEPS, "converged");
    }
}

#[test]
fn purge_docker_removes_docker_and_its_source_too() {
    let world = World::start(1);
    assert_eq!(world.labprov(&["up"]).code, 0);
    let down = world.labprov(&["down", "--yes", "--purge", "--purge-docker"]);
    assert_eq!(down.code, 0, "{}", down.explain());
    assert_eq!(down.step("h1", "remove-docker")["kind"], "changed");
    let purged = world.calls("h1").iter().any(|c| {
        c["tool"] == "apt-get"
            && c["argv"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "purge"))
    });
    assert!(purged, "docker-ce was purged with apt-get");
    // The stand-in's dpkg state: docker-ce no longer installed.
    let out = world.exec("h1", None, &["dpkg-query", "-W", "docker-ce"]);
    assert!(!out.status.success(), "docker-ce still installed");
    assert!(
        !world
            .host_file("h1", "/etc/apt/sources.list.d/docker.sources")
            .exists()
    );
    assert!(
        !world
            .host_file("h1", "/etc/apt/keyrings/docker.asc")
            .exists()
    );
    let again = world.labprov(&["down", "--yes", "--purge", "--purge-docker"]);
    assert_eq!(
        again.step("h1", "remove-docker")["kind"],
        "ok",
        "{}",
        again.explain()
    );
}
