//! Defects found running labprov as a user would (issue 17), each pinned by what the user
//! sees: the packages left on a host, where the fleet benchmark looks for its binary, and
//! what `apply` and `plan` say about bundles the profile does not select.

mod common;

use common::World;

/// Docker's "Uninstall Docker Engine" (docs.docker.com/engine/install/ubuntu/) purges these.
const DOCKER_PACKAGES: [&str; 6] = [
    "containerd.io",
    "docker-buildx-plugin",
    "docker-ce",
    "docker-ce-cli",
    "docker-ce-rootless-extras",
    "docker-compose-plugin",
];

/// `dpkg-query -W` on the host for Docker's packages: one `NAME STATUS` line per package
/// dpkg still knows (installed, or removed with its config files left), sorted by name.
fn docker_packages_known(world: &World) -> String {
    let mut cmd = vec!["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\\n"];
    cmd.extend(DOCKER_PACKAGES);
    let out = world.exec("h1", None, &cmd);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn purge_docker_leaves_none_of_dockers_packages() {
    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    // What Docker's install brings (docker-ce-rootless-extras as a recommended package),
    // as `dpkg -l` shows it: seen here, so its absence below means something.
    assert_eq!(
        docker_packages_known(&world),
        "containerd.io ii \n\
         docker-buildx-plugin ii \n\
         docker-ce ii \n\
         docker-ce-cli ii \n\
         docker-ce-rootless-extras ii \n\
         docker-compose-plugin ii \n"
    );

    let down = world.labprov(&["down", "--yes", "--purge-docker"]);
    assert_eq!(down.code, 0, "{}", down.explain());
    assert_eq!(down.step("h1", "remove-docker")["kind"], "changed");
    assert_eq!(
        docker_packages_known(&world),
        "",
        "Docker's packages left after down --purge-docker"
    );
}

#[test]
fn fleet_bench_runs_the_binary_cargo_builds_under_cargo_target_dir() {
    // Many CI setups move cargo's output with CARGO_TARGET_DIR; the bench's
    // `cargo build --release` then builds there, so that is where it must look.
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fleet-target-dir");
    std::fs::create_dir_all(&target).unwrap();
    let out = std::process::Command::new(common::root().join("bench/fleet"))
        .arg("--print-binary")
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("bench/fleet runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}/release/labprov\n", target.display())
    );
}
