//! Docker comes from the repository `docker.repo_url` names. The world's apt-get stand-in fetches
//! `dists/<suite>/InRelease` and the Packages index from the URI of the source labprov writes, as
//! real apt does, so a labprov that wrote another URI (Docker's own, say) fails here as it would on
//! a VM behind a mirror: the world has no route to download.docker.com and no DNS.

mod common;

use std::path::PathBuf;

use common::World;

/// The world's profile with `docker.repo_url` replaced (the key appears once, in `[docker]`).
fn profile_with_repo_url(world: &World, name: &str, url: &str) -> PathBuf {
    let text = std::fs::read_to_string(&world.profile).unwrap();
    let mut replaced = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("repo_url =") {
                replaced += 1;
                format!("repo_url = \"{url}\"")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert_eq!(replaced, 1, "one repo_url in the world's profile:\n{text}");
    let path = world.dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The world's own `docker.repo_url` (the mirror's copy of Docker's repository).
fn world_repo_url(world: &World) -> String {
    let text = std::fs::read_to_string(&world.profile).unwrap();
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix("repo_url = "))
        .map(|v| v.trim().trim_matches('"').to_string())
        .expect("repo_url in the world's profile")
}

/// Exit codes of the stand-in calls of `tool` on `host` whose arguments include `word`.
fn exits(world: &World, host: &str, tool: &str, word: &str) -> Vec<i64> {
    world
        .calls(host)
        .iter()
        .filter(|c| c["tool"] == tool)
        .filter(|c| {
            c["argv"]
                .as_array()
                .is_some_and(|a| a.iter().any(|w| w == word))
        })
        .map(|c| c["exit"].as_i64().unwrap())
        .collect()
}

#[test]
fn docker_is_installed_from_the_repository_docker_repo_url_names() {
    let world = World::start(3);
    let good = world_repo_url(&world);
    let mirror = good
        .strip_suffix("/docker/linux/ubuntu")
        .expect("the world's repo_url is the mirror's docker/linux/ubuntu");

    // Positive control: the world's repo_url converges, with Docker from that repository.
    let up = world.labprov(&["up", "--limit", "h3"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(
        up.step("h3", "docker")["kind"],
        "changed",
        "{}",
        up.explain()
    );
    let log = world.mirror_log();
    for fetched in [
        "GET /docker/linux/ubuntu/dists/noble/InRelease 200 ",
        "GET /docker/linux/ubuntu/dists/noble/stable/binary-amd64/Packages.gz 200 ",
    ] {
        assert!(log.contains(fetched), "{fetched} in the mirror log:\n{log}");
    }
    let version = world.exec(
        "h3",
        None,
        &["dpkg-query", "-W", "-f=${Version}", "docker-ce"],
    );
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        "5:28.5.1-1~ubuntu.24.04~noble",
        "docker-ce at the version the repository's Packages index lists"
    );

    // A server that answers but has no repository at that path: apt's own error.
    let nothing = format!("{mirror}/no-docker-here/linux/ubuntu");
    let profile = profile_with_repo_url(&world, "no-repository.toml", &nothing);
    let up = world.labprov_with(&profile, &["up", "--limit", "h1"]);
    assert_eq!(up.code, 1, "{}", up.explain());
    let docker = up.step("h1", "docker");
    assert_eq!(docker["kind"], "failed", "{}", up.explain());
    let detail = docker["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "E: The repository '{nothing} noble Release' does not have a Release file."
        )),
        "{detail}"
    );
    assert!(
        world
            .mirror_log()
            .contains("GET /no-docker-here/linux/ubuntu/dists/noble/InRelease 404 "),
        "apt asked the configured URI:\n{}",
        world.mirror_log()
    );

    // A host name the VM cannot resolve: apt-get update only warns (exit 0), the repository stays
    // unknown, and the install fails with apt's words.
    let unresolvable = "http://docker-mirror.invalid/linux/ubuntu";
    let profile = profile_with_repo_url(&world, "unresolvable.toml", unresolvable);
    let up = world.labprov_with(&profile, &["up", "--limit", "h2"]);
    assert_eq!(up.code, 1, "{}", up.explain());
    let docker = up.step("h2", "docker");
    assert_eq!(docker["kind"], "failed", "{}", up.explain());
    let detail = docker["detail"].as_str().unwrap();
    assert!(
        detail.contains("E: Unable to locate package docker-"),
        "{detail}"
    );
    assert_eq!(
        exits(&world, "h2", "apt-get", "update").last(),
        Some(&0),
        "apt-get update warns but succeeds"
    );
    assert_eq!(
        exits(&world, "h2", "apt-get", "docker-ce").last(),
        Some(&100)
    );
    // What the user sees when they look: apt names the host from the profile.
    let update = world.exec("h2", None, &["apt-get", "update"]);
    let stderr = String::from_utf8_lossy(&update.stderr);
    assert!(
        stderr.contains(&format!(
            "W: Failed to fetch {unresolvable}/dists/noble/InRelease  Temporary failure resolving 'docker-mirror.invalid'"
        )),
        "{stderr}"
    );

    // The user corrects the profile: the wrong source an earlier run wrote must not keep every
    // later `apt-get update` failing (h1's points at a path with no Release file: exit 100).
    let sources = world.host_file("h1", "/etc/apt/sources.list.d/docker.sources");
    assert!(
        std::fs::read_to_string(&sources)
            .unwrap_or_default()
            .contains(&nothing),
        "h1 kept the wrong source of the failed run"
    );
    let up = world.labprov(&["up", "--limit", "h1,h2"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    for h in ["h1", "h2"] {
        assert_eq!(up.step(h, "docker")["kind"], "changed", "{}", up.explain());
    }
    assert!(
        std::fs::read_to_string(&sources).unwrap().contains(&good),
        "h1's source now names the profile's repo_url"
    );
}
