//! The local transport: labprov run *on* a host (inside a lab-world target's namespaces, as
//! its non-root user) with a profile that has no SSH and no hosts.

mod common;

use common::{Run, World};

#[test]
fn labprov_on_the_host_itself_converges_and_stays_converged() {
    let world = World::start(1);
    let profile = world.local_profile();
    let bin = env!("CARGO_BIN_EXE_labprov");
    let profile = profile.to_str().unwrap();
    let args = [bin, "--profile", profile, "--output", "json", "up"];
    let contacts = world.contacts();

    let first = Run::new(world.exec("h1", Some("student"), &args));
    assert_eq!(first.code, 0, "{}", first.explain());
    let n = first.steps_of("local");
    assert_eq!(first.tally("local"), (2, n - 2, 0), "{}", first.explain());
    // The group added during the run reached minikube through a fresh login (sudo -u).
    let starts = world.calls_of("h1", "minikube", "start");
    assert_eq!(starts.len(), 1, "minikube start ran once: {starts:?}");
    assert_eq!(starts[0]["exit"], 0, "{}", starts[0]);

    let again = Run::new(world.exec("h1", Some("student"), &args));
    assert_eq!(again.code, 0, "{}", again.explain());
    assert_eq!(again.tally("local"), (n, 0, 0), "{}", again.explain());
    assert_eq!(
        world.contacts().since(&contacts),
        Default::default(),
        "no SSH involved"
    );
    // Positive control: the same count sees a run over SSH.
    let status = world.labprov(&["status"]);
    assert_eq!(status.code, 0, "{}", status.explain());
    let seen = world.contacts().since(&contacts);
    assert!(
        seen.contains_key("bastion") && seen.contains_key("h1"),
        "{seen:?}"
    );
}
