//! The lab world from Rust: start a world (real sshd hosts in network namespaces, a mirror,
//! stand-ins), run the real `labprov` binary against it, and read what happened on the hosts.
//! Every world is torn down on drop, so a failing test leaves nothing behind.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The steps `plan` and `status` report for every host, in order.
pub const UP_STEPS: [&str; 10] = [
    "facts",
    "docker",
    "minikube",
    "kubectl",
    "istioctl",
    "cluster",
    "addons",
    "dns",
    "istio",
    "manifests",
];

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
    /// Held for the world's lifetime and dropped after it is stopped (see [`WorldSlots`]).
    _slots: WorldSlots,
}

/// Poll `f` every 200 ms until it gives a value; panic naming `what` after `timeout`.
/// Deadlines are generous on purpose: they bound a hang, they are no timing target.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    poll(what, timeout, || f().ok_or_else(String::new))
}

/// [`wait_for`], where `f` says what it saw instead (the last of which the panic shows).
pub fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if Instant::now() > deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// A share of the machine for one world, across every test process: `flock`s on files under
/// `/run/labprov-world-slots/`. Cargo runs test binaries one at a time but the tests of a
/// binary in parallel, and other developers run theirs at the same time on a 2-core machine:
/// booting the 30- and 50-host worlds together (or beside several small ones) starves sshd
/// handshakes and stand-ins past any sane deadline. A world takes one slot per 8 hosts, so the
/// big fleets take every slot and run alone. The kernel drops a flock when its file is closed,
/// so the slots are released on drop, on panic and when the process dies; the files are
/// opened close-on-exec, so the world's daemons never inherit them.
struct WorldSlots(Vec<File>);

const WORLD_SLOTS: usize = 4;

impl WorldSlots {
    fn weight(hosts: usize) -> usize {
        hosts.div_ceil(8).clamp(1, WORLD_SLOTS)
    }

    fn take(hosts: usize) -> WorldSlots {
        let base = Path::new("/run/labprov-world-slots");
        std::fs::create_dir_all(base).unwrap();
        let open = |k: usize| {
            File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(base.join(format!("slot{k}")))
                .unwrap()
        };
        let weight = Self::weight(hosts);
        if weight == 1 {
            // Any free slot. Waiting holds nothing, so it cannot deadlock with a big world.
            loop {
                for k in 0..WORLD_SLOTS {
                    let f = open(k);
                    if f.try_lock().is_ok() {
                        return WorldSlots(vec![f]);
                    }
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        // Several slots: always in ascending order, blocking, so two big worlds never hold
        // parts of what the other waits for.
        WorldSlots(
            (0..weight)
                .map(|k| {
                    let f = open(k);
                    f.lock().unwrap();
                    f
                })
                .collect(),
        )
    }
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
        let slots = WorldSlots::take(n);
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
            _slots: slots,
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

    /// Inject a fault with `tests/world/fault` (see its header for the actions).
    pub fn fault(&self, host: &str, action: &str) {
        let out = Command::new(root().join("tests/world/fault"))
            .args(["--id", &self.id.to_string(), host, action])
            .output()
            .expect("tests/world/fault runs");
        assert!(
            out.status.success(),
            "fault {host} {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The world's hosts as `world.env` lists them, bastion first.
    pub fn hosts(&self) -> Vec<String> {
        let env = std::fs::read_to_string(self.dir.join("world.env")).unwrap();
        let line = env
            .lines()
            .find_map(|l| l.strip_prefix("HOSTS="))
            .unwrap_or_else(|| panic!("no HOSTS= in {}/world.env", self.dir.display()));
        let mut hosts = vec!["bastion".to_string()];
        hosts.extend(line.trim_matches('"').split_whitespace().map(String::from));
        hosts
    }

    /// sshd's log of a host. Every host of a running world has one: a missing log means the
    /// test looks in the wrong place, never "nothing was logged".
    pub fn sshd_log(&self, host: &str) -> String {
        let path = self.dir.join(host).join("sshd.log");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// Logins and command channels the host's sshd accepted so far.
    pub fn ssh_counts(&self, host: &str) -> (usize, usize) {
        let log = self.sshd_log(host);
        (
            log.matches("Accepted publickey").count(),
            log.matches("Starting session: command").count(),
        )
    }

    /// Every trace of a connection attempt in each host's sshd log (bastion and targets).
    /// Compare two snapshots with [`Contacts::since`].
    pub fn contacts(&self) -> Contacts {
        Contacts(
            self.hosts()
                .into_iter()
                .map(|h| {
                    let n = contact_lines(&self.sshd_log(&h));
                    (h, n)
                })
                .collect(),
        )
    }

    /// Stand-in calls on a host, one JSON value per call (none before the first call).
    /// A line that is not JSON is a broken call log, and fails the test; only a last line
    /// still being written is left for the next read.
    pub fn calls(&self, host: &str) -> Vec<Value> {
        let path = self.host_file(host, "/var/lib/labprov-world/calls.log");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => panic!("cannot read {}: {e}", path.display()),
        };
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{}: bad call line {l:?}: {e}", path.display()))
            })
            .collect()
    }

    /// Calls of `tool` on a host whose subcommand, found as the tool's own parser would
    /// find it (see [`subcommand`]), is `verb`.
    pub fn calls_of(&self, host: &str, tool: &str, verb: &str) -> Vec<Value> {
        self.calls(host)
            .into_iter()
            .filter(|c| c["tool"] == tool && subcommand(c).as_deref() == Some(verb))
            .collect()
    }

    pub fn mirror_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mirror/access.log")).unwrap_or_default()
    }

    pub fn mirror_file(&self, rel: &str) -> PathBuf {
        self.dir.join("mirror/root").join(rel)
    }

    /// This world's profile with `artifacts.mode = "push"`: the controller fetches each
    /// artifact once and streams it to the hosts.
    pub fn push_profile(&self) -> PathBuf {
        let text = std::fs::read_to_string(&self.profile).unwrap();
        assert!(text.contains("[artifacts.minikube]"), "{text}");
        let path = self.dir.join("push.toml");
        std::fs::write(
            &path,
            text.replace(
                "[artifacts.minikube]",
                "[artifacts]\nmode = \"push\"\n\n[artifacts.minikube]",
            ),
        )
        .unwrap();
        path
    }

    /// This world's profile as the `local` profile has it, for labprov run inside a host as its
    /// user: no `[ssh]`, no `[[hosts]]` (so the host is that machine), the same mirror.
    pub fn local_profile(&self) -> PathBuf {
        let text = std::fs::read_to_string(&self.profile).unwrap();
        let mut out = String::new();
        let mut skip = false;
        for line in text.lines() {
            if line.starts_with('[') {
                skip = line == "[ssh]" || line == "[[hosts]]";
            }
            if !skip {
                out.push_str(line);
                out.push('\n');
            }
        }
        let path = self.dir.join("local.toml");
        std::fs::write(&path, out).unwrap();
        path
    }
}

/// What sshd at LogLevel VERBOSE writes for a connection attempt, whatever becomes of it:
/// `Connection from` as soon as it accepts one (also for a handshake that fails or is closed
/// early), the login outcome, and the listener's own line for a connection it drops before
/// that (`drop connection #N ... past MaxStartups`).
fn contact_lines(log: &str) -> usize {
    const MARKS: [&str; 7] = [
        "Connection from ",
        "Accepted publickey",
        "Failed ",
        "Invalid user",
        "Connection closed by",
        "Connection reset by",
        "past MaxStartups",
    ];
    log.lines()
        .filter(|l| MARKS.iter().any(|m| l.contains(m)))
        .count()
}

/// Connection traces per host (see [`World::contacts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contacts(pub BTreeMap<String, usize>);

impl Contacts {
    /// Hosts with new connection traces since `before`, and how many.
    pub fn since(&self, before: &Contacts) -> BTreeMap<String, usize> {
        self.0
            .iter()
            .filter_map(|(h, n)| {
                let was = before.0.get(h).copied().unwrap_or(0);
                (*n > was).then(|| (h.clone(), n - was))
            })
            .collect()
    }
}

/// A stand-in call's arguments (without the program name), as strings.
pub fn argv(call: &Value) -> Vec<String> {
    call["argv"]
        .as_array()
        .unwrap_or_else(|| panic!("a call without argv: {call}"))
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// Global flags that take no value, per tool (cobra/pflag: a bool flag, or one with a
/// NoOptDefVal, never takes the next argument as its value; every other flag given as
/// `--name value` or `-x value` does).
fn bool_flags(tool: &str) -> &'static [&'static str] {
    match tool {
        // kubectl's global bools, and apply/delete/label flags labprov might put first.
        "kubectl" => &[
            "--insecure-skip-tls-verify",
            "--match-server-version",
            "--warnings-as-errors",
            "--disable-compression",
            "--server-side",
            "--force-conflicts",
            "--overwrite",
            "--ignore-not-found",
            "--dry-run",
            "--wait",
            "--all",
            "-h",
            "--help",
        ],
        // minikube's global bools (cmd/minikube/cmd/root.go and klog's).
        "minikube" => &[
            "--alsologtostderr",
            "--logtostderr",
            "--add_dir_header",
            "--one_output",
            "--skip_headers",
            "--skip_log_headers",
            "--skip-audit",
            "--rootless",
            "-h",
            "--help",
        ],
        _ => &["-h", "--help"],
    }
}

/// The subcommand of a stand-in call: its first argument that is neither a flag nor a
/// flag's value, as the tool's own parser (cobra) finds it; `--` ends the flags. The call
/// log records the arguments without the program name, so `minikube delete` is `["delete"]`
/// and `kubectl -n x get pods` is `["-n", "x", "get", "pods"]`.
pub fn subcommand(call: &Value) -> Option<String> {
    let bools = bool_flags(call["tool"].as_str().unwrap_or(""));
    let argv: Vec<&str> = call["argv"]
        .as_array()?
        .iter()
        .map(|a| a.as_str().unwrap_or(""))
        .collect();
    let mut i = 0;
    while i < argv.len() {
        let a = argv[i];
        if a == "--" {
            return argv.get(i + 1).map(|s| s.to_string());
        }
        if !a.starts_with('-') || a == "-" {
            return Some(a.to_string());
        }
        let takes_value = if let Some(name) = a.strip_prefix("--") {
            !name.contains('=') && !bools.contains(&a)
        } else {
            // `-x value`; `-xvalue` and `-x=value` carry their value.
            a.len() == 2 && !bools.contains(&a)
        };
        i += if takes_value { 2 } else { 1 };
    }
    None
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

    /// How many steps of a host were skipped (a need did not converge) in the summary.
    pub fn skipped(&self, host: &str) -> u64 {
        self.summary()["hosts"][host]["skipped"].as_u64().unwrap()
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

    /// Assert that the plan/status of `host` lists exactly `steps`, in order, each in
    /// `state` (an empty or partial list is a failure, not "all converged").
    pub fn assert_states(&self, host: &str, steps: &[&str], state: &str) {
        let states = self.states(host);
        let names: Vec<&str> = states.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(names, steps, "{host}: steps reported\n{}", self.explain());
        for (step, s) in &states {
            assert_eq!(s, state, "{host}/{step}: {states:?}");
        }
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

    /// The whole output, then the failed steps once more: a CI log that keeps only the tail
    /// of a long failure (a 50-host run's JSON lines) still shows what failed and why.
    pub fn explain(&self) -> String {
        format!(
            "exit {}\nstdout:\n{}\nstderr:\n{}\n{}",
            self.code,
            self.stdout,
            self.stderr,
            self.failed_steps()
        )
    }

    /// One line per failed step (host, step, detail): short enough to be a panic message.
    pub fn failed_steps(&self) -> String {
        let failed: Vec<String> = self
            .events
            .iter()
            .filter(|e| e["type"] == "step" && e["kind"] == "failed")
            .map(|e| format!("  {} {}: {}", e["host"], e["step"], e["detail"]))
            .collect();
        format!("failed steps ({}):\n{}", failed.len(), failed.join("\n"))
    }
}
