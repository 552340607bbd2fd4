//! Ctrl-C and SIGTERM mid-apply (README, "Interrupting a run"): the run stops starting
//! steps, gives the running remote command `run.grace_period`, stops it and its children on
//! the host, records every step that did not run as `interrupted` in the JSON lines, the
//! summary and the journal, removes its temp dirs and ssh masters on this machine, and exits
//! 130 (SIGINT) or 143 (SIGTERM). A re-run converges.

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::World;
use serde_json::Value;
use support::{Background, poll};

/// argv[0] of the hour-long `sleep` the slow apt-get runs (its child on the host).
const MARKER: &str = "labprov-test-slow-apt-install";

/// Make `apt-get install docker-ce ...` on `host` take an hour (a mirror that stalls),
/// by binding a wrapper over the world's apt-get stand-in; the wrapper's `sleep` child is
/// what must be gone afterwards. Undone by [`fast_apt`].
fn slow_apt(world: &World, host: &str) {
    let wrapper = world.dir.join("slow-apt-get");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/bash\n\
             # tests/interrupt_clean.rs: installing docker-ce stalls for an hour, then goes on.\n\
             case \" $* \" in *\" docker-ce \"*) (exec -a {MARKER} sleep 3600) ;; esac\n\
             exec /usr/lib/labprov-world/standins/apt-get \"$@\"\n"
        ),
    )
    .unwrap();
    let script = format!(
        "chmod 0755 {w} && mount --bind {w} /usr/bin/apt-get",
        w = wrapper.display()
    );
    support::host_sh(world, host, None, &script);
}

fn fast_apt(world: &World, host: &str) {
    support::host_sh(world, host, None, "umount /usr/bin/apt-get");
}

/// The processes of `host` that are part of the slow install: the apt-get wrapper and its
/// `sleep`.
fn install_processes(world: &World, host: &str) -> Vec<String> {
    support::host_processes(world, host)
        .into_iter()
        .filter(|p| p.contains(MARKER) || p.contains("/usr/bin/apt-get"))
        .collect()
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// SIGNAL while the docker step's install runs; everything the user sees afterwards.
fn interrupt_mid_apply(signal: &str, code: i32, name: &str) {
    let world = World::start(1);
    let profile = world.profile_plus("grace.toml", "[run]\ngrace_period = 2\n");
    slow_apt(&world, "h1");
    // labprov's own TMPDIR: its jump host config dir and ssh master dirs go there, apart
    // from other runs on this machine.
    let tmp: PathBuf = world.dir.join(format!("controller-tmp-{signal}"));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut up = Background::start_env(&world, &profile, &["up"], &[("TMPDIR", &tmp)]);

    // The step is running once its install's `sleep` shows in the host's process list
    // (this also shows the "gone" check below sees the processes when they are there).
    let running = poll(
        "the slow docker-ce install to run",
        Duration::from_secs(300),
        || {
            assert!(!up.exited(), "labprov ended before the install ran");
            let p = install_processes(&world, "h1");
            p.iter().any(|l| l.contains(MARKER)).then_some(p)
        },
    );
    assert!(
        running.iter().any(|l| l.contains("/usr/bin/apt-get")),
        "the apt-get wrapper itself runs too: {running:?}"
    );
    let during = entries(&tmp);
    assert!(
        during.iter().any(|e| e.starts_with("labprov-ssh"))
            && during.iter().any(|e| e.starts_with(".ssh-connection")),
        "while it runs, labprov's jump config and masters are in its TMPDIR: {during:?}"
    );

    up.signal(signal);
    let run = up.finish(Duration::from_secs(180));
    assert_eq!(run.code, code, "{}", run.explain());

    // The summary is the last line and counts what did not run.
    let summary = run.summary();
    assert_eq!(summary["interrupted"], name, "{}", run.explain());
    let tally = &summary["hosts"]["h1"];
    assert!(
        tally["interrupted"].as_u64().unwrap_or(0) >= 2,
        "the docker step and every later one are interrupted: {tally}\n{}",
        run.explain()
    );
    let docker = run.step("h1", "docker");
    assert_eq!(docker["kind"], "interrupted", "{}", run.explain());
    assert_eq!(docker["error"]["kind"], "interrupted");
    let after: Vec<&Value> = run
        .events
        .iter()
        .filter(|e| e["type"] == "step" && e["host"] == "h1")
        .skip_while(|e| e["step"] != "docker")
        .collect();
    assert!(
        after.iter().all(|e| e["kind"] == "interrupted"),
        "no step starts after the signal: {after:?}"
    );
    assert_eq!(
        after.len() as u64,
        tally["interrupted"].as_u64().unwrap(),
        "the tally counts the interrupted steps"
    );
    assert!(
        run.stderr.contains(name),
        "the user is told: {}",
        run.stderr
    );

    // The journal was written and says the same.
    let path = run
        .events
        .iter()
        .find(|e| e["type"] == "journal")
        .and_then(|e| e["path"].as_str())
        .unwrap_or_else(|| panic!("no journal line:\n{}", run.explain()));
    let journal: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(journal["interrupted"], name);
    assert_eq!(journal["hosts"]["h1"]["interrupted"], true);
    let outcomes: Vec<&str> = journal["hosts"]["h1"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "interrupted").count(),
        after.len(),
        "{journal}"
    );

    // Nothing of the install is left running on the host.
    poll(
        "the slow install to be gone from the host",
        Duration::from_secs(60),
        || install_processes(&world, "h1").is_empty().then_some(()),
    );
    // No temp dir or master of the run is left on this machine.
    poll(
        "labprov's TMPDIR to be empty",
        Duration::from_secs(30),
        || entries(&tmp).is_empty().then_some(()),
    );

    // A re-run (the mirror fast again) converges.
    fast_apt(&world, "h1");
    let again = world.labprov(&["up"]);
    assert_eq!(again.code, 0, "{}", again.explain());
    let (_, _, failed) = again.tally("h1");
    assert_eq!(failed, 0, "{}", again.explain());
    assert_eq!(again.summary()["hosts"]["h1"]["interrupted"], 0);
    assert!(again.summary().get("interrupted").is_none());
}

#[test]
fn sigint_mid_apply_stops_the_remote_install_and_finishes_the_run() {
    interrupt_mid_apply("INT", 130, "SIGINT");
}

#[test]
fn sigterm_mid_apply_stops_the_remote_install_and_finishes_the_run() {
    interrupt_mid_apply("TERM", 143, "SIGTERM");
}

/// A second Ctrl-C does not wait for the grace period (an hour here): labprov quits at once.
#[test]
fn a_second_sigint_quits_at_once() {
    let world = World::start(1);
    let profile = world.profile_plus("grace.toml", "[run]\ngrace_period = 3600\n");
    slow_apt(&world, "h1");
    let mut up = Background::start(&world, &profile, &["up"]);
    poll(
        "the slow docker-ce install to run",
        Duration::from_secs(300),
        || {
            assert!(!up.exited(), "labprov ended before the install ran");
            install_processes(&world, "h1")
                .iter()
                .any(|l| l.contains(MARKER))
                .then_some(())
        },
    );
    up.signal("INT");
    // The first signal is taken (the user is told so) before the second comes.
    let err = world.dir.clone();
    poll(
        "labprov to acknowledge the first Ctrl-C",
        Duration::from_secs(60),
        || {
            entries(&err)
                .iter()
                .filter(|e| e.starts_with("labprov-") && e.ends_with(".err"))
                .any(|e| {
                    std::fs::read_to_string(err.join(e))
                        .unwrap_or_default()
                        .contains("again to quit at once")
                })
                .then_some(())
        },
    );
    assert!(
        !up.exited(),
        "with an hour of grace, one Ctrl-C does not end the run"
    );
    up.signal("INT");
    let run = up.finish(Duration::from_secs(120));
    assert_eq!(run.code, 130, "{}", run.explain());
    assert!(run.stderr.contains("quitting at once"), "{}", run.explain());
}
