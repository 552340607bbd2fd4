//! Typed errors: a failed step says what kind of failure it was (`connect`, `remote`,
//! `artifact`, `plan`, `internal`, ...) in its JSON line and in the journal, so a lost host is
//! told apart from a failed command or a bad download without reading the text.

mod common;

use common::World;
use serde_json::Value;

fn journal_of(run: &common::Run) -> Value {
    let path = run
        .events
        .iter()
        .find(|e| e["type"] == "journal")
        .and_then(|e| e["path"].as_str())
        .unwrap_or_else(|| panic!("no journal line: {}", run.explain()));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn failures_carry_their_kind_to_the_json_lines_and_the_journal() {
    let world = World::start(1);
    let id = world.id;
    let kubectl = world.mirror_file("kubectl/release/v1.37.1/bin/linux/amd64/kubectl");
    let good = std::fs::read_to_string(kubectl.with_extension("sha256")).unwrap();
    let good = good.split_whitespace().next().unwrap().to_string();
    std::fs::write(&kubectl, b"#!/bin/sh\necho tampered\n").unwrap();
    let profile = world.profile_plus(
        "ghost.toml",
        &format!("[[hosts]]\nname = \"ghost\"\naddress = \"10.211.{id}.99\"\n"),
    );
    let up = world.labprov_with(&profile, &["up"]);
    assert_eq!(up.code, 1, "{}", up.explain());

    // Converged and changed steps carry no error.
    let docker = up.step("h1", "docker");
    assert_eq!(docker["kind"], "changed", "{}", up.explain());
    assert!(docker.get("error").is_none(), "{docker}");

    let connect = &up.step("ghost", "connect")["error"];
    assert_eq!(connect["kind"], "connect", "{connect}");
    assert_eq!(connect["target"], format!("student@10.211.{id}.99"));

    let artifact = &up.step("h1", "kubectl")["error"];
    assert_eq!(artifact["kind"], "artifact", "{artifact}");
    assert!(
        artifact["url"]
            .as_str()
            .unwrap()
            .ends_with("/bin/linux/amd64/kubectl"),
        "{artifact}"
    );
    assert_eq!(artifact["expected"], good.as_str());
    assert_ne!(artifact["actual"], good.as_str());

    // istio needs kubectl: skipped for it, no error of its own.
    let istio = up.step("h1", "istio");
    assert_eq!(istio["kind"], "skipped", "{istio}");
    assert!(istio.get("error").is_none(), "{istio}");
    assert_eq!(istio["detail"], "skipped: needs kubectl");

    let journal = journal_of(&up);
    let steps = journal["hosts"]["h1"]["steps"].as_array().unwrap();
    let kubectl = steps.iter().find(|s| s["step"] == "kubectl").unwrap();
    assert_eq!(kubectl["error"]["kind"], "artifact", "{kubectl}");
    let ghost = &journal["hosts"]["ghost"]["steps"][0];
    assert_eq!(ghost["error"]["kind"], "connect", "{ghost}");
}

/// One failure counts once: a host whose minikube download is corrupt fails minikube, and
/// the five steps that need it (directly or through the cluster) are skipped, naming it, in
/// the JSON lines, the summary, the journal and the plain table; `--only-failed` still
/// re-runs the host.
#[test]
fn a_corrupt_minikube_fails_once_and_skips_what_needs_it() {
    let world = World::start(1);
    let minikube = world.mirror_file("minikube/releases/download/v1.39.0/minikube-linux-amd64");
    std::fs::write(&minikube, b"#!/bin/sh\necho tampered\n").unwrap();
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 1, "{}", up.explain());
    let failed = up.step("h1", "minikube");
    assert_eq!(failed["kind"], "failed", "{}", up.explain());
    assert_eq!(failed["error"]["kind"], "artifact", "{failed}");

    // Every step had its outcome, and the summary counts the one failure once.
    let n = up.steps_of("h1");
    assert_eq!(n, common::UP_STEPS.len() as u64, "{}", up.explain());
    let (ok, changed, failed) = up.tally("h1");
    assert_eq!((failed, up.skipped("h1")), (1, 5), "{}", up.explain());
    assert_eq!(ok + changed + failed + 5, n);
    let skips = [
        ("cluster", "skipped: needs minikube"),
        ("addons", "skipped: needs cluster (minikube failed)"),
        ("dns", "skipped: needs cluster (minikube failed)"),
        ("istio", "skipped: needs cluster (minikube failed)"),
        ("manifests", "skipped: needs istio (minikube failed)"),
    ];
    for (step, detail) in skips {
        let e = up.step("h1", step);
        assert_eq!(
            (e["kind"].as_str(), e["detail"].as_str()),
            (Some("skipped"), Some(detail))
        );
        assert!(e.get("error").is_none(), "a skip is no error: {e}");
    }

    // The journal: the same outcomes, one failure, and the host failed (for --only-failed).
    let journal = journal_of(&up);
    let h1 = &journal["hosts"]["h1"];
    assert_eq!(h1["failed"], true);
    let count = |kind: &str| {
        h1["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["outcome"] == kind)
            .count()
    };
    assert_eq!((count("failed"), count("skipped")), (1, 5), "{h1}");

    // In plain output: one line per skip, and the table's failure column names minikube.
    let out = common::labprov()
        .arg("--profile")
        .arg(&world.profile)
        .args(["--output", "plain", "up", "--only-failed"])
        .env("XDG_CACHE_HOME", world.dir.join("controller-cache"))
        .env("XDG_STATE_HOME", world.dir.join("controller-state"))
        .output()
        .unwrap();
    let plain = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{plain}");
    assert!(
        plain.contains("h1: cluster skipped: needs minikube\n"),
        "{plain}"
    );
    assert!(!plain.contains("cluster FAILED"), "{plain}");
    let header = plain
        .lines()
        .find(|l| l.starts_with("host "))
        .unwrap_or_else(|| panic!("no table: {plain}"));
    let cols: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        cols[..5],
        ["host", "ok", "changed", "failed", "skipped"],
        "{header}"
    );
    let row: Vec<&str> = plain
        .lines()
        .find(|l| l.starts_with("h1 "))
        .unwrap_or_else(|| panic!("no row for h1: {plain}"))
        .split_whitespace()
        .collect();
    assert_eq!((row[3], row[4], row[5]), ("1", "5", "minikube:"), "{plain}");
}
