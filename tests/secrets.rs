//! A mirror URL with credentials (`http://user:password@mirror/...`) reaches the hosts, and
//! nothing else: not the terminal, the JSON lines, the journals, `render`'s files, nor the
//! process list of the VM while labprov works there. On the VM, Docker's repository login is
//! root's alone (apt's auth.conf.d), not in the world-readable docker.sources.

mod common;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::World;

const PASSWORD: &str = "Pa55w0rd-XYZ";

/// Every file under `dir` whose bytes hold `needle`.
fn files_holding(dir: &std::path::Path, needle: &str) -> (usize, Vec<String>) {
    let mut seen = 0;
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if let Ok(bytes) = std::fs::read(&p) {
            seen += 1;
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                hits.push(p.display().to_string());
            }
        }
    }
    (seen, hits)
}

/// The status line the world's mirror answers a GET of `path` with, without a login.
fn mirror_status(world: &World, path: &str) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(format!("10.210.{}.2:8080", world.id)).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: mirror\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_string()
}

#[test]
fn credentials_in_urls_reach_the_hosts_and_nothing_else() {
    let world = World::start(1);
    let mirror = format!("http://10.210.{}.2:8080/", world.id);
    let secret = format!("http://labuser:{PASSWORD}@10.210.{}.2:8080/", world.id);
    let text = std::fs::read_to_string(&world.profile).unwrap();
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("url = ")
                || l.starts_with("gpg_url = ")
                || l.starts_with("repo_url = ")
            {
                l.replace(&mirror, &secret)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains(PASSWORD), "the profile carries the password");
    let profile = world.dir.join("secret.toml");
    std::fs::write(&profile, &text).unwrap();
    // The second run pushes what the first could not fetch, so the controller downloads with
    // the credentials too (and keeps a cache).
    let push = world.dir.join("secret-push.toml");
    std::fs::write(
        &push,
        text.replace(
            "[artifacts.minikube]",
            "[artifacts]\nmode = \"push\"\n\n[artifacts.minikube]",
        ),
    )
    .unwrap();
    // One download fails at first, so its URL shows up in an error (masked), and is retried.
    // Docker's repository is private: apt fetches it only with the login.
    std::fs::write(
        world.dir.join("mirror/faults"),
        format!(
            r#"[{{"path": "minikube-linux-amd64", "action": "status", "status": 404, "count": 1}},
                {{"path": "/docker/", "action": "auth", "user": "labuser", "password": "{PASSWORD}", "count": -1}}]"#
        ),
    )
    .unwrap();
    assert!(
        mirror_status(&world, "/docker/linux/ubuntu/gpg").starts_with("HTTP/1.1 401"),
        "the mirror refuses Docker's repository without the login"
    );

    // Watch the VM's process list for as long as labprov works there.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        let dir = world.dir.clone();
        std::thread::spawn(move || {
            let (mut scans, mut ours, mut leaks) = (0, 0, Vec::new());
            while !done.load(Ordering::SeqCst) {
                // What `ps` in the VM reads: each of its processes' command line.
                let processes = support::processes_in(&dir, "h1");
                scans += 1;
                ours += processes.iter().filter(|l| l.contains("/dev/fd/3")).count();
                leaks.extend(processes.into_iter().filter(|l| l.contains(PASSWORD)));
                // A sampling period, not a wait: leave the 2 cores to the run it watches.
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            (scans, ours, leaks)
        })
    };
    let up = world.labprov_with(&profile, &["up"]);
    let again = world.labprov_with(&push, &["up"]);
    done.store(true, Ordering::SeqCst);
    let (scans, ours, leaks) = watcher.join().unwrap();
    assert_eq!(up.code, 1, "{}", up.explain());
    assert_eq!(again.code, 0, "{}", again.explain());
    assert!(
        ours > 0,
        "the watcher saw labprov's scripts running ({scans} scans)"
    );
    assert!(leaks.is_empty(), "the password in the VM's ps: {leaks:?}");
    assert_eq!(
        again.step("h1", "docker")["kind"],
        "ok",
        "{}",
        again.explain()
    );

    // apt got the login from its auth.conf.d, a file of root's alone; the source names none.
    let sources =
        std::fs::read_to_string(world.host_file("h1", "/etc/apt/sources.list.d/docker.sources"))
            .unwrap();
    assert!(
        sources.contains(&format!(
            "URIs: http://10.210.{}.2:8080/docker/linux/ubuntu\n",
            world.id
        )),
        "{sources}"
    );
    let auth = world.host_file("h1", "/etc/apt/auth.conf.d/labprov-docker.conf");
    assert_eq!(
        std::fs::read_to_string(&auth).unwrap(),
        format!(
            "machine http://10.210.{}.2:8080\nlogin labuser\npassword {PASSWORD}\n",
            world.id
        )
    );
    let meta = std::fs::metadata(&auth).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o600), "{auth:?}");
    // What the VM's user can read holds no password (grep reads the whole tree as that user;
    // the positive control is that same grep as root, which finds the auth file).
    let grep = |user: Option<&str>| {
        let out = world.exec(
            "h1",
            user,
            &[
                "grep", "-rlsF", PASSWORD, "/etc", "/var/lib", "/home", "/tmp", "/opt",
            ],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let as_root = grep(None);
    assert!(
        as_root.contains("/etc/apt/auth.conf.d/labprov-docker.conf"),
        "{as_root}"
    );
    let as_user = grep(Some(&world.user));
    assert!(
        as_user.trim().is_empty(),
        "readable by {}: {as_user}",
        world.user
    );

    // The failed download's URL is shown, with its credentials masked.
    let shown = up.step("h1", "minikube")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        shown.contains(&format!("http://***@10.210.{}.2:8080/minikube", world.id)),
        "{shown}"
    );
    for (what, run) in [("first up", &up), ("second up", &again)] {
        assert!(
            !run.stdout.contains(PASSWORD),
            "{what} stdout: {}",
            run.stdout
        );
        assert!(
            !run.stderr.contains(PASSWORD),
            "{what} stderr: {}",
            run.stderr
        );
    }
    let plain = common::labprov()
        .arg("--profile")
        .arg(&profile)
        .args(["--output", "plain", "-vv", "plan"])
        .env("XDG_CACHE_HOME", world.dir.join("controller-cache"))
        .env("XDG_STATE_HOME", world.dir.join("controller-state"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&plain.stdout).into_owned()
        + &String::from_utf8_lossy(&plain.stderr);
    assert!(!text.contains(PASSWORD), "{text}");

    // Journals, last-run.json and the cache.
    for dir in ["controller-state", "controller-cache"] {
        let (seen, hits) = files_holding(&world.dir.join(dir), PASSWORD);
        assert!(seen > 0, "{dir} holds files");
        assert!(hits.is_empty(), "the password in {hits:?}");
    }

    // render masks it, unless asked not to (which shows the scripts do carry the URL).
    for (flag, leaked) in [(None, false), (Some("--show-secrets"), true)] {
        let out = world.dir.join(format!("render{}", flag.is_some()));
        let mut cmd = common::labprov();
        cmd.arg("--profile")
            .arg(&profile)
            .args(["render", "--out"])
            .arg(&out);
        cmd.args(flag);
        assert!(cmd.output().unwrap().status.success());
        let (seen, hits) = files_holding(&out, PASSWORD);
        assert!(seen > 5, "render wrote its files");
        assert_eq!(!hits.is_empty(), leaked, "{flag:?}: {hits:?}");
    }

    // Removing Docker removes its login too.
    let down = world.labprov_with(&profile, &["down", "--yes", "--purge-docker"]);
    assert_eq!(down.code, 0, "{}", down.explain());
    assert!(!auth.exists(), "{auth:?} left by down --purge-docker");
}
