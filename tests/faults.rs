//! Fresh VMs and their mirrors fail in ways a class meets on its first day. Each case breaks one
//! thing in the lab world, shows what the user sees, mends it, and re-runs to convergence.

mod common;

use common::World;

/// The mirror's requests for paths containing `what`, as `(status, body bytes)`.
fn requests(world: &World, what: &str) -> Vec<(u16, u64)> {
    world
        .mirror_log()
        .lines()
        .filter(|l| l.starts_with("GET ") && l.contains(what) && !l.contains(".sha256"))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[2].parse().unwrap_or(0), f[3].parse().unwrap_or(0))
        })
        .collect()
}

#[test]
fn a_busy_mirror_and_a_cut_download_are_retried_a_404_is_reported_at_once() {
    let world = World::start(1);
    std::fs::write(
        world.dir.join("mirror/faults"),
        r#"[
  {"path": "minikube-linux-amd64", "action": "status", "status": 404, "count": 1},
  {"path": "bin/linux/amd64/kubectl", "action": "status", "status": 500, "count": 3},
  {"path": "istio-1.31.1-linux-amd64.tar.gz", "action": "cut", "bytes": 4096, "count": 1}
]"#,
    )
    .unwrap();
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 1, "{}", up.explain());

    // A 404 is the server's answer, not a hiccup: asked once, reported in its words.
    let minikube = up.step("h1", "minikube");
    assert_eq!(minikube["kind"], "failed", "{}", up.explain());
    let detail = minikube["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("answered HTTP 404"), "{detail}");
    assert_eq!(requests(&world, "minikube-linux-amd64"), [(404, 14)]);
    assert!(!world.host_file("h1", "/usr/local/bin/minikube").exists());

    // Three 500s, then the file: the step converges, and the log shows each try.
    assert_eq!(
        up.step("h1", "kubectl")["kind"],
        "changed",
        "{}",
        up.explain()
    );
    let kubectl: Vec<u16> = requests(&world, "bin/linux/amd64/kubectl")
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(kubectl, [500, 500, 500, 200]);

    // A body cut after 4 KiB is fetched again in full.
    assert_eq!(
        up.step("h1", "istioctl")["kind"],
        "changed",
        "{}",
        up.explain()
    );
    let istio = requests(&world, "istio-1.31.1-linux-amd64.tar.gz");
    assert_eq!(istio.len(), 2, "{istio:?}");
    assert_eq!(istio[0], (200, 4096));
    assert!(istio[1].1 > 4096, "{istio:?}");

    // Mended (the 404 rule is spent): the re-run converges.
    let again = world.labprov(&["up"]);
    assert_eq!(again.code, 0, "{}", again.explain());
    assert_eq!(again.step("h1", "minikube")["kind"], "changed");
    assert!(world.host_file("h1", "/usr/local/bin/minikube").exists());
}
