//! A mirror URL with credentials (`http://user:password@mirror/...`) reaches the hosts, and
//! nothing else: not the terminal, the JSON lines, the journals, `render`'s files, nor the
//! process list of the VM while labprov works there.

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

#[test]
fn credentials_in_urls_reach_the_hosts_and_nothing_else() {
    let world = World::start(1);
    let mirror = format!("http://10.210.{}.2:8080/", world.id);
    let secret = format!("http://labuser:{PASSWORD}@10.210.{}.2:8080/", world.id);
    let text = std::fs::read_to_string(&world.profile).unwrap();
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("url = ") || l.starts_with("gpg_url = ") {
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
    std::fs::write(
        world.dir.join("mirror/faults"),
        r#"[{"path": "minikube-linux-amd64", "action": "status", "status": 404, "count": 1}]"#,
    )
    .unwrap();

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
}
