//! A cluster that fits the VM (README, `cluster.cpus`, `.memory`): on a VM sold as 4 CPUs and
//! 8 GB, whose runtime reports 7940 MB, `auto` picks what fits and converges, while an explicit
//! `memory = "8g"` is refused by `plan` at `cluster` with both numbers, and `up` installs
//! nothing.

mod common;
mod support;

use std::path::PathBuf;

use common::World;
use support::state;

/// This world's profile with `[cluster]` `cpus` and `memory` set as given.
fn with_cluster(world: &World, name: &str, cpus: &str, memory: &str) -> PathBuf {
    let mut table: toml::Table =
        toml::from_str(&std::fs::read_to_string(&world.profile).unwrap()).unwrap();
    let cluster = table
        .get_mut("cluster")
        .and_then(|c| c.as_table_mut())
        .expect("the world's profile has a [cluster] table");
    let cpus = match cpus.parse::<i64>() {
        Ok(n) => toml::Value::Integer(n),
        Err(_) => toml::Value::String(cpus.into()),
    };
    cluster.insert("cpus".into(), cpus);
    cluster.insert("memory".into(), toml::Value::String(memory.into()));
    let path = world.dir.join(name);
    std::fs::write(&path, toml::to_string(&table).unwrap()).unwrap();
    path
}

/// What the stand-ins were asked to install or start so far on h1.
fn installs(world: &World) -> Vec<serde_json::Value> {
    world
        .calls("h1")
        .into_iter()
        .filter(|c| {
            c["tool"] == "apt-get"
                || (c["tool"] == "minikube" && common::subcommand(c).as_deref() == Some("start"))
        })
        .collect()
}

#[test]
fn auto_fits_an_8_gb_vm_and_8g_is_refused_before_anything_is_installed() {
    let world = World::start_with(1, &["--runtime-cpus", "4", "--runtime-mem-mb", "7940"]);

    // 8g cannot fit 7940 MB: plan blocks at cluster naming both (and facts, so that up
    // stops before the first install), with Terraform's exit code.
    let eight = with_cluster(&world, "8g.toml", "auto", "8g");
    let plan = world.labprov_with(&eight, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 1, "{}", plan.explain());
    let why = "cluster.memory = 8g (8192 MB) is more than the 7940 MB this host has";
    let cluster = state(&plan, "h1", "cluster");
    assert_eq!(cluster["state"], "blocked", "{}", plan.explain());
    let reasons = cluster["reasons"].to_string();
    assert!(reasons.contains(why), "{reasons}");
    let facts = state(&plan, "h1", "facts");
    assert_eq!(facts["state"], "blocked", "{}", plan.explain());
    assert!(
        facts["reasons"][0].as_str().unwrap().contains(why),
        "{facts}"
    );

    let up = world.labprov_with(&eight, &["up"]);
    assert_eq!(up.code, 1, "{}", up.explain());
    let refused = up.step("h1", "facts");
    assert_eq!(refused["kind"], "failed", "{}", up.explain());
    assert!(
        refused["detail"].as_str().unwrap().contains(why),
        "{refused}"
    );
    assert_eq!(installs(&world), Vec::<serde_json::Value>::new());
    assert!(!world.host_file("h1", "/usr/local/bin/minikube").exists());

    // auto: 7940 MB less 1024, and the VM's 4 CPUs; plan says so before anything is there.
    let auto = with_cluster(&world, "auto.toml", "auto", "auto");
    let plan = world.labprov_with(&auto, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.explain());
    assert_eq!(state(&plan, "h1", "facts")["state"], "converged");
    let cluster = state(&plan, "h1", "cluster");
    assert_eq!(cluster["state"], "needs-change", "{}", plan.explain());
    let reasons = cluster["reasons"].to_string();
    assert!(
        reasons.contains("will start it with 4 CPUs and 6916 MB (memory auto: 7940 MB less 1024"),
        "{reasons}"
    );

    let up = world.labprov_with(&auto, &["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    // The installs the refused run did not make (seen, so their absence above meant something).
    let made = installs(&world);
    assert!(made.iter().any(|c| c["tool"] == "apt-get"), "{made:?}");
    assert!(world.host_file("h1", "/usr/local/bin/minikube").is_file());
    let start = world.calls_of("h1", "minikube", "start");
    assert_eq!(start.len(), 1, "{start:?}");
    let argv = common::argv(&start[0]);
    assert!(
        argv.contains(&"--cpus=4".to_string()) && argv.contains(&"--memory=6916mb".to_string()),
        "{argv:?}"
    );

    // status shows what the running cluster got; plan has nothing left to change.
    let status = world.labprov_with(&auto, &["status"]);
    assert_eq!(status.code, 0, "{}", status.explain());
    let cluster = state(&status, "h1", "cluster");
    assert_eq!(cluster["state"], "converged", "{}", status.explain());
    assert_eq!(cluster["reasons"][0], "running with 4 CPUs and 6916 MB");
    let plan = world.labprov_with(&auto, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.explain());
}
