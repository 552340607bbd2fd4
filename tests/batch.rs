//! A whole class behind one bastion: rosters, `--limit`, journals and `--only-failed`, and
//! sshd's default MaxStartups/MaxSessions on the bastion never costing a host.

mod common;

use common::{Run, World};

/// A CSV roster of the world's targets, as a class list comes (header, names, addresses).
fn roster(world: &World, n: usize) -> std::path::PathBuf {
    let mut text = String::from("name,address\n");
    for k in 1..=n {
        text.push_str(&format!("student-{k:02},10.211.{}.{}\n", world.id, 10 + k));
    }
    let path = world.dir.join("roster.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn failed_hosts(run: &Run) -> Vec<String> {
    let hosts = run.summary()["hosts"].as_object().unwrap();
    hosts
        .iter()
        .filter(|(_, t)| t["failed"].as_u64() != Some(0))
        .map(|(h, _)| h.clone())
        .collect()
}

#[test]
fn thirty_hosts_from_a_csv_roster_converge_in_three_runs_in_a_row() {
    let world = World::start(30);
    let roster = roster(&world, 30);
    let roster = roster.to_str().unwrap();
    for run in 1..=3 {
        let up = world.labprov(&["up", "--hosts-file", roster]);
        assert_eq!(
            up.code,
            0,
            "run {run}: failed hosts {:?}\n{}",
            failed_hosts(&up),
            up.explain()
        );
        let hosts = up.summary()["hosts"].as_object().unwrap();
        assert_eq!(hosts.len(), 30);
        assert!(failed_hosts(&up).is_empty());
        if run > 1 {
            assert!(
                hosts.values().all(|t| t["changed"] == 0),
                "run {run} changed something"
            );
        }
    }
    // The bastion saw one login per run, not one per target.
    let bastion = world.sshd_log("bastion");
    assert_eq!(
        bastion.matches("Accepted publickey").count(),
        3,
        "one bastion login per run"
    );
    assert!(!bastion.contains("MaxStartups"), "no handshake was dropped");

    // `verify` of the class: one SSH connection per host (the read and the probes are two
    // channels on it), and one login on the bastion.
    // The roster names the class's VMs student-01..30; the world knows them as h1..h30.
    let hosts: Vec<String> = (1..=30).map(|k| format!("h{k}")).collect();
    let student = |h: &str| format!("student-{:02}", h[1..].parse::<u32>().unwrap_or(0));
    let before: std::collections::BTreeMap<String, (usize, usize)> =
        std::iter::once("bastion".to_string())
            .chain(hosts.iter().cloned())
            .map(|h| {
                let c = world.ssh_counts(&h);
                (h, c)
            })
            .collect();
    let started = std::time::Instant::now();
    let run = world.labprov(&[
        "verify",
        "docker-usable",
        "node-dns",
        "hello-node",
        "--hosts-file",
        roster,
    ]);
    eprintln!(
        "verify docker-usable node-dns hello-node on 30 hosts: {:?}",
        started.elapsed()
    );
    assert_eq!(run.code, 0, "{}", run.explain());
    for h in &hosts {
        let kinds: Vec<&str> = run
            .events
            .iter()
            .filter(|e| e["type"] == "check" && e["host"] == student(h).as_str())
            .map(|e| e["kind"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(kinds, ["pass", "pass", "pass"], "{h}: {}", run.explain());
        let (logins, channels) = world.ssh_counts(h);
        let (l0, c0) = before[h];
        assert_eq!(logins - l0, 1, "{h}: one SSH connection");
        assert_eq!(
            channels - c0,
            2,
            "{h}: the read and the probes, two round trips"
        );
    }
    let (logins, _) = world.ssh_counts("bastion");
    assert_eq!(logins - before["bastion"].0, 1, "one login on the bastion");

    // Positive control: a burst of handshakes that stay unauthenticated does get dropped, and
    // sshd says so in the words the check above looks for.
    let addr = format!("10.210.{}.2:22", world.id);
    let held: Vec<std::net::TcpStream> = (0..60)
        .filter_map(|_| std::net::TcpStream::connect(&addr).ok())
        .collect();
    common::poll(
        "sshd on the bastion to drop handshakes past MaxStartups",
        std::time::Duration::from_secs(60),
        || {
            let log = world.sshd_log("bastion");
            if log.contains("past MaxStartups") {
                Ok(())
            } else {
                Err(format!("{} connections held", held.len()))
            }
        },
    );
    drop(held);
}

#[test]
fn fifty_hosts_behind_a_default_bastion_without_a_failure() {
    let world = World::start(50);
    let up = world.labprov(&["up", "--parallel", "50"]);
    if up.code != 0 {
        // The whole output first, the failed steps last: a CI log keeps the tail.
        eprintln!("{}", up.explain());
        panic!("exit {}, {}", up.code, up.failed_steps());
    }
    assert_eq!(up.summary()["hosts"].as_object().unwrap().len(), 50);
}

#[test]
fn limit_takes_a_subset_of_the_roster() {
    let world = World::start(3);
    let roster = roster(&world, 3);
    let contacts = world.contacts();
    let up = world.labprov(&[
        "up",
        "--hosts-file",
        roster.to_str().unwrap(),
        "--limit",
        "student-02",
    ]);
    assert_eq!(up.code, 0, "{}", up.explain());
    let hosts: Vec<&String> = up.summary()["hosts"].as_object().unwrap().keys().collect();
    assert_eq!(hosts, ["student-02"]);
    assert!(world.host_file("h2", "/usr/local/bin/kubectl").exists());
    assert!(!world.host_file("h1", "/usr/local/bin/kubectl").exists());
    // The same count sees student-02 (h2) and its way in, and nobody else.
    let seen: Vec<String> = world.contacts().since(&contacts).into_keys().collect();
    assert_eq!(seen, ["bastion", "h2"], "h1 and h3 were never contacted");
}

#[test]
fn a_duplicate_address_in_the_roster_is_named_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("class.csv");
    std::fs::write(
        &roster,
        "name,address\nanna,10.9.0.11\nbruno,10.9.0.12\ncarla,10.9.0.11\n",
    )
    .unwrap();
    let out = common::labprov()
        .current_dir(dir.path())
        .args([
            "--profile",
            "crownlabs",
            "plan",
            "--hosts-file",
            "class.csv",
        ])
        .output()
        .unwrap();
    let run = Run::new(out);
    assert_eq!(run.code, 2, "{}", run.explain());
    assert_eq!(
        run.stderr,
        "error: address `10.9.0.11` is listed twice (first on line 2)\n \
         --> class.csv:4:7\n  |\n4 | carla,10.9.0.11\n  |       ^^^^^^^^^\n"
    );
}

#[test]
fn plain_address_lists_and_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("ips.txt");
    std::fs::write(&roster, "# lab 3\n10.9.0.11\n\n10.9.0.x_y\n").unwrap();
    let out = common::labprov()
        .current_dir(dir.path())
        .args(["--profile", "crownlabs", "plan", "--hosts-file", "ips.txt"])
        .output()
        .unwrap();
    let run = Run::new(out);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: `10.9.0.x_y` is neither an IP address nor a host name\n \
         --> ips.txt:4:1\n  |\n4 | 10.9.0.x_y\n  | ^^^^^^^^^^\n"
    );
}

#[test]
fn the_journal_records_each_step_and_its_path_is_printed() {
    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    let event = up
        .events
        .iter()
        .find(|e| e["type"] == "journal")
        .expect("journal event");
    let path = std::path::PathBuf::from(event["path"].as_str().unwrap());
    assert!(
        path.starts_with(world.dir.join("controller-state/labprov/runs")),
        "{path:?}"
    );
    let journal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let steps = journal["hosts"]["h1"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 10);
    assert_eq!(steps[1]["step"], "docker");
    assert_eq!(steps[1]["outcome"], "changed");
    assert!(steps[1]["elapsed_ms"].as_u64().is_some());
    assert_eq!(journal["hosts"]["h1"]["failed"], false);
}

/// Run `labprov up` and call `on_event` with each JSON line as it arrives.
fn up_streaming(world: &World, args: &[&str], mut on_event: impl FnMut(&serde_json::Value)) -> Run {
    use std::io::{BufRead, BufReader};
    let mut child = common::labprov()
        .arg("--profile")
        .arg(&world.profile)
        .args(["--output", "json", "up"])
        .args(args)
        .env("XDG_CACHE_HOME", world.dir.join("controller-cache"))
        .env("XDG_STATE_HOME", world.dir.join("controller-state"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = String::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
            on_event(&v);
        }
        lines.push_str(&line);
        lines.push('\n');
    }
    let out = child.wait_with_output().unwrap();
    Run::new(std::process::Output {
        status: out.status,
        stdout: lines.into_bytes(),
        stderr: out.stderr,
    })
}

#[test]
fn hosts_lost_mid_run_fail_alone_and_only_failed_finishes_them() {
    let world = World::start(4);
    let mut stopped = false;
    let mut cut = false;
    let run = up_streaming(&world, &[], |e| {
        if e["type"] == "step" && e["step"] == "docker" {
            if e["host"] == "h2" && !stopped {
                world.fault("h2", "sshd-stop");
                stopped = true;
            }
            if e["host"] == "h3" && !cut {
                world.fault("h3", "link-down");
                cut = true;
            }
        }
    });
    assert!(stopped && cut, "the faults were injected mid-run");
    assert_eq!(run.code, 1, "{}", run.explain());
    assert_eq!(failed_hosts(&run), ["h2", "h3"], "{}", run.explain());
    for h in ["h1", "h4"] {
        let n = run.steps_of(h);
        assert_eq!(
            run.tally(h),
            (2, n - 2, 0),
            "{h} converged: {}",
            run.explain()
        );
    }
    for h in ["h2", "h3"] {
        // The step that was running when the host went away names the lost connection.
        let failed: Vec<&serde_json::Value> = run
            .events
            .iter()
            .filter(|e| e["type"] == "step" && e["host"] == h && e["kind"] == "failed")
            .collect();
        let first = failed
            .first()
            .unwrap_or_else(|| panic!("{h} has a failed step"));
        let detail = first["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("cannot connect to student@10.211.{}.", world.id)),
            "{h}: {} failed with {detail}",
            first["step"]
        );
        // One failure per host: the steps after the lost connection (lost right after docker,
        // so several steps remain) are skipped, saying so.
        assert_eq!(failed.len(), 1, "{h}: {}", run.explain());
        assert_eq!(run.tally(h).2, 1, "{h}: {}", run.explain());
        assert!(run.skipped(h) > 0, "{h}: {}", run.explain());
        let lost = format!(
            "skipped: the connection was lost during {}",
            first["step"].as_str().unwrap()
        );
        assert!(
            run.events
                .iter()
                .filter(|e| e["type"] == "step" && e["host"] == h && e["kind"] == "skipped")
                .all(|e| e["detail"] == lost.as_str()),
            "{h}: {}",
            run.explain()
        );
    }

    world.fault("h2", "sshd-start");
    world.fault("h3", "link-up");
    let again = world.labprov(&["up", "--only-failed"]);
    assert_eq!(again.code, 0, "{}", again.explain());
    let hosts: Vec<&String> = again.summary()["hosts"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(hosts, ["h2", "h3"], "only the hosts that failed");
    for h in ["h2", "h3"] {
        let (_, _, failed) = again.tally(h);
        assert_eq!(failed, 0, "{h}: {}", again.explain());
    }
}
