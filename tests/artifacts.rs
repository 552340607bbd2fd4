//! Downloaded artifacts (README, "Steps" and "A class behind one bastion"): an older binary is
//! replaced by the pinned one; a corrupt Istio release fails its step and lands nowhere; in
//! push mode a checksum mismatch fails the step on every host with the URL and both digests.

mod common;
mod support;

use std::path::Path;
use std::process::Command;

use common::{World, root};
use support::{host_sh, state};

const ISTIO_TARBALL: &str = "istio/releases/download/1.31.1/istio-1.31.1-linux-amd64.tar.gz";
const KUBECTL: &str = "kubectl/release/v1.37.1/bin/linux/amd64/kubectl";

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Whether anything exists at `path` on the host (a dangling symlink counts).
fn present(world: &World, host: &str, path: &str) -> bool {
    world.host_file(host, path).symlink_metadata().is_ok()
}

/// Entries of a host's directory (through its overlay upper dir), sorted; none if absent.
fn entries(world: &World, host: &str, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(world.host_file(host, dir))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn older_minikube_and_kubectl_are_replaced_by_the_pinned_versions() {
    let world = World::start(1);
    // Older releases, built like the mirror's own.
    let old = world.dir.join("old-releases");
    let built = Command::new(root().join("tests/world/build-mirror"))
        .arg(&old)
        .args([
            "--minikube",
            "v1.36.0",
            "--kubectl",
            "v1.33.4",
            "--istio",
            "1.27.3",
        ])
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    host_sh(
        &world,
        "h1",
        None,
        &format!(
            "install -m 0755 {o}/minikube/releases/download/v1.36.0/minikube-linux-amd64 /usr/local/bin/minikube && \
             install -m 0755 {o}/kubectl/release/v1.33.4/bin/linux/amd64/kubectl /usr/local/bin/kubectl",
            o = old.display()
        ),
    );
    let version = |cmd: &str| {
        host_sh(&world, "h1", Some(&world.user), cmd)
            .trim()
            .to_string()
    };
    let kubectl_version =
        "kubectl version --client -o json | sed -n 's/.*\"gitVersion\": *\"\\([^\"]*\\)\".*/\\1/p'";
    assert_eq!(version("minikube version --short"), "v1.36.0");
    assert_eq!(version(kubectl_version), "v1.33.4");

    let plan = world.labprov(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.explain());
    for (step, reason) in [
        ("minikube", "minikube v1.36.0 is installed, v1.39.0 wanted"),
        ("kubectl", "kubectl v1.33.4 is installed, v1.37.1 wanted"),
    ] {
        let s = state(&plan, "h1", step);
        assert_eq!(s["state"], "needs-change", "{}", plan.explain());
        assert_eq!(s["reasons"][0], reason, "{}", plan.explain());
    }

    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    for step in ["minikube", "kubectl"] {
        assert_eq!(up.step("h1", step)["kind"], "changed", "{}", up.explain());
    }
    assert_eq!(version("minikube version --short"), "v1.39.0");
    assert_eq!(version(kubectl_version), "v1.37.1");
    for (path, served) in [
        (
            "/usr/local/bin/minikube",
            "minikube/releases/download/v1.39.0/minikube-linux-amd64",
        ),
        ("/usr/local/bin/kubectl", KUBECTL),
    ] {
        assert_eq!(
            std::fs::read(world.host_file("h1", path)).unwrap(),
            std::fs::read(world.mirror_file(served)).unwrap(),
            "{path} is the mirror's file"
        );
    }
    assert_eq!(
        entries(&world, "h1", "/usr/local/bin"),
        ["istioctl", "kubectl", "minikube"],
        "nothing left beside the binaries"
    );
}

/// Assert that the istioctl step failed with `what` in its detail and left nothing of the
/// release on the host, while the steps that do not need it went on.
fn assert_istio_release_absent(world: &World, up: &common::Run, what: &str) {
    assert_eq!(up.code, 1, "{}", up.explain());
    let step = up.step("h1", "istioctl");
    assert_eq!(step["kind"], "failed", "{}", up.explain());
    let detail = step["detail"].as_str().unwrap();
    assert!(detail.contains(what), "{detail}");
    assert!(!present(world, "h1", "/usr/local/bin/istioctl"));
    assert!(!present(world, "h1", "/usr/local/bin/istioctl.labprov-new"));
    assert_eq!(
        entries(world, "h1", "/opt/labprov"),
        Vec::<String>::new(),
        "nothing of the release in /opt/labprov, not even a staging dir"
    );
    for s in ["docker", "minikube", "kubectl", "cluster", "addons", "dns"] {
        assert_ne!(up.step("h1", s)["kind"], "failed", "{s}: {}", up.explain());
    }
    let istio = up.step("h1", "istio");
    assert_eq!(istio["kind"], "skipped", "{istio}");
    assert_eq!(istio["detail"], "skipped: needs istioctl");
}

#[test]
fn a_corrupt_istio_tarball_fails_istioctl_only_and_lands_nowhere() {
    let world = World::start(1);
    let tarball = world.mirror_file(ISTIO_TARBALL);
    let sums = tarball.with_extension("gz.sha256");
    let good = std::fs::read(&tarball).unwrap();
    let good_sums = std::fs::read_to_string(&sums).unwrap();
    let good_sha = sha256(&good);
    assert!(good_sums.starts_with(&good_sha), "{good_sums}");
    let truncated = &good[..good.len() / 2];

    // A truncated tarball behind the published checksum: the sha256 check refuses it.
    std::fs::write(&tarball, truncated).unwrap();
    let up = world.labprov(&["up"]);
    assert_istio_release_absent(
        &world,
        &up,
        &format!(
            "sha256 mismatch for http://10.210.{}.2:8080/{ISTIO_TARBALL}: expected {good_sha}, got {}",
            world.id,
            sha256(truncated)
        ),
    );
    for s in ["docker", "minikube", "kubectl", "cluster", "addons"] {
        assert_eq!(up.step("h1", s)["kind"], "changed", "{s}: {}", up.explain());
    }

    // A corrupt archive whose published checksum matches it: tar refuses it, and its
    // partial unpack is removed.
    std::fs::write(
        &sums,
        format!("{}  istio-1.31.1-linux-amd64.tar.gz\n", sha256(truncated)),
    )
    .unwrap();
    let up = world.labprov(&["up"]);
    assert_istio_release_absent(&world, &up, "tar: ");

    // The good release: installed (the checks above would have seen it).
    std::fs::write(&tarball, &good).unwrap();
    std::fs::write(&sums, &good_sums).unwrap();
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(up.step("h1", "istioctl")["kind"], "changed");
    assert_eq!(entries(&world, "h1", "/opt/labprov"), ["istio-1.31.1"]);
    assert_eq!(
        std::fs::read_link(world.host_file("h1", "/usr/local/bin/istioctl")).unwrap(),
        Path::new("/opt/labprov/istio-1.31.1/bin/istioctl")
    );
}

#[test]
fn push_mode_checksum_mismatch_fails_the_step_on_every_host() {
    let world = World::start(2);
    let profile = world.push_profile();
    let kubectl = world.mirror_file(KUBECTL);
    let good_sha = sha256(&std::fs::read(&kubectl).unwrap());
    let tampered = b"#!/bin/sh\necho tampered\n";
    std::fs::write(&kubectl, tampered).unwrap();

    let up = world.labprov_with(&profile, &["up"]);
    assert_eq!(up.code, 1, "{}", up.explain());
    let want = format!(
        "sha256 mismatch for http://10.210.{}.2:8080/{KUBECTL}: expected {good_sha}, got {}",
        world.id,
        sha256(tampered)
    );
    for h in ["h1", "h2"] {
        let step = up.step(h, "kubectl");
        assert_eq!(step["kind"], "failed", "{h}: {}", up.explain());
        assert_eq!(step["detail"], want.as_str(), "{h}");
        assert!(!present(&world, h, "/usr/local/bin/kubectl"), "{h}");
        assert!(
            !present(&world, h, "/usr/local/bin/kubectl.labprov-new"),
            "{h}"
        );
        // The other downloads went on.
        assert_eq!(up.step(h, "minikube")["kind"], "changed", "{h}");
        assert_eq!(up.step(h, "istioctl")["kind"], "changed", "{h}");
        assert!(present(&world, h, "/usr/local/bin/minikube"), "{h}");
    }
}
