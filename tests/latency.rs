//! `tests/world/start --delay-ms MS` (README, "How it is tested"): labprov reaches the bastion
//! through the delaying proxy, and the world still converges.

mod common;
mod support;

use std::process::Command;
use std::time::Duration;

use common::World;
use support::{Background, poll};

/// Established TCP connections in this (the controller's) network namespace to `dst`
/// (`IP:PORT`), with their processes: `ss`'s lines.
fn established_to(dst: &str) -> Vec<String> {
    let out = Command::new("ss")
        .args(["-Htnp", "state", "established", "dst", dst])
        .output()
        .expect("ss (iproute2) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_world_behind_a_slow_link_converges_through_the_delay_proxy() {
    let world = World::start_with(1, &["--delay-ms", "50"]);
    let proxy = format!("10.210.{}.1:2222", world.id);
    let bastion = format!("10.210.{}.2:22", world.id);
    let profile = std::fs::read_to_string(&world.profile).unwrap();
    assert!(
        profile.contains(&format!("jump = \"bastion@{proxy}\"")),
        "{profile}"
    );
    let proxy_pid = std::fs::read_to_string(world.dir.join("delay-proxy/pid")).unwrap();
    let proxy_pid = proxy_pid.trim();

    // While up runs, labprov's ssh holds a connection to the proxy, and the proxy (and only
    // the proxy) one to the bastion.
    let mut up = Background::start(&world, &world.profile, &["up"]);
    let (to_proxy, to_bastion) = poll(
        "labprov's connection through the proxy",
        Duration::from_secs(120),
        || {
            assert!(!up.exited(), "up ended before its connection was seen");
            let to_proxy = established_to(&proxy);
            let to_bastion = established_to(&bastion);
            (to_proxy.iter().any(|l| l.contains("\"ssh\""))
                && to_bastion
                    .iter()
                    .any(|l| l.contains(&format!("pid={proxy_pid},"))))
            .then_some((to_proxy, to_bastion))
        },
    );
    assert!(
        to_bastion
            .iter()
            .all(|l| l.contains(&format!("pid={proxy_pid},"))),
        "only the proxy talks to the bastion: {to_bastion:?} (to the proxy: {to_proxy:?})"
    );
    let run = up.finish(Duration::from_secs(900));
    assert_eq!(run.code, 0, "{}", run.explain());
    let n = run.steps_of("h1");
    assert_eq!(run.tally("h1"), (2, n - 2, 0), "{}", run.explain());

    let status = world.labprov(&["status"]);
    assert_eq!(status.code, 0, "{}", status.explain());
    let states = status.states("h1");
    assert_eq!(states.len(), 10, "{}", status.explain());
    assert!(states.iter().all(|(_, s)| s == "converged"), "{states:?}");
}
