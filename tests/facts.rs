//! The `facts` step refuses anything but Ubuntu >= 22.04 or Debian >= 12 on amd64/arm64,
//! before anything is installed, and `plan` says so first (README, "Steps", "Commands").

mod common;
mod support;

use common::{Run, UP_STEPS, World};
use support::{host_sh, kinds, state};

const DEBIAN_11: &str = r#"PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"
NAME="Debian GNU/Linux"
VERSION_ID="11"
VERSION="11 (bullseye)"
VERSION_CODENAME=bullseye
ID=debian
HOME_URL="https://www.debian.org/"
"#;

const UBUNTU_20_04: &str = r#"PRETTY_NAME="Ubuntu 20.04.6 LTS"
NAME="Ubuntu"
VERSION_ID="20.04"
VERSION="20.04.6 LTS (Focal Fossa)"
VERSION_CODENAME=focal
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=focal
"#;

/// Make the host's os-release say `text` (both paths, as on a real system).
fn set_os_release(world: &World, text: &str) {
    let path = world.dir.join("os-release.next");
    std::fs::write(&path, text).unwrap();
    host_sh(
        world,
        "h1",
        None,
        &format!(
            "install -m 0644 {p} /etc/os-release && install -m 0644 {p} /usr/lib/os-release",
            p = path.display()
        ),
    );
}

/// The run refused the host at `facts` with `why`: every later step is reported skipped,
/// and nothing was installed.
fn assert_refused(world: &World, run: &Run, why: &str) {
    assert_eq!(run.code, 1, "{}", run.explain());
    let facts = run.step("h1", "facts");
    assert_eq!(facts["kind"], "failed", "{}", run.explain());
    assert_eq!(facts["detail"], why, "{}", run.explain());
    let steps = kinds(run, "h1");
    assert_eq!(steps.len(), 10, "{}", run.explain());
    for e in run
        .events
        .iter()
        .filter(|e| e["type"] == "step" && e["step"] != "facts")
    {
        assert_eq!(e["kind"], "skipped", "{e}");
        assert!(
            e["detail"].as_str().unwrap().starts_with("skipped: needs "),
            "{e}"
        );
    }
    // One failure, facts; every other step is skipped for it, not failed.
    assert_eq!(run.tally("h1"), (0, 0, 1));
    assert_eq!(run.skipped("h1"), UP_STEPS.len() as u64 - 1);
    let installers: Vec<_> = world
        .calls("h1")
        .into_iter()
        .filter(|c| c["tool"] == "apt-get")
        .collect();
    assert!(installers.is_empty(), "nothing installed: {installers:?}");
    assert!(!world.host_file("h1", "/usr/local/bin/minikube").exists());
}

#[test]
fn facts_refuse_another_os_an_old_ubuntu_and_another_architecture() {
    let world = World::start(1);
    let noble = host_sh(&world, "h1", None, "cat /etc/os-release");
    assert!(noble.contains("VERSION_ID=\"24.04\""), "{noble}");

    // A fresh supported host: `up` would change things (Terraform's 2).
    let plan = world.labprov(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.explain());
    assert_eq!(state(&plan, "h1", "facts")["state"], "converged");

    set_os_release(&world, DEBIAN_11);
    let debian = "unsupported OS debian 11: labprov supports Ubuntu 22.04 and 24.04, Debian 12 \
                  and 13 (and newer releases)";
    // plan says before `up` what `up` will say: checked fine (0), or blocked (1) with
    // --detailed-exitcode.
    let plan = world.labprov(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.explain());
    let facts = state(&plan, "h1", "facts");
    assert_eq!(facts["state"], "blocked", "{}", plan.explain());
    assert_eq!(facts["reasons"][0], debian);
    let plan = world.labprov(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 1, "{}", plan.explain());
    let status = world.labprov(&["status"]);
    assert_eq!(state(&status, "h1", "facts")["reasons"][0], debian);
    let up = world.labprov(&["up"]);
    assert_refused(&world, &up, debian);

    set_os_release(&world, UBUNTU_20_04);
    let up = world.labprov(&["up"]);
    assert_refused(
        &world,
        &up,
        "unsupported OS ubuntu 20.04: labprov supports Ubuntu 22.04 and 24.04, Debian 12 and 13 \
         (and newer releases)",
    );

    // A riscv64 Ubuntu 24.04: dpkg and uname of this host report riscv64 (wrappers in
    // /usr/local/bin, first on the PATH of an ssh session and of sudo's secure_path; the
    // real tools stay at /usr/bin).
    set_os_release(&world, &noble);
    host_sh(
        &world,
        "h1",
        None,
        r#"set -e
cat >/usr/local/bin/dpkg <<'EOF'
#!/bin/sh
[ "$1" = --print-architecture ] && { echo riscv64; exit 0; }
exec /usr/bin/dpkg "$@"
EOF
cat >/usr/local/bin/uname <<'EOF'
#!/bin/sh
[ "$1" = -m ] && { echo riscv64; exit 0; }
exec /usr/bin/uname "$@"
EOF
chmod 0755 /usr/local/bin/dpkg /usr/local/bin/uname"#,
    );
    assert_eq!(
        host_sh(&world, "h1", Some(&world.user), "dpkg --print-architecture").trim(),
        "riscv64"
    );
    let up = world.labprov(&["up"]);
    assert_refused(
        &world,
        &up,
        "unsupported architecture riscv64: labprov supports amd64 and arm64",
    );
    let facts = up
        .events
        .iter()
        .find(|e| e["type"] == "facts")
        .expect("facts event");
    assert_eq!(facts["facts"]["arch"], "riscv64");

    // The same host as it came, Ubuntu 24.04 on amd64: provisioned. (The checks above
    // would have seen apt-get and minikube.)
    host_sh(
        &world,
        "h1",
        None,
        "rm /usr/local/bin/dpkg /usr/local/bin/uname",
    );
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(up.step("h1", "facts")["kind"], "ok");
    assert!(world.calls("h1").iter().any(|c| c["tool"] == "apt-get"));
    assert!(world.host_file("h1", "/usr/local/bin/minikube").is_file());
    // Converged: nothing to change (Terraform's 0).
    let plan = world.labprov(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.explain());
}

/// Debian 12 is supported as Ubuntu is: Docker from Docker's Debian repository (the profile's
/// `{os}`), the rest the same.
#[test]
fn a_debian_12_host_converges_with_dockers_debian_repository() {
    let world = World::start(1);
    world.fault("h1", "debian 12");
    let release = host_sh(
        &world,
        "h1",
        None,
        ". /etc/os-release && echo $ID $VERSION_ID $VERSION_CODENAME",
    );
    assert_eq!(release.trim(), "debian 12 bookworm");
    // The world's profile names the mirror's Ubuntu repository; this one names it by `{os}`,
    // as the built-in profiles name download.docker.com's.
    let text = std::fs::read_to_string(&world.profile).unwrap();
    assert_eq!(text.matches("/docker/linux/ubuntu").count(), 2, "{text}");
    let profile = world.dir.join("debian.toml");
    std::fs::write(
        &profile,
        text.replace("/docker/linux/ubuntu", "/docker/linux/{os}"),
    )
    .unwrap();

    let plan = world.labprov_with(&profile, &["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.explain());
    assert_eq!(
        state(&plan, "h1", "facts")["state"],
        "converged",
        "{}",
        plan.explain()
    );
    let up = world.labprov_with(&profile, &["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(
        up.step("h1", "docker")["kind"],
        "changed",
        "{}",
        up.explain()
    );

    // Docker came from the Debian repository, for bookworm, at Docker's Debian version.
    let sources = host_sh(
        &world,
        "h1",
        None,
        "cat /etc/apt/sources.list.d/docker.sources",
    );
    assert!(
        sources.contains(&format!(
            "URIs: http://10.210.{}.2:8080/docker/linux/debian\nSuites: bookworm\n",
            world.id
        )),
        "{sources}"
    );
    let log = world.mirror_log();
    assert!(log.contains("GET /docker/linux/debian/gpg 200"), "{log}");
    assert!(
        log.contains("GET /docker/linux/debian/dists/bookworm/InRelease 200"),
        "{log}"
    );
    assert!(!log.contains("/docker/linux/ubuntu/"), "{log}");
    let version = host_sh(
        &world,
        "h1",
        None,
        "dpkg-query -W -f='${Version}' docker-ce",
    );
    assert_eq!(version, "5:28.5.1-1~debian.12~bookworm");
    assert!(world.host_file("h1", "/usr/local/bin/minikube").is_file());
}
