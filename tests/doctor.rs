//! Issue 15 items 2 and 3: `labprov doctor` finds, before `up` starts, what would make it fail:
//! each check `ok`, `warn` or `fail` with a one-line fix, in one SSH session per host; and
//! `plan` blocks on the same blocking checks (README, "labprov doctor").

mod common;
mod support;

use std::collections::BTreeMap;

use common::{Run, World};
use serde_json::Value;
use support::{labprov_plain, state};

/// The checks doctor reports for every target, whatever the profile (push mode drops the
/// downloads); `download` and `registry` come once per URL.
const PER_HOST: &[&str] = &[
    "os",
    "cpus",
    "memory",
    "disk",
    "cgroup",
    "sudo",
    "docker-group",
    "download",
    "apt-repo",
    "registry",
    "routes",
    "clock",
    "versions",
];

/// The doctor lines of one host.
fn verdicts<'a>(run: &'a Run, host: &str) -> Vec<&'a Value> {
    run.events
        .iter()
        .filter(|e| e["type"] == "doctor" && e["host"] == host)
        .collect()
}

/// The one verdict of `check` on `host` (the first, for checks with one line per URL).
fn verdict<'a>(run: &'a Run, host: &str, check: &str) -> &'a Value {
    run.events
        .iter()
        .find(|e| e["type"] == "doctor" && e["host"] == host && e["check"] == check)
        .unwrap_or_else(|| panic!("no {check} verdict for {host}:\n{}", run.explain()))
}

/// Every verdict of `check` on `host`.
fn all_of<'a>(run: &'a Run, host: &str, check: &str) -> Vec<&'a Value> {
    verdicts(run, host)
        .into_iter()
        .filter(|e| e["check"] == check)
        .collect()
}

fn kinds_of(run: &Run, host: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in verdicts(run, host) {
        out.entry(e["check"].as_str().unwrap().to_string())
            .or_default()
            .push(e["kind"].as_str().unwrap().to_string());
    }
    out
}

/// `check` failed on `host`, its detail holding `detail` and its fix `fix`.
fn assert_fails(run: &Run, host: &str, check: &str, detail: &str, fix: &str) {
    let v = verdict(run, host, check);
    assert_eq!(v["kind"], "fail", "{host}/{check}: {v}\n{}", run.explain());
    assert!(
        v["detail"].as_str().unwrap().contains(detail),
        "{host}/{check}: detail without {detail:?}: {v}"
    );
    assert!(
        v["fix"].as_str().unwrap().contains(fix),
        "{host}/{check}: fix without {fix:?}: {v}"
    );
}

/// `plan` shows `step` of `host` blocked, its first reason holding `words`.
fn assert_blocked(plan: &Run, host: &str, step: &str, words: &str) {
    let s = state(plan, host, step);
    assert_eq!(s["state"], "blocked", "{s}\n{}", plan.explain());
    assert!(s["reasons"][0].as_str().unwrap().contains(words), "{s}");
}

/// `check` is ok on `host`.
fn assert_ok(run: &Run, host: &str, check: &str) {
    for v in all_of(run, host, check) {
        assert_eq!(v["kind"], "ok", "{host}/{check}: {v}\n{}", run.explain());
    }
    assert!(
        !all_of(run, host, check).is_empty(),
        "no {check} for {host}:\n{}",
        run.explain()
    );
}

#[test]
fn doctor_passes_a_healthy_class_in_one_session_per_host() {
    let world = World::start(2);
    let before: BTreeMap<String, (usize, usize)> = world
        .hosts()
        .into_iter()
        .map(|h| {
            let c = world.ssh_counts(&h);
            (h, c)
        })
        .collect();
    let mirror_before = world.mirror_log().lines().count();

    // The docker repository named by `{os}`, as the built-in profiles name
    // download.docker.com's: the probe must ask for this host's distribution.
    let text = std::fs::read_to_string(&world.profile).unwrap();
    assert_eq!(text.matches("/docker/linux/ubuntu").count(), 2, "{text}");
    let profile = world.dir.join("by-os.toml");
    std::fs::write(
        &profile,
        text.replace("/docker/linux/ubuntu", "/docker/linux/{os}"),
    )
    .unwrap();
    let run = world.labprov_with(&profile, &["doctor"]);
    assert_eq!(run.code, 0, "{}", run.explain());
    for h in ["h1", "h2"] {
        let kinds = kinds_of(&run, h);
        let checks: Vec<&str> = kinds.keys().map(String::as_str).collect();
        let mut want = PER_HOST.to_vec();
        want.sort();
        assert_eq!(checks, want, "{h}: {kinds:?}");
        for (check, ks) in &kinds {
            assert!(
                ks.iter().all(|k| k == "ok"),
                "{h}/{check}: {ks:?}\n{}",
                run.explain()
            );
        }
        // minikube, kubectl, Istio for the host's architecture only; Docker's repository for
        // the host's release.
        assert_eq!(kinds["download"].len(), 3, "{kinds:?}");
        let repo = verdict(&run, h, "apt-repo")["detail"].as_str().unwrap();
        assert!(repo.contains("/dists/noble/InRelease"), "{repo}");
        assert!(
            verdict(&run, h, "memory")["detail"]
                .as_str()
                .unwrap()
                .contains("cluster.memory = 4g"),
            "{}",
            run.explain()
        );
    }
    // A batch behind a jump host: the bastion's tolerance, read on the run's one connection.
    let jump = verdict(&run, "jump-host", "bastion");
    assert_ne!(jump["kind"], "fail", "{jump}");
    assert!(
        jump["detail"].as_str().unwrap().contains("MaxStartups"),
        "{jump}"
    );
    let summary = run.summary();
    assert_eq!(summary["hosts"]["h1"]["fail"], 0, "{summary}");
    assert_eq!(
        summary["hosts"]["h1"]["ok"].as_u64(),
        Some(verdicts(&run, "h1").len() as u64),
        "{summary}"
    );

    // The HEAD requests really reached the mirror (the probe is not a guess).
    let log = world.mirror_log();
    let heads: Vec<&str> = log
        .lines()
        .skip(mirror_before)
        .filter(|l| l.starts_with("HEAD /minikube/"))
        .collect();
    assert_eq!(heads.len(), 2, "one per host:\n{log}");
    assert!(heads.iter().all(|l| l.contains(" 200 ")), "{log}");

    // One login and one command per target; one login to the bastion, plus the one command
    // that read its sshd settings on that same connection.
    for (h, (logins, sessions)) in &before {
        let (l, s) = world.ssh_counts(h);
        assert_eq!(l - logins, 1, "{h}: logins");
        assert_eq!(s - sessions, 1, "{h}: command sessions");
    }
}

#[test]
fn doctor_fails_no_sudo_a_small_disk_a_route_a_clock_and_a_mirror_down_and_plan_agrees() {
    let world = World::start(5);
    world.fault("h1", "sudo-off");
    world.fault("h2", "disk-small");
    world.fault("h3", "route-overlap");
    world.fault("h5", "clock 3600");

    let run = world.labprov(&["doctor"]);
    assert_eq!(run.code, 1, "{}", run.explain());
    assert_fails(
        &run,
        "h1",
        "sudo",
        "asks student for a password",
        "NOPASSWD",
    );
    assert_fails(
        &run,
        "h2",
        "disk",
        "MB free for Docker's images",
        "grow the VM's disk",
    );
    assert_fails(
        &run,
        "h3",
        "routes",
        "192.168.49.0/24 (dev lp",
        "remove or narrow that route",
    );
    assert_fails(
        &run,
        "h5",
        "clock",
        "the host's clock is +3600.",
        "sudo timedatectl set-ntp true",
    );
    // Each fault is that host's alone: h4, untouched, passes the same four checks, and the
    // faulty hosts pass the checks their fault is not about (the verdicts see both outcomes).
    for check in ["sudo", "disk", "routes", "clock"] {
        assert_ok(&run, "h4", check);
    }
    assert_ok(&run, "h1", "clock");
    assert_ok(&run, "h5", "sudo");
    assert_ok(&run, "h1", "disk");
    assert_ok(&run, "h2", "sudo");
    assert_ok(&run, "h3", "sudo");
    assert_eq!(run.summary()["hosts"]["h4"]["fail"], 0, "{}", run.explain());
    assert_eq!(run.summary()["hosts"]["h1"]["fail"], 1, "{}", run.explain());

    // The plain lines carry the fix on the same line.
    let plain = labprov_plain(&world, &world.profile, &["doctor", "--limit", "h1"]);
    assert_eq!(plain.code, 1, "{}", plain.explain());
    let line = plain
        .stdout
        .lines()
        .find(|l| l.starts_with("h1: FAIL sudo: "))
        .unwrap_or_else(|| panic!("{}", plain.explain()));
    assert!(
        line.contains("→ fix: as root: echo 'student ALL=(ALL) NOPASSWD:ALL'"),
        "{line}"
    );
    assert!(
        plain.stdout.contains("1 host(s), 1 with a failed check"),
        "{}",
        plain.stdout
    );

    // plan blocks where doctor's blocking checks fail, and not where they pass: the disk for a
    // cluster still to be made at facts, with doctor's words; without sudo, each step that
    // needs root (docker first), with the words `up` refuses it with.
    let plan = world.labprov(&["plan"]);
    let words = |host: &str, check: &str| verdict(&run, host, check)["detail"].as_str().unwrap();
    assert_blocked(&plan, "h2", "facts", words("h2", "disk"));
    assert_blocked(
        &plan,
        "h1",
        "docker",
        "sudo for student asks for a password",
    );
    // A route into minikube's network stops a new cluster as well: facts, with doctor's words.
    assert_blocked(&plan, "h3", "facts", words("h3", "routes"));
    // A clock an hour ahead stops a host with something to install (TLS, apt): facts, with
    // doctor's words (but the round trip, which differs from doctor's).
    assert_blocked(&plan, "h5", "facts", "the host's clock is +3600.");
    let h4 = state(&plan, "h4", "facts");
    assert_eq!(h4["state"], "converged", "{}", plan.explain());
    assert_eq!(
        state(&plan, "h4", "docker")["state"],
        "needs-change",
        "{}",
        plan.explain()
    );

    // The mirror goes down: every download and the registry fail, and the downloads' fix is
    // push mode. In push mode the hosts download nothing, so doctor does not ask them to.
    world.fault("bastion", "mirror-stop");
    let run = world.labprov(&["doctor", "--limit", "h4"]);
    assert_eq!(run.code, 1, "{}", run.explain());
    let downloads = all_of(&run, "h4", "download");
    assert_eq!(downloads.len(), 3, "{}", run.explain());
    for d in &downloads {
        assert_eq!(d["kind"], "fail", "{d}");
        assert!(
            d["fix"]
                .as_str()
                .unwrap()
                .contains("artifacts.mode = \"push\""),
            "{d}"
        );
    }
    assert_fails(&run, "h4", "registry", "http://", "pulls the lab's images");
    assert_fails(&run, "h4", "apt-repo", "docker", "docker.repo_url");
    let push = world.labprov_with(&world.push_profile(), &["doctor", "--limit", "h4"]);
    assert!(
        all_of(&push, "h4", "download").is_empty(),
        "{}",
        push.explain()
    );
    world.fault("bastion", "mirror-start");
    let run = world.labprov(&["doctor", "--limit", "h4"]);
    assert_eq!(run.code, 0, "{}", run.explain());
}
