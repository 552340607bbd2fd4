//! The docker step on a host that already had a go at Docker (README, "Steps"): Docker's
//! documented install removes the conflicting `docker.io` first, and labprov removes a legacy
//! `/etc/apt/sources.list.d/docker.list` (and nothing else) beside its deb822 source.

mod common;
mod support;

use common::World;
use support::{host_sh, state};

fn dpkg_status(world: &World, package: &str) -> String {
    // dpkg-query exits 1 for a package it does not know; the status text is what counts.
    let out = world.exec(
        "h1",
        Some(&world.user),
        &["dpkg-query", "-W", "-f=${Status}", package],
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sources_d(world: &World) -> Vec<String> {
    let ls = host_sh(world, "h1", None, "ls -A /etc/apt/sources.list.d");
    ls.lines().map(String::from).collect()
}

#[test]
fn docker_io_is_removed_first_and_a_legacy_docker_list_goes_alone() {
    let world = World::start(1);
    let repo = format!("http://10.210.{}.2:8080/docker/linux/ubuntu", world.id);
    // A student's earlier try: Ubuntu's docker.io (and runc), and Docker's repository added
    // the way Docker's guide said until 2025 (docker.asc + a one-line docker.list); a
    // docker.list.save that a release upgrade left (apt ignores it) must stay.
    let legacy =
        format!("deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] {repo} noble stable\n");
    std::fs::write(world.dir.join("docker.list"), &legacy).unwrap();
    host_sh(
        &world,
        "h1",
        None,
        &format!(
            "set -e
echo 'preinstalled=\"docker.io runc\"' >>/etc/labprov-world.conf
install -d -m 0755 /etc/apt/keyrings
install -m 0644 {mirror}/docker/linux/ubuntu/gpg /etc/apt/keyrings/docker.asc
install -m 0644 {dir}/docker.list /etc/apt/sources.list.d/docker.list
install -m 0644 {dir}/docker.list /etc/apt/sources.list.d/docker.list.save",
            mirror = world.dir.join("mirror/root").display(),
            dir = world.dir.display()
        ),
    );
    assert_eq!(dpkg_status(&world, "docker.io"), "install ok installed");
    assert_eq!(dpkg_status(&world, "runc"), "install ok installed");
    let before = sources_d(&world);
    assert!(
        before.contains(&"docker.list".to_string())
            && before.contains(&"ubuntu.sources".to_string()),
        "{before:?}"
    );

    let plan = world.labprov(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.explain());
    let docker = state(&plan, "h1", "docker");
    assert_eq!(docker["state"], "needs-change");
    assert!(
        docker["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "legacy /etc/apt/sources.list.d/docker.list present"),
        "{docker}"
    );

    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(up.step("h1", "docker")["kind"], "changed");
    // What it did, in order, in the user's terms (docker.io was there, docker-ce was not).
    assert_eq!(
        up.step("h1", "docker")["detail"],
        "removed docker.io, runc (they conflict with docker-ce); removed the legacy docker.list; \
         installed docker-ce 28.5.1 from Docker's repository; added student to docker"
    );

    // docker.io and runc went first, by name, before Docker's packages came in.
    let apt: Vec<Vec<String>> = world
        .calls("h1")
        .into_iter()
        .filter(|c| c["tool"] == "apt-get")
        .map(|c| common::argv(&c))
        .collect();
    let remove = apt
        .iter()
        .position(|a| a.contains(&"remove".into()))
        .unwrap_or_else(|| panic!("no apt-get remove: {apt:?}"));
    assert!(
        apt[remove].contains(&"docker.io".into()) && apt[remove].contains(&"runc".into()),
        "{:?}",
        apt[remove]
    );
    let install = apt
        .iter()
        .position(|a| a.contains(&"docker-ce".into()))
        .unwrap_or_else(|| panic!("no docker-ce install: {apt:?}"));
    assert!(remove < install, "{apt:?}");
    assert_ne!(dpkg_status(&world, "docker.io"), "install ok installed");
    assert_eq!(dpkg_status(&world, "docker-ce"), "install ok installed");

    // The legacy list is gone, and only it.
    let mut after = before.clone();
    after.retain(|f| f != "docker.list");
    after.push("docker.sources".into());
    after.sort();
    let mut now = sources_d(&world);
    now.sort();
    assert_eq!(now, after);
    assert_eq!(
        host_sh(
            &world,
            "h1",
            None,
            "cat /etc/apt/sources.list.d/docker.list.save"
        ),
        legacy
    );
    assert!(
        host_sh(
            &world,
            "h1",
            None,
            "cat /etc/apt/sources.list.d/docker.sources"
        )
        .contains(&format!("URIs: {repo}\n"))
    );

    let plan = world.labprov(&["plan"]);
    assert_eq!(
        state(&plan, "h1", "docker")["state"],
        "converged",
        "{}",
        plan.explain()
    );

    // The older guide's docker.list (key in docker.gpg) comes back beside labprov's
    // docker.sources (docker.asc): apt refuses every source while both are there, so the
    // legacy list has to go before labprov's first apt-get update.
    std::fs::write(
        world.dir.join("docker.list"),
        format!("deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.gpg] {repo} noble stable\n"),
    )
    .unwrap();
    host_sh(
        &world,
        "h1",
        None,
        &format!(
            "install -m 0644 {}/docker.list /etc/apt/sources.list.d/docker.list",
            world.dir.display()
        ),
    );
    let refused = world.exec("h1", None, &["apt-get", "update", "-qq"]);
    assert_eq!(refused.status.code(), Some(100));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("E: Conflicting values set for option Signed-By"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(up.step("h1", "docker")["kind"], "changed");
    // Only the list went: Docker was installed, from a source that was right.
    assert_eq!(
        up.step("h1", "docker")["detail"],
        "removed the legacy docker.list"
    );
    let mut now = sources_d(&world);
    now.sort();
    assert_eq!(now, after);
}
