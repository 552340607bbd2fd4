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

    let istio = up.step("h1", "istio");
    assert_eq!(istio["error"]["kind"], "plan", "{istio}");
    assert_eq!(
        istio["detail"],
        "not run: needs kubectl, which did not converge"
    );

    let journal = journal_of(&up);
    let steps = journal["hosts"]["h1"]["steps"].as_array().unwrap();
    let kubectl = steps.iter().find(|s| s["step"] == "kubectl").unwrap();
    assert_eq!(kubectl["error"]["kind"], "artifact", "{kubectl}");
    let ghost = &journal["hosts"]["ghost"]["steps"][0];
    assert_eq!(ghost["error"]["kind"], "connect", "{ghost}");
}
