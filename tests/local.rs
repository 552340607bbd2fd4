//! The local transport: labprov run *on* a host (inside a lab-world target's namespaces, as
//! its non-root user) with a profile that has no SSH and no hosts.

mod common;

use common::{Run, World};

/// The world's profile without `[ssh]` and `[[hosts]]`: the same mirror, this machine.
fn local_profile(world: &World) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&world.profile).unwrap();
    let mut out = String::new();
    let mut skip = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skip = line == "[ssh]" || line == "[[hosts]]";
        }
        if !skip {
            out.push_str(line);
            out.push('\n');
        }
    }
    let path = world.dir.join("local.toml");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn labprov_on_the_host_itself_converges_and_stays_converged() {
    let world = World::start(1);
    let profile = local_profile(&world);
    let bin = env!("CARGO_BIN_EXE_labprov");
    let profile = profile.to_str().unwrap();
    let args = [bin, "--profile", profile, "--output", "json", "up"];

    let first = Run::new(world.exec("h1", Some("student"), &args));
    assert_eq!(first.code, 0, "{}", first.explain());
    let n = first.steps_of("local");
    assert_eq!(first.tally("local"), (2, n - 2, 0), "{}", first.explain());
    // The group added during the run reached minikube through a fresh login (sudo -u).
    let start = world
        .calls("h1")
        .into_iter()
        .find(|c| c["tool"] == "minikube" && c["argv"][0] == "start")
        .expect("minikube start ran");
    assert_eq!(start["exit"], 0, "{start}");

    let again = Run::new(world.exec("h1", Some("student"), &args));
    assert_eq!(again.code, 0, "{}", again.explain());
    assert_eq!(again.tally("local"), (n, 0, 0), "{}", again.explain());
    assert_eq!(world.ssh_counts("h1"), (0, 0), "no SSH involved");
}
