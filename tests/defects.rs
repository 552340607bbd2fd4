//! Defects found running labprov as a user would (issue 17), each pinned by what the user
//! sees: the packages left on a host, where the fleet benchmark looks for its binary, and
//! what `apply` and `plan` say about bundles the profile does not select.

mod common;
mod support;

use common::World;
use support::labprov_plain;

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

fn notes(run: &common::Run) -> Vec<&str> {
    run.events
        .iter()
        .filter(|e| e["type"] == "note")
        .map(|e| e["message"].as_str().unwrap())
        .collect()
}

const UNSELECTED_NOTE: &str = "routing-weighted is not in lab.bundles: the next `labprov up` \
                               will remove it; add it to lab.bundles to keep it.";

#[test]
fn apply_of_an_unselected_bundle_says_up_will_remove_it_and_plan_says_why() {
    let world = World::start(1);
    assert_eq!(world.labprov(&["up"]).code, 0);

    // A bundle the profile selects stays: nothing to say.
    let selected = world.labprov(&["apply", "destination-rules"]);
    assert_eq!(selected.code, 0, "{}", selected.explain());
    assert_eq!(notes(&selected), Vec::<&str>::new());

    let apply = world.labprov(&["apply", "routing-weighted"]);
    assert_eq!(apply.code, 0, "{}", apply.explain());
    assert_eq!(
        apply.step("h1", "manifests")["detail"],
        "1 to create, 0 to change, 0 to prune"
    );
    assert_eq!(notes(&apply), [UNSELECTED_NOTE], "{}", apply.explain());
    let run = labprov_plain(&world, &world.profile, &["apply", "routing-weighted"]);
    assert_eq!(run.code, 0, "{}", run.explain());
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(text.lines().any(|l| l == UNSELECTED_NOTE), "{text}");

    // plan names the bundle of what `up` would prune, and why.
    let plan = world.labprov(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.explain());
    let objects: Vec<&serde_json::Value> = plan
        .events
        .iter()
        .filter(|e| e["type"] == "object")
        .collect();
    assert_eq!(
        objects,
        [
            &serde_json::json!({"type": "object", "host": "h1", "action": "prune",
            "bundle": "routing-weighted", "object": "VirtualService default/reviews",
            "reason": "not selected in lab.bundles"})
        ],
        "{}",
        plan.explain()
    );
    let run = labprov_plain(&world, &world.profile, &["plan"]);
    assert_eq!(run.code, 0, "{}", run.explain());
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(
        text.lines().any(|l| l
            == "      - prune  VirtualService default/reviews (routing-weighted): not selected in lab.bundles"),
        "{text}"
    );

    // Which is what `up` then does.
    let up = world.labprov(&["up"]);
    assert_eq!(
        up.step("h1", "manifests")["detail"],
        "0 to create, 0 to change, 1 to prune"
    );

    // Selected in the profile, the same apply has nothing to warn about.
    let weighted = world.profile_plus(
        "weighted.toml",
        "[lab]\nbundles = [\"hello-node\", \"bookinfo\", \"destination-rules\", \
         \"routing-weighted\", \"addons\"]\n",
    );
    let apply = world.labprov_with(&weighted, &["apply", "routing-weighted"]);
    assert_eq!(apply.code, 0, "{}", apply.explain());
    assert_eq!(
        apply.step("h1", "manifests")["detail"],
        "1 to create, 0 to change, 0 to prune"
    );
    assert_eq!(notes(&apply), Vec::<&str>::new());

    // An object of a selected bundle that the profile no longer renders is pruned for that.
    let renamed = world.profile_plus("renamed.toml", "[lab]\nlegacy_namespace = \"old-apps\"\n");
    let run = labprov_plain(&world, &renamed, &["plan"]);
    assert_eq!(run.code, 0, "{}", run.explain());
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(
        text.lines().any(|l| l
            == "      - prune  Namespace legacy (hello-node): no longer rendered from the profile"),
        "{text}"
    );
}
