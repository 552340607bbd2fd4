//! One run per VM at a time (README, "One run per VM at a time"): a second `up` waits for
//! the first one's lock and says who holds it, `--no-wait` refuses naming the holder, `plan`
//! takes no lock; and `--only-failed` reads every run since the last clean one.

mod common;
mod support;

use std::time::Duration;

use common::World;
use support::{Background, poll};

/// argv[0] of the gated apt-get's wait (its child on the host).
const MARKER: &str = "labprov-test-gated-apt-install";

/// `apt-get install docker-ce ...` on `host` waits until the test opens the gate (the file
/// returned), then runs the world's apt-get stand-in: the first run holds its lock as long as
/// the test needs.
fn gated_apt(world: &World, host: &str) -> std::path::PathBuf {
    let gate = world.dir.join("apt-gate");
    let wrapper = world.dir.join("gated-apt-get");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/bash\n\
             # tests/lock.rs: installing docker-ce waits for {gate} (a stalled mirror).\n\
             case \" $* \" in *\" docker-ce \"*)\n\
             \x20 (exec -a {MARKER} bash -c 'until [ -e \"$0\" ]; do sleep 0.2; done' {gate}) ;;\n\
             esac\n\
             exec /usr/lib/labprov-world/standins/apt-get \"$@\"\n",
            gate = gate.display()
        ),
    )
    .unwrap();
    let script = format!(
        "chmod 0755 {w} && mount --bind {w} /usr/bin/apt-get",
        w = wrapper.display()
    );
    support::host_sh(world, host, None, &script);
    gate
}

/// Whether the gated install is waiting on the host (the gate's `bash` shows in the
/// machine's process list; it is this world's: its argv names this world's gate).
fn install_waits(gate: &std::path::Path) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
            let c = String::from_utf8_lossy(&c);
            c.starts_with(MARKER) && c.contains(&*gate.to_string_lossy())
        })
    })
}

/// A first `up` on h1 that holds the host's lock, its docker-ce install waiting for the gate
/// (returned with it).
fn holding_the_lock(world: &World) -> (std::path::PathBuf, Background) {
    let gate = gated_apt(world, "h1");
    let mut first = Background::start(world, &world.profile, &["up"]);
    poll(
        "the first run's docker-ce install",
        Duration::from_secs(300),
        || {
            assert!(!first.exited(), "the first run ended before its install");
            install_waits(&gate).then_some(())
        },
    );
    (gate, first)
}

#[test]
fn a_second_up_waits_for_the_first_and_docker_is_installed_once() {
    let world = World::start(1);
    let (gate, first) = holding_the_lock(&world);
    let holder_id = format!("-{} (labprov up by ", first.pid());

    // plan takes no lock: it finishes while the first run holds it.
    let plan = world.labprov(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.explain());
    assert!(
        !plan.events.iter().any(|e| e["type"] == "waiting"),
        "{}",
        plan.explain()
    );

    // --no-wait refuses at once, naming the holder.
    let refused = world.labprov(&["up", "--no-wait"]);
    assert_eq!(refused.code, 1, "{}", refused.explain());
    let lock = refused.step("h1", "lock");
    assert_eq!(lock["kind"], "failed");
    let detail = lock["detail"].as_str().unwrap();
    assert!(
        detail.contains(&holder_id) && detail.contains("--no-wait") && detail.contains("since"),
        "the refusal names the run that holds the lock: {detail}"
    );
    assert_eq!(
        refused.steps_of("h1"),
        1,
        "nothing else ran: {}",
        refused.explain()
    );

    // A second up waits, and says for whom.
    let mut second = Background::start(&world, &world.profile, &["up"]);
    let out = second.stdout_path();
    poll(
        "the second run to say it waits",
        Duration::from_secs(120),
        || {
            assert!(
                !second.exited(),
                "the second run ended while the first held the lock"
            );
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            text.lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|e| e["type"] == "waiting" && e["host"] == "h1")
                .map(|e| {
                    let holder = e["holder"].as_str().unwrap_or("").to_string();
                    assert!(holder.contains(&holder_id), "{holder}");
                })
        },
    );

    std::fs::write(&gate, "").unwrap();
    let first = first.finish(Duration::from_secs(600));
    let second = second.finish(Duration::from_secs(600));
    for run in [&first, &second] {
        assert_eq!(run.code, 0, "{}", run.explain());
        let (_, _, failed) = run.tally("h1");
        assert_eq!(failed, 0, "{}", run.explain());
    }
    // The second run checked after the first had finished: docker was there.
    assert_eq!(
        second.step("h1", "docker")["kind"],
        "ok",
        "{}",
        second.explain()
    );
    let installs = support::calls_with(&world, "h1", "apt-get", "docker-ce");
    let installs: Vec<_> = installs
        .iter()
        .filter(|c| {
            c["argv"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "install"))
        })
        .collect();
    assert_eq!(
        installs.len(),
        1,
        "apt-get install docker-ce ran once: {installs:?}"
    );
}

/// Kill the ssh masters (`ssh ... -M ...`) whose command line names `dir`: those of the run
/// whose TMPDIR it is. Their channels' clients then exit 255, as on a dropped connection.
fn kill_masters_in(dir: &std::path::Path) -> usize {
    let dir = dir.to_string_lossy().into_owned();
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = String::from_utf8_lossy(&cmdline)
            .split('\0')
            .map(String::from)
            .collect();
        let ssh = argv
            .first()
            .is_some_and(|a| a.rsplit('/').next() == Some("ssh"));
        if ssh && argv.iter().any(|a| a == "-M") && argv.iter().any(|a| a.contains(&dir)) {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status()
                .is_ok_and(|s| s.success())
            {
                killed += 1;
            }
        }
    }
    killed
}

#[test]
fn a_run_that_loses_its_host_while_waiting_for_the_lock_says_so() {
    let world = World::start(1);
    let (gate, first) = holding_the_lock(&world);
    // The second run's own TMPDIR, where its ssh masters' sockets are: its connection alone
    // can be cut, while the first run holds the lock.
    let tmp = world.dir.join("second-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut second = Background::start_env(&world, &world.profile, &["up"], &[("TMPDIR", &tmp)]);
    let out = second.stdout_path();
    poll("the second run to wait", Duration::from_secs(120), || {
        assert!(
            !second.exited(),
            "the second run ended while the first held the lock"
        );
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        text.contains(r#""type":"waiting""#).then_some(())
    });

    // The waiting run's connection drops: its lock channel's ssh exits 255, which is a lost
    // connection, not a lock script that failed.
    assert!(
        kill_masters_in(&tmp) > 0,
        "the second run's ssh masters run"
    );
    let second = second.finish(Duration::from_secs(300));
    assert_eq!(second.code, 1, "{}", second.explain());
    let lock = second.step("h1", "lock");
    assert_eq!(lock["kind"], "failed", "{}", second.explain());
    let detail = lock["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("the connection was lost while taking labprov's lock")
            && !detail.contains("exited"),
        "{detail}"
    );
    // The first run, which held the lock all along, is untouched by it.
    std::fs::write(&gate, "").unwrap();
    let first = first.finish(Duration::from_secs(600));
    assert_eq!(first.code, 0, "{}", first.explain());
    let again = world.labprov(&["up"]);
    assert_eq!(again.code, 0, "{}", again.explain());
}

#[test]
fn only_failed_reads_every_run_since_the_last_clean_one() {
    let world = World::start(2);
    let fault = |host: &str, action: &str| world.fault(host, action);
    // h1 fails in the first run, h2 in the second.
    fault("h1", "sshd-stop");
    let first = world.labprov(&["up", "--limit", "h1"]);
    assert_eq!(first.code, 1, "{}", first.explain());
    fault("h1", "sshd-start");
    fault("h2", "sshd-stop");
    let second = world.labprov(&["up", "--limit", "h2"]);
    assert_eq!(second.code, 1, "{}", second.explain());
    fault("h2", "sshd-start");

    let again = world.labprov(&["plan", "--only-failed"]);
    let hosts: Vec<&String> = again.summary()["hosts"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(hosts, ["h1", "h2"], "{}", again.explain());
}
