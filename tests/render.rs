//! `labprov render`: every script a host would receive, written without contacting anything,
//! and every one of them clean under shellcheck.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Run, labprov, root};

fn scripts(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.join("check.sh")];
    let mut applies: Vec<_> = std::fs::read_dir(dir.join("apply"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    applies.sort();
    out.extend(applies);
    for f in ["apply.sh", "prune.sh", "state.sh"] {
        out.push(dir.join("manifests").join(f));
    }
    for f in [
        "dashboard",
        "kiali",
        "grafana",
        "jaeger",
        "prometheus",
        "minikube-tunnel",
        "gateway",
        "stop",
    ] {
        out.push(dir.join("tunnel").join(format!("{f}.sh")));
    }
    out
}

fn render(profile: &str) -> (Run, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = labprov()
        .current_dir(root())
        .args(["--profile", profile, "--output", "plain", "render", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    (Run::new(out), dir)
}

#[test]
fn crownlabs_scripts_are_written_and_pass_shellcheck() {
    let (run, dir) = render("profiles/crownlabs.toml");
    assert_eq!(run.code, 0, "{}", run.explain());
    assert_eq!(
        run.stdout,
        format!("wrote 27 files to {}\n", dir.path().display())
    );
    let files = scripts(dir.path());
    let names: Vec<String> = files
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "check.sh",
            "apply/01-docker.sh",
            "apply/02-minikube.sh",
            "apply/03-kubectl.sh",
            "apply/04-istioctl.sh",
            "apply/05-cluster.sh",
            "apply/06-addons.sh",
            "apply/07-dns.sh",
            "apply/08-istio.sh",
            "manifests/apply.sh",
            "manifests/prune.sh",
            "manifests/state.sh",
            "tunnel/dashboard.sh",
            "tunnel/kiali.sh",
            "tunnel/grafana.sh",
            "tunnel/jaeger.sh",
            "tunnel/prometheus.sh",
            "tunnel/minikube-tunnel.sh",
            "tunnel/gateway.sh",
            "tunnel/stop.sh"
        ]
    );
    let check = Command::new("shellcheck")
        .args(["--shell=bash", "--severity=style"])
        .args(&files)
        .output()
        .expect("shellcheck is installed (.ci/run installs it)");
    assert!(
        check.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

#[test]
fn rendered_scripts_carry_the_profile_values() {
    let (run, dir) = render("profiles/vagrant.toml");
    assert_eq!(run.code, 0, "{}", run.explain());
    let cluster = std::fs::read_to_string(dir.path().join("apply/05-cluster.sh")).unwrap();
    assert!(
        cluster.contains("--driver=docker --cni=cilium"),
        "{cluster}"
    );
    assert!(cluster.contains("--cpus=4 --memory=8g"), "{cluster}");
    let kubectl = std::fs::read_to_string(dir.path().join("apply/03-kubectl.sh")).unwrap();
    assert!(kubectl.contains("url=https://dl.k8s.io/release/v1.34.1/bin/linux/amd64/kubectl"));
    assert!(
        kubectl
            .contains("sha_url=https://dl.k8s.io/release/v1.34.1/bin/linux/arm64/kubectl.sha256")
    );
}

#[test]
fn completions_are_printed_for_a_shell() {
    let out = labprov().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("_labprov()") && text.contains("tunnel"),
        "{text}"
    );
}
