//! No panic crosses a host: input that used to panic labprov is refused with a pointed error,
//! and a host whose answers break labprov's invariants fails alone, as an internal error,
//! while the other hosts go on and the run still writes its journal and summary.

mod common;

use common::{Run, World, labprov};

#[test]
fn a_roster_name_of_ideographic_space_is_pointed_at() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.toml");
    std::fs::write(&profile, "extends = \"local\"\n[ssh]\nuser = \"student\"\n").unwrap();
    let roster = dir.path().join("class.csv");
    let run = |text: &str| {
        std::fs::write(&roster, text).unwrap();
        Run::new(
            labprov()
                .current_dir(dir.path())
                .args(["--profile", "p.toml", "--output", "plain", "plan"])
                .args(["--hosts-file", "class.csv"])
                .output()
                .unwrap(),
        )
    };
    // Baseline: a bad name of plain ASCII is pointed at the same way.
    let ascii = run("h1,10.0.0.1\nbad name!,10.0.0.2\n");
    assert_eq!(ascii.code, 2, "{}", ascii.explain());
    assert!(
        ascii.stderr.contains("--> class.csv:2:1"),
        "{}",
        ascii.explain()
    );

    let wide = run("h1,10.0.0.1\n\u{3000},10.0.0.2\n");
    assert_eq!(wide.code, 2, "{}", wide.explain());
    assert_eq!(
        wide.stderr,
        "error: the host name is empty (only whitespace?)\n \
         --> class.csv:2:1\n  |\n2 | \u{3000},10.0.0.2\n  | ^\n",
        "{}",
        wide.explain()
    );
}

#[test]
fn a_memory_size_that_overflows_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let render = |memory: &str| {
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            format!("extends = \"local\"\n[cluster]\nmemory = \"{memory}\"\n"),
        )
        .unwrap();
        Run::new(
            labprov()
                .current_dir(dir.path())
                .args(["--profile", "p.toml", "--output", "plain", "render"])
                .args(["--out", "out"])
                .output()
                .unwrap(),
        )
    };
    // Baseline: a big but real size is accepted and reaches the cluster check as MiB.
    let ok = render("16384g");
    assert_eq!(ok.code, 0, "{}", ok.explain());
    let check = std::fs::read_to_string(dir.path().join("out/check.sh")).unwrap();
    assert!(check.contains(" 16777216 "), "16384g is 16777216 MiB");

    // 18014398509481986 * 1024 wraps round to 2048 in 64 bits.
    let big = render("18014398509481986g");
    assert_eq!(big.code, 2, "{}", big.explain());
    assert_eq!(
        big.stderr,
        "error: invalid value for `cluster.memory`: `18014398509481986g` is too large\n \
         --> p.toml:3:10\n  |\n3 | memory = \"18014398509481986g\"\n  |          ^^^^^^^^^^^^^^^^^^^^\n",
        "{}",
        big.explain()
    );
}

/// A minikube profile (`~/.minikube/profiles/minikube/config.json`, which the cluster check
/// reads) whose driver has line breaks in it: the check prints that name in its drift reason,
/// and the line breaks forge a `::begin`/`::end` pair that says "blocked" without a reason.
const FORGE: &str = r#"import json, os
p = os.path.expanduser("~/.minikube/profiles/minikube/config.json")
c = json.load(open(p))
c["Driver"] = "x\n::begin cluster\n::end cluster 2\n"
json.dump(c, open(p, "w"))
"#;

#[test]
fn a_host_that_breaks_an_invariant_fails_alone() {
    let world = World::start(2);
    let first = world.labprov(&["up"]);
    assert_eq!(first.code, 0, "{}", first.explain());
    let out = world.exec("h1", Some("student"), &["python3", "-c", FORGE]);
    assert!(out.status.success(), "{out:?}");

    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 1, "{}", up.explain());
    let cluster = up.step("h1", "cluster");
    assert_eq!(cluster["kind"], "failed", "{}", up.explain());
    let detail = cluster["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("internal error: ") && detail.ends_with("; please report it"),
        "{detail}"
    );
    assert_eq!(cluster["error"]["kind"], "internal", "{cluster}");
    // The other host converged, and the run ended as runs do: journal, then summary.
    let (_, _, failed) = up.tally("h2");
    assert_eq!(failed, 0, "{}", up.explain());
    assert!(up.tally("h1").2 > 0);
    let journal = up
        .events
        .iter()
        .find(|e| e["type"] == "journal")
        .unwrap_or_else(|| panic!("no journal line: {}", up.explain()));
    let text = std::fs::read_to_string(journal["path"].as_str().unwrap()).unwrap();
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(j["hosts"]["h1"]["failed"], true);
    assert_eq!(j["hosts"]["h2"]["failed"], false);
    assert!(!up.stderr.contains("panicked"), "{}", up.explain());
}

#[test]
fn a_list_item_without_metadata_fails_the_manifests_check_of_its_host() {
    let world = World::start(1);
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    // Baseline: the converged host plans nothing.
    let plan = world.labprov(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.explain());

    let sample = "/opt/labprov/istio-1.31.1/samples/bookinfo/networking/destination-rule-all.yaml";
    let out = world.exec(
        "h1",
        None,
        &[
            "sh",
            "-c",
            &format!("printf 'kind: List\\nitems:\\n- 42\\n' >{sample}"),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let plan = world.labprov(&["plan"]);
    assert_eq!(plan.code, 1, "{}", plan.explain());
    let manifests = plan
        .events
        .iter()
        .find(|e| e["type"] == "plan" && e["step"] == "manifests")
        .unwrap_or_else(|| panic!("{}", plan.explain()));
    assert_eq!(manifests["state"], "error");
    let reasons = manifests["reasons"].to_string();
    assert!(
        reasons.contains("destination-rule-all.yaml: a document is not an object: 42"),
        "{reasons}"
    );
    assert!(
        plan.states("h1")
            .iter()
            .filter(|(s, _)| s != "manifests")
            .all(|(_, state)| state == "converged"),
        "{:?}",
        plan.states("h1")
    );
    plan.summary();
}
