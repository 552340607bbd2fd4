//! `labprov render`: the scripts `up`, `apply`, `verify`, `doctor` and `tunnel` send to a host,
//! written without contacting anything, and every one of them clean under shellcheck.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Run, labprov, root};

/// Every file under `dir`, relative and sorted.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Every shell script `render` wrote: found, not listed by hand, so a new one is shellchecked too.
fn scripts(dir: &Path) -> Vec<std::path::PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|f| f.ends_with(".sh"))
        .map(|f| dir.join(f))
        .collect()
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
    let written = files_under(dir.path());
    assert_eq!(
        run.stdout,
        format!(
            "wrote {} files to {}\n",
            written.len(),
            dir.path().display()
        )
    );
    let files = scripts(dir.path());
    let names: Vec<String> = files
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    // The check, one apply script per change step in lab order, the manifests' scripts, and one
    // tunnel script per service plus what the tunnel itself needs, and verify's two round trips
    // (the probes as a converged lab with every exercise needs them).
    assert_eq!(
        names,
        [
            "apply/01-docker.sh",
            "apply/02-minikube.sh",
            "apply/03-kubectl.sh",
            "apply/04-istioctl.sh",
            "apply/05-cluster.sh",
            "apply/06-addons.sh",
            "apply/07-dns.sh",
            "apply/08-istio.sh",
            "check.sh",
            "doctor.sh",
            "manifests/apply.sh",
            "manifests/prune.sh",
            "manifests/state.sh",
            "tunnel/dashboard.sh",
            "tunnel/gateway.sh",
            "tunnel/grafana.sh",
            "tunnel/hello-node.sh",
            "tunnel/jaeger.sh",
            "tunnel/kiali.sh",
            "tunnel/minikube-tunnel.sh",
            "tunnel/prometheus.sh",
            "tunnel/stop.sh",
            "verify/gather.sh",
            "verify/probe.sh"
        ]
    );
    // The rendered lab manifests sit beside the scripts that apply them.
    assert!(
        written.iter().any(|f| f == "manifests/hello-node.yaml"),
        "{written:?}"
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

/// A profile whose every value differs from labprov's defaults (src/config/ and the steps'
/// section.rs): a value dropped on its way to a script would fall back to the default and
/// show here.
const NON_DEFAULT: &str = r#"[ssh]
user = "anna"

[[hosts]]
name = "vm"
address = "192.0.2.7"

[versions]
minikube = "v1.36.0"
kubectl = "v1.33.4"
istio = "1.26.4"

[artifacts.minikube]
url = "https://mirror.example/mk/{version}/minikube-{arch}"
sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

[docker]
repo_url = "https://mirror.example/docker/linux/ubuntu"
gpg_url = "https://mirror.example/docker/gpg"

[cluster]
cni = "flannel"
cpus = 6
memory = "12g"
kubernetes_version = "v1.33.5"
addons = ["ingress", "metrics-server"]

[dns]
probe_host = "example.org"
nameserver = "1.1.1.1"

[istio]
profile = "minimal"
injection_namespace = "lab"

[lab]
bookinfo_namespace = "lab"

[paths]
bin_dir = "/opt/tools/bin"
istio_dir = "/srv/istio"
"#;

#[test]
fn rendered_scripts_carry_the_profile_values() {
    let src = tempfile::tempdir().unwrap();
    let profile = src.path().join("nondefault.toml");
    std::fs::write(&profile, NON_DEFAULT).unwrap();
    let (run, dir) = render(profile.to_str().unwrap());
    assert_eq!(run.code, 0, "{}", run.explain());
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    let expect = |f: &str, wanted: &[&str]| {
        let text = read(f);
        for w in wanted {
            assert!(text.contains(w), "{f} lacks {w:?}:\n{text}");
        }
    };
    expect(
        "apply/01-docker.sh",
        &[
            "https://mirror.example/docker/linux/ubuntu",
            "url_config \"$(docker_url https://mirror.example/docker/gpg)\"",
        ],
    );
    expect(
        "apply/02-minikube.sh",
        &[
            "url=https://mirror.example/mk/v1.36.0/minikube-amd64",
            "url=https://mirror.example/mk/v1.36.0/minikube-arm64",
            "sha=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "/opt/tools/bin/minikube",
        ],
    );
    expect(
        "apply/03-kubectl.sh",
        &[
            "url=https://dl.k8s.io/release/v1.33.4/bin/linux/amd64/kubectl",
            "sha_url=https://dl.k8s.io/release/v1.33.4/bin/linux/arm64/kubectl.sha256",
            "/opt/tools/bin/kubectl",
        ],
    );
    expect(
        "apply/04-istioctl.sh",
        &[
            "url=https://github.com/istio/istio/releases/download/1.26.4/istio-1.26.4-linux-amd64.tar.gz",
            "home=/srv/istio/istio-1.26.4",
        ],
    );
    expect(
        "apply/05-cluster.sh",
        &[
            "mk=/opt/tools/bin/minikube",
            "--driver=docker --cni=flannel",
            "extra+=(--cpus=6)",
            "extra+=(--memory=12288mb)",
            "--kubernetes-version=v1.33.5",
        ],
    );
    expect(
        "apply/06-addons.sh",
        &["for addon in ingress metrics-server; do"],
    );
    expect(
        "apply/07-dns.sh",
        &[
            "getent hosts example.org",
            "' 1.1.1.1 | sudo tee /etc/resolv.conf",
        ],
    );
    expect(
        "apply/08-istio.sh",
        &[
            "*:1.26.4 | *:1.26.4-*",
            "install --set profile=minimal -y",
            "label namespace lab istio-injection=enabled --overwrite",
        ],
    );
    // The checks compare the running cluster with the same values (memory in MiB).
    expect(
        "check.sh",
        &["docker 6 12288 v1.33.5 flannel", "ingress metrics-server"],
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
