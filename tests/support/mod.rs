//! Helpers shared by the tests of the README's promises, on top of `tests/common`: scripts
//! and processes inside a host, kubectl answers, plain runs, steps' kinds and stand-ins' calls.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::{Run, World, labprov};

/// The one polling loop of the suite, under the name these tests use.
pub use crate::common::wait_for as poll;

/// `pid: command line` of every process running in `host` of this world, found by the UTS
/// namespace that only the host's own processes share. `ps` inside a host would list the
/// whole machine: the other worlds of a parallel run, and their hosts' downloads too.
pub fn host_processes(world: &World, host: &str) -> Vec<String> {
    processes_in(&world.dir, host)
}

/// [`host_processes`] of the world in `dir`, for a thread that does not hold the world.
pub fn processes_in(dir: &Path, host: &str) -> Vec<String> {
    let holder = std::fs::read_to_string(dir.join(host).join("pid")).unwrap();
    let uts = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/uts")).ok();
    let host_uts = uts(holder.trim()).expect("the host's holder runs");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) || uts(&pid).as_ref() != Some(&host_uts) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push(format!("{pid}: {}", cmdline.trim_end()));
        }
    }
    found
}

/// Run a shell script inside a host (as root, or as `user`); it must succeed. Its stdout.
pub fn host_sh(world: &World, host: &str, user: Option<&str>, script: &str) -> String {
    let out = world.exec(host, user, &["bash", "-c", script]);
    assert!(
        out.status.success(),
        "on {host}: {script}\nexit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kubectl ARGS -o json` on a host, as the login user (the user's kubeconfig), parsed.
pub fn kubectl_json(world: &World, host: &str, args: &[&str]) -> Value {
    let mut cmd = vec!["kubectl"];
    cmd.extend_from_slice(args);
    cmd.extend_from_slice(&["-o", "json"]);
    let out = world.exec(host, Some(&world.user), &cmd);
    assert!(
        out.status.success(),
        "on {host}: {cmd:?}\nexit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{cmd:?} printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Connection traces a host's sshd logged so far (see [`World::contacts`], which fails the
/// test when the log is missing rather than counting nothing).
pub fn connection_attempts(world: &World, host: &str) -> usize {
    world
        .contacts()
        .0
        .get(host)
        .copied()
        .unwrap_or_else(|| panic!("no host {host} in this world"))
}

/// Run labprov against the world with `--output plain` (what a user sees in a pipe or a CI
/// log), extra global flags first.
pub fn labprov_plain(world: &World, profile: &Path, args: &[&str]) -> Run {
    let out = labprov()
        .arg("--profile")
        .arg(profile)
        .args(["--output", "plain"])
        .args(args)
        .env("XDG_CACHE_HOME", world.dir.join("controller-cache"))
        .env("XDG_STATE_HOME", world.dir.join("controller-state"))
        .output()
        .expect("labprov runs");
    Run::new(out)
}

/// The step outcomes of a host, step → kind, in the order they were printed.
pub fn kinds(run: &Run, host: &str) -> Vec<(String, String)> {
    let out: Vec<(String, String)> = run
        .events
        .iter()
        .filter(|e| e["type"] == "step" && e["host"] == host)
        .map(|e| {
            (
                e["step"].as_str().unwrap_or("?").to_string(),
                e["kind"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    assert!(
        !out.is_empty(),
        "no step outcome for {host}:\n{}",
        run.explain()
    );
    out
}

/// Plan/status state of one step of a host, with its reasons.
pub fn state<'a>(run: &'a Run, host: &str, step: &str) -> &'a Value {
    run.events
        .iter()
        .find(|e| {
            (e["type"] == "plan" || e["type"] == "status") && e["host"] == host && e["step"] == step
        })
        .unwrap_or_else(|| panic!("no plan/status of {host}/{step}:\n{}", run.explain()))
}

/// Stand-in calls of one tool on a host whose arguments contain `word`.
pub fn calls_with(world: &World, host: &str, tool: &str, word: &str) -> Vec<Value> {
    world
        .calls(host)
        .into_iter()
        .filter(|c| {
            c["tool"] == tool
                && c["argv"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == word))
        })
        .collect()
}

/// The world's address of target `hK` (10.211.ID.(10+K)).
pub fn address(world: &World, k: usize) -> String {
    format!("10.211.{}.{}", world.id, 10 + k)
}

/// A labprov run in the background (JSON output to files in the world's dir), killed if the
/// test ends while it still runs.
pub struct Background {
    child: std::process::Child,
    out: std::path::PathBuf,
    err: std::path::PathBuf,
}

impl Background {
    pub fn start(world: &World, profile: &Path, args: &[&str]) -> Background {
        Background::start_env(world, profile, args, &[])
    }

    /// [`Background::start`] with extra environment variables (e.g. its own `TMPDIR`).
    pub fn start_env(
        world: &World,
        profile: &Path,
        args: &[&str],
        env: &[(&str, &Path)],
    ) -> Background {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let out = world.dir.join(format!("labprov-{n}.out"));
        let err = world.dir.join(format!("labprov-{n}.err"));
        let child = labprov()
            .arg("--profile")
            .arg(profile)
            .args(["--output", "json"])
            .args(args)
            .env("XDG_CACHE_HOME", world.dir.join("controller-cache"))
            .env("XDG_STATE_HOME", world.dir.join("controller-state"))
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("labprov starts");
        Background { child, out, err }
    }

    /// Where its stdout (JSON lines) goes, to read while it runs.
    pub fn stdout_path(&self) -> std::path::PathBuf {
        self.out.clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited (without waiting).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Send a signal (`INT`, `TERM`) to the labprov process itself.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} {}", self.pid());
    }

    /// Wait for it to exit, at most `timeout`; its output as a [`Run`].
    pub fn finish(mut self, timeout: Duration) -> Run {
        let status = poll("labprov to exit", timeout, || {
            self.child.try_wait().unwrap()
        });
        let stdout = std::fs::read(&self.out).unwrap();
        let stderr = std::fs::read(&self.err).unwrap();
        Run::new(std::process::Output {
            status,
            stdout,
            stderr,
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
