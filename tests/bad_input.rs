//! Bad profiles and bad command lines: the exact text a user sees, exit code 2, and no host
//! contacted (a real listening socket stands in for the host and must see no connection;
//! `a_valid_profile_does_reach_the_listener` shows it sees labprov when labprov connects).

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{Run, labprov};

/// A real socket that stands in for the profile's one host: it counts every connection and
/// closes it at once (so an ssh that does connect fails fast instead of waiting for a banner).
struct Listener {
    port: u16,
    seen: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    fn new() -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            loop {
                // Drain the queue before looking at `stop`: a connection made just before
                // labprov exited is still counted.
                match listener.accept() {
                    Ok(_) => {
                        s.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    Err(_) if st.load(Ordering::SeqCst) => return,
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
        });
        Listener {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Connections seen so far and until now.
    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        self.seen.load(Ordering::SeqCst)
    }
}

/// A profile whose one host is a real socket on this machine, plus `body`; run `args`.
fn run_profile_args(dir: &Path, body: &str, args: &[&str]) -> (Run, usize) {
    let listener = Listener::new();
    let port = listener.port;
    let text = format!(
        "[ssh]\nuser = \"student\"\nport = {port}\n\n[[hosts]]\nname = \"h1\"\naddress = \"127.0.0.1\"\n\n{body}"
    );
    let path = dir.join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let out = labprov()
        .current_dir(dir)
        .args(["--profile", "bad.toml", "--output", "plain"])
        .args(args)
        // Whatever a run writes (journal, cache) stays in the scratch dir.
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .output()
        .unwrap();
    (Run::new(out), listener.finish())
}

fn run_profile(dir: &Path, body: &str) -> (Run, usize) {
    run_profile_args(dir, body, &["up"])
}

/// The positive control of every "no host contacted" below: the same profile without the
/// mistake makes labprov connect to the listener (and fail there, exit 1).
#[test]
fn a_valid_profile_does_reach_the_listener() {
    let dir = tempfile::tempdir().unwrap();
    let (run, contacted) = run_profile(dir.path(), "");
    assert_eq!(run.code, 1, "{}", run.explain());
    assert!(contacted >= 1, "labprov connected: {}", run.explain());
}

fn assert_rejected(body: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (run, contacted) = run_profile(dir.path(), body);
    assert_eq!(run.code, 2, "{}", run.explain());
    assert_eq!(run.stderr, expected, "{}", run.explain());
    assert_eq!(contacted, 0, "a host was contacted despite the bad profile");
    assert_eq!(run.stdout, "", "nothing but the error is printed");
}

#[test]
fn unknown_key_suggests_the_right_one() {
    assert_rejected(
        "[cluster]\ncpu = 4\n",
        "error: unknown field `cpu`, expected one of `driver`, `cni`, `cpus`, `memory`, `kubernetes_version`, `addons`, `pod_cidr`\n  \
         --> bad.toml:10:1\n   |\n10 | cpu = 4\n   | ^^^\n  = help: did you mean `cpus`?\n",
    );
}

#[test]
fn wrong_type_names_the_key() {
    assert_rejected(
        "[cluster]\ncpus = true\n",
        "error: invalid type for `cluster.cpus`: boolean `true`, expected a number of CPUs or \"auto\"\n  \
         --> bad.toml:10:8\n   |\n10 | cpus = true\n   |        ^^^^\n",
    );
}

#[test]
fn a_word_other_than_auto_is_refused_at_the_value() {
    assert_rejected(
        "[cluster]\ncpus = \"four\"\n",
        "error: invalid value for `cluster.cpus`: `four` is not a number of CPUs or \"auto\"\n  \
         --> bad.toml:10:8\n   |\n10 | cpus = \"four\"\n   |        ^^^^^^\n",
    );
}

#[test]
fn bad_cidr_points_at_the_value() {
    assert_rejected(
        "[lab]\negress_cidr = \"10.0.0.0/33\"\n",
        "error: invalid value for `lab.egress_cidr`: `10.0.0.0/33` is not a CIDR (invalid IP address syntax)\n  \
         --> bad.toml:10:15\n   |\n10 | egress_cidr = \"10.0.0.0/33\"\n   |               ^^^^^^^^^^^^^\n",
    );
}

/// `cluster.pod_cidr` was accepted once and did nothing: an old profile is told why, at the line.
#[test]
fn the_removed_pod_cidr_key_says_why() {
    for value in ["10.0.0.0/8", "not a cidr"] {
        assert_rejected(
            &format!("[cluster]\npod_cidr = \"{value}\"\n"),
            &format!(
                "error: invalid value for `cluster.pod_cidr`: this key was removed: minikube gives every cluster \
                 the pod pool 10.244.0.0/16 (for --cni=cilium too: kubernetes/minikube pkg/minikube/cni/cilium.go), \
                 which labprov cannot change; delete the line\n  \
                 --> bad.toml:10:12\n   |\n10 | pod_cidr = \"{value}\"\n   |            {}\n",
                "^".repeat(value.len() + 2)
            ),
        );
    }
}

#[test]
fn bad_url_points_at_the_value() {
    assert_rejected(
        "[artifacts.kubectl]\nurl = \"ftp://mirror.example/kubectl\"\n",
        "error: invalid value for `artifacts.kubectl.url`: `ftp://mirror.example/kubectl`: only http and https URLs are supported, not `ftp`\n  \
         --> bad.toml:10:7\n   |\n10 | url = \"ftp://mirror.example/kubectl\"\n   |       ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n",
    );
}

#[test]
fn a_repository_login_apt_cannot_keep_is_refused_and_not_shown() {
    // apt's auth.conf.d, where the login goes (not the world-readable docker.sources), splits
    // its words at white space; the caret sits under the value as shown, password masked.
    assert_rejected(
        "[docker]\nrepo_url = \"https://anna:my%20secret@mirror.example/docker/linux/{os}\"\n",
        "error: invalid value for `docker.repo_url`: the URL's password holds white space once decoded: apt's auth.conf.d (where labprov keeps it, out of the world-readable docker.sources) cannot hold it; use a password without it\n  \
         --> bad.toml:10:12\n   |\n10 | repo_url = \"https://***@mirror.example/docker/linux/{os}\"\n   |            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n",
    );
}

#[test]
fn bad_version_and_bad_choice() {
    assert_rejected(
        "[versions]\nistio = \"v1.27\"\n",
        "error: invalid value for `versions.istio`: `v1.27` is not a version like `1.2.3`\n  \
         --> bad.toml:10:9\n   |\n10 | istio = \"v1.27\"\n   |         ^^^^^^^\n",
    );
    assert_rejected(
        "[artifacts]\nmode = \"pull\"\n",
        "error: invalid value for `artifacts.mode`: `pull` is not one of `remote`, `push`\n  \
         --> bad.toml:10:8\n   |\n10 | mode = \"pull\"\n   |        ^^^^^^\n",
    );
}

#[test]
fn toml_syntax_error() {
    assert_rejected(
        "[cluster\ncpus = 2\n",
        "error: unclosed table, expected `]`\n --> bad.toml:9:9\n  |\n9 | [cluster\n  |         ^\n",
    );
}

#[test]
fn extends_an_unknown_profile() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.toml"), "extends = \"nosuch\"\n").unwrap();
    let out = labprov()
        .current_dir(dir.path())
        .args(["--profile", "p.toml", "plan"])
        .output()
        .unwrap();
    let run = Run::new(out);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: p.toml: cannot extend `nosuch`: no such file, and no built-in profile of that name (built-in: local, crownlabs, vagrant) at line 1\n"
    );
}

#[test]
fn limit_names_an_unknown_host() {
    let dir = tempfile::tempdir().unwrap();
    let (run, contacted) = run_profile_args(dir.path(), "", &["up", "--limit", "h9"]);
    assert_eq!(run.code, 2, "{}", run.explain());
    assert_eq!(
        run.stderr,
        "error: --limit: no host named `h9` (hosts: h1)\n"
    );
    assert_eq!(contacted, 0, "a host was contacted despite the bad --limit");
}

#[test]
fn duplicate_host_is_rejected() {
    assert_rejected(
        "[[hosts]]\nname = \"h1\"\naddress = \"10.1.1.1\"\n",
        "error: invalid value for `hosts.name`: host `h1` is listed twice\n  \
         --> bad.toml:10:8\n   |\n10 | name = \"h1\"\n   |        ^^^^\n",
    );
}

#[test]
fn crownlabs_without_hosts_asks_for_them() {
    let out = labprov()
        .args(["--profile", "crownlabs", "plan"])
        .output()
        .unwrap();
    let run = Run::new(out);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: <builtin profile crownlabs> lists no hosts: add a [[hosts]] entry or pass --hosts ADDRESS or --hosts-file FILE\n"
    );
}

#[test]
fn weights_must_sum_to_100() {
    assert_rejected(
        "[lab.weights]\nv1 = 50\nv2 = 30\nv3 = 10\n",
        "error: invalid value for `lab.weights`: weights sum to 90, not 100\n \
         --> bad.toml:9:1\n  |\n9 | [lab.weights]\n  | ^^^^^^^^^^^^^\n",
    );
}

#[test]
fn bad_egress_cidr_and_bad_namespace() {
    assert_rejected(
        "[lab]\negress_cidr = \"192.168.1.0/24x\"\n",
        "error: invalid value for `lab.egress_cidr`: `192.168.1.0/24x` is not a CIDR (invalid IP address syntax)\n  \
         --> bad.toml:10:15\n   |\n10 | egress_cidr = \"192.168.1.0/24x\"\n   |               ^^^^^^^^^^^^^^^^^\n",
    );
    assert_rejected(
        "[lab]\nnetpol_namespace = \"Network_Policy\"\n",
        "error: invalid value for `lab.netpol_namespace`: `Network_Policy` is not a valid name (lowercase letters, digits and '-', at most 63, not starting or ending with '-')\n  \
         --> bad.toml:10:20\n   |\n10 | netpol_namespace = \"Network_Policy\"\n   |                    ^^^^^^^^^^^^^^^^\n",
    );
}

#[test]
fn unknown_or_conflicting_bundles() {
    assert_rejected(
        "[lab]\nbundles = [\"hello-node\", \"adons\"]\n",
        "error: invalid value for `lab.bundles`: no bundle `adons`: did you mean `addons`? (bundles: hello-node, netpol-deny-all, \
         netpol-allow-specific, netpol-restrict-egress, bookinfo, destination-rules, routing-all-v1, routing-weighted, mtls-strict, exercise-pods, addons)\n  \
         --> bad.toml:10:26\n   |\n10 | bundles = [\"hello-node\", \"adons\"]\n   |                          ^^^^^^^\n",
    );
    assert_rejected(
        "[lab]\nbundles = [\"bookinfo\", \"destination-rules\", \"routing-all-v1\", \"routing-weighted\"]\n",
        "error: invalid value for `lab.bundles`: bundles `routing-all-v1` and `routing-weighted` define the same objects: select one\n  \
         --> bad.toml:10:11\n   |\n10 | bundles = [\"bookinfo\", \"destination-rules\", \"routing-all-v1\", \"routing-weighted\"]\n   |           \
         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n",
    );
}

/// Bookinfo outside the injected namespace would run without sidecars: refused at its line.
#[test]
fn bookinfo_outside_the_injected_namespace_is_refused() {
    assert_rejected(
        "[lab]\nbookinfo_namespace = \"shop\"\n",
        "error: invalid value for `lab.bookinfo_namespace`: Bookinfo would run in `shop`, but sidecars are \
         injected only in `default` (istio.injection_namespace): set both to the same namespace\n  \
         --> bad.toml:10:22\n   |\n10 | bookinfo_namespace = \"shop\"\n   |                      ^^^^^^\n",
    );
}

#[test]
fn a_control_character_in_any_value_is_refused_where_it_is() {
    // `\n` in a TOML string is a newline: written into the root-owned docker.sources it would
    // add a `Trusted: yes` line, and apt would skip signature checks.
    assert_rejected(
        "[docker]\nrepo_url = \"http://mirror/linux/ubuntu\\nTrusted: yes\"\n",
        "error: invalid value for `docker.repo_url`: holds a control character, U+000A (a newline), which no value may\n  \
         --> bad.toml:10:12\n   |\n10 | repo_url = \"http://mirror/linux/ubuntu\\nTrusted: yes\"\n   |            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n",
    );
    assert_rejected(
        "[lab]\nbundles = [\"hello-node\", \"book\\tinfo\"]\n",
        "error: invalid value for `lab.bundles`: holds a control character, U+0009 (a tab), which no value may\n  \
         --> bad.toml:10:26\n   |\n10 | bundles = [\"hello-node\", \"book\\tinfo\"]\n   |                          ^^^^^^^^^^^^\n",
    );
}

#[test]
fn a_jump_host_that_would_be_an_ssh_option_is_refused() {
    for jump in ["bastion@-oProxyCommand=x", "ssh://bastion@-oProxyCommand=x"] {
        let dir = tempfile::tempdir().unwrap();
        let (run, contacted) = run_profile_args(dir.path(), "", &["plan"]);
        assert_eq!(run.code, 1, "positive control: {}", run.explain());
        assert!(contacted >= 1, "positive control: {}", run.explain());
        let text = std::fs::read_to_string(dir.path().join("bad.toml"))
            .unwrap()
            .replace("[ssh]\n", &format!("[ssh]\njump = \"{jump}\"\n"));
        std::fs::write(dir.path().join("bad.toml"), text).unwrap();
        let out = labprov()
            .current_dir(dir.path())
            .args(["--profile", "bad.toml", "--output", "plain", "plan"])
            .output()
            .unwrap();
        let run = Run::new(out);
        assert_eq!(run.code, 2, "{}", run.explain());
        let caret = "^".repeat(jump.len() + 2);
        assert_eq!(
            run.stderr,
            format!(
                "error: invalid value for `ssh.jump`: `-oProxyCommand=x` is neither an IP address nor a host name: a jump host is `user@host[:port]`\n \
                 --> bad.toml:2:8\n  |\n2 | jump = \"{jump}\"\n  |        {caret}\n"
            )
        );
    }
}

#[test]
fn a_roster_user_that_would_be_an_ssh_option_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // The roster points at the listener: accepted, its line would be contacted.
    let listener_port = {
        let (run, contacted) = run_profile_args(dir.path(), "", &["plan"]);
        assert!(contacted >= 1, "positive control: {}", run.explain());
        std::fs::read_to_string(dir.path().join("bad.toml"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("port = ").map(String::from))
            .unwrap()
    };
    for (user, expected) in [
        (
            "-oProxyCommand=x",
            "error: `-oProxyCommand=x` is not a user name: it starts with `-`\n \
             --> roster.csv:2:14\n  |\n2 | h1,127.0.0.1,-oProxyCommand=x,PORT\n  |              ^^^^^^^^^^^^^^^^\n",
        ),
        (
            "stu\u{1b}[2Jdent",
            "error: a control character, U+001B (ESC), is not allowed in a roster\n \
             --> roster.csv:2:17\n  |\n2 | h1,127.0.0.1,stu\u{fffd}[2Jdent,PORT\n  |                 ^\n",
        ),
    ] {
        std::fs::write(
            dir.path().join("roster.csv"),
            format!("name,address,user,port\nh1,127.0.0.1,{user},{listener_port}\n"),
        )
        .unwrap();
        let (run, contacted) =
            run_profile_args(dir.path(), "", &["plan", "--hosts-file", "roster.csv"]);
        assert_eq!(run.code, 2, "{}", run.explain());
        assert_eq!(run.stderr, expected.replace("PORT", &listener_port));
        assert_eq!(contacted, 0);
    }
    let out = labprov()
        .current_dir(dir.path())
        .args([
            "--profile",
            "bad.toml",
            "plan",
            "--hosts",
            "x@-oProxyCommand=y",
        ])
        .output()
        .unwrap();
    let run = Run::new(out);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: --hosts: `-oProxyCommand=y` is neither an IP address nor a host name (want `[user@]host[:port]`)\n"
    );
}
