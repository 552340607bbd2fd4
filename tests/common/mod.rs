//! The lab world from Rust: start a world (real sshd hosts in network namespaces, a mirror,
//! stand-ins), run the real `labprov` binary against it, and read what happened on the hosts.
//! Every world is torn down on drop, so a failing test leaves nothing behind.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn labprov() -> Command {
    Command::new(env!("CARGO_BIN_EXE_labprov"))
}

pub struct World {
    pub id: u32,
    pub dir: PathBuf,
    pub profile: PathBuf,
    pub user: String,
    claim: PathBuf,
}

/// Claim a world id no other test (in this or another process) holds.
fn claim_id() -> (u32, PathBuf) {
    let base = Path::new("/run/labprov-world-ids");
    std::fs::create_dir_all(base).unwrap();
    let me = std::process::id().to_string();
    for id in 1..=250u32 {
        let claim = base.join(id.to_string());
        if std::fs::create_dir(&claim).is_ok() {
            std::fs::write(claim.join("pid"), &me).unwrap();
            return (id, claim);
        }
        // A claim whose process is gone is stale: take it over. A claim without a pid yet
        // is being made right now by another test, so it is left alone.
        let pid = std::fs::read_to_string(claim.join("pid")).unwrap_or_default();
        let dead = pid
            .trim()
            .parse::<u32>()
            .is_ok_and(|p| !Path::new(&format!("/proc/{p}")).exists());
        if dead && std::fs::remove_dir_all(&claim).is_ok() && std::fs::create_dir(&claim).is_ok() {
            std::fs::write(claim.join("pid"), &me).unwrap();
            let _ = Command::new(root().join("tests/world/stop"))
                .args(["--id", &id.to_string()])
                .output();
            return (id, claim);
        }
    }
    panic!("no free lab world id");
}

impl World {
    pub fn start(n: usize) -> World {
        World::start_with(n, &[])
    }

    pub fn start_with(n: usize, flags: &[&str]) -> World {
        let (id, claim) = claim_id();
        let dir = PathBuf::from(format!("/run/labprov-world/{id}"));
        let out = Command::new(root().join("tests/world/start"))
            .args(["--id", &id.to_string()])
            .args(flags)
            .arg(n.to_string())
            .output()
            .expect("tests/world/start runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let world = World {
            id,
            dir: dir.clone(),
            profile: PathBuf::from(stdout.lines().last().unwrap_or_default().trim()),
            user: flags
                .windows(2)
                .find(|w| w[0] == "--user")
                .map_or("student".to_string(), |w| w[1].to_string()),
            claim,
        };
        assert!(
            out.status.success() && world.profile.is_file(),
            "world start failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        world
    }

    /// Run labprov with this world's profile (or another), output as JSON lines.
    pub fn labprov(&self, args: &[&str]) -> Run {
        self.labprov_with(&self.profile, args)
    }

    pub fn labprov_with(&self, profile: &Path, args: &[&str]) -> Run {
        let out = labprov()
            .arg("--profile")
            .arg(profile)
            .args(["--output", "json"])
            .args(args)
            .env("XDG_CACHE_HOME", self.dir.join("controller-cache"))
            .env("XDG_STATE_HOME", self.dir.join("controller-state"))
            .output()
            .expect("labprov runs");
        Run::new(out)
    }

    /// Write a profile that is this world's plus `extra` TOML appended.
    pub fn profile_plus(&self, name: &str, extra: &str) -> PathBuf {
        let text = std::fs::read_to_string(&self.profile).unwrap();
        let path = self.dir.join(name);
        std::fs::write(&path, format!("{text}\n{extra}\n")).unwrap();
        path
    }

    /// A file as host `host` sees it (through its overlay upper dir), if labprov wrote it.
    pub fn host_file(&self, host: &str, path: &str) -> PathBuf {
        self.dir
            .join(host)
            .join("upper")
            .join(path.trim_start_matches('/'))
    }

    /// Run a command inside a host's namespaces.
    pub fn exec(&self, host: &str, user: Option<&str>, cmd: &[&str]) -> Output {
        let mut c = Command::new(root().join("tests/world/exec"));
        c.args(["--id", &self.id.to_string(), host]);
        if let Some(u) = user {
            c.args(["--user", u]);
        }
        c.arg("--")
            .args(cmd)
            .output()
            .expect("tests/world/exec runs")
    }

    /// sshd's log of a host.
    pub fn sshd_log(&self, host: &str) -> String {
        std::fs::read_to_string(self.dir.join(host).join("sshd.log")).unwrap_or_default()
    }

    /// Connections and command channels the host's sshd accepted so far.
    pub fn ssh_counts(&self, host: &str) -> (usize, usize) {
        let log = self.sshd_log(host);
        (
            log.matches("Accepted publickey").count(),
            log.matches("Starting session: command").count(),
        )
    }

    /// Stand-in calls on a host, one JSON value per call.
    pub fn calls(&self, host: &str) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.host_file(host, "/var/lib/labprov-world/calls.log"))
                .unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn mirror_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mirror/access.log")).unwrap_or_default()
    }

    pub fn mirror_file(&self, rel: &str) -> PathBuf {
        self.dir.join("mirror/root").join(rel)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = Command::new(root().join("tests/world/stop"))
            .args(["--id", &self.id.to_string()])
            .output();
        let _ = std::fs::remove_dir_all(&self.claim);
    }
}

/// One labprov run: exit code, stdout parsed as JSON lines, stderr.
pub struct Run {
    pub code: i32,
    pub events: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn new(out: Output) -> Run {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        Run {
            code: out.status.code().unwrap_or(-1),
            events: stdout
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect(),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn summary(&self) -> &Value {
        let last = self
            .events
            .last()
            .unwrap_or_else(|| panic!("no JSON output:\n{}\n{}", self.stdout, self.stderr));
        assert_eq!(last["type"], "summary", "last line is the summary");
        last
    }

    /// (ok, changed, failed) of a host from the summary.
    pub fn tally(&self, host: &str) -> (u64, u64, u64) {
        let h = &self.summary()["hosts"][host];
        (
            h["ok"].as_u64().unwrap(),
            h["changed"].as_u64().unwrap(),
            h["failed"].as_u64().unwrap(),
        )
    }

    /// How many step outcomes a host had in this run: what a tally is compared with,
    /// so no test hard-codes how many steps labprov has.
    pub fn steps_of(&self, host: &str) -> u64 {
        self.events
            .iter()
            .filter(|e| e["type"] == "step" && e["host"] == host)
            .count() as u64
    }

    /// The outcome event of one step on one host.
    pub fn step(&self, host: &str, step: &str) -> &Value {
        self.events
            .iter()
            .find(|e| e["type"] == "step" && e["host"] == host && e["step"] == step)
            .unwrap_or_else(|| panic!("no outcome for {host}/{step}:\n{}", self.stdout))
    }

    /// Plan/status states of a host, step → state.
    pub fn states(&self, host: &str) -> Vec<(String, String)> {
        self.events
            .iter()
            .filter(|e| (e["type"] == "plan" || e["type"] == "status") && e["host"] == host)
            .map(|e| {
                (
                    e["step"].as_str().unwrap().to_string(),
                    e["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    pub fn explain(&self) -> String {
        format!(
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}
