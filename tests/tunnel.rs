//! `labprov tunnel`: URLs through the bastion that answer, come back by themselves when the
//! VM-side forwarder dies, and leave nothing running after Ctrl-C.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::World;
use serde_json::Value;

/// Local ports no other test uses: derived from the world id.
fn ports(world: &World) -> (u16, u16) {
    let base = 30000 + (world.id as u16) * 10;
    (base, base + 1)
}

/// A running `labprov tunnel`; a test that fails midway kills its whole process group.
struct Tunnel(Child);

impl Drop for Tunnel {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.0.id())])
                .status();
            let _ = self.0.wait();
        }
    }
}

fn spawn_tunnel(
    world: &World,
    profile: &std::path::Path,
    args: &[&str],
) -> (Tunnel, mpsc::Receiver<Value>) {
    use std::os::unix::process::CommandExt;
    let mut child = common::labprov()
        .arg("--profile")
        .arg(profile)
        .args(["--output", "json", "tunnel"])
        .args(args)
        .env("XDG_STATE_HOME", world.dir.join("controller-state"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so the test can press "Ctrl-C" the way a terminal does.
        .process_group(0)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    (Tunnel(child), rx)
}

/// Press Ctrl-C (SIGINT to the tunnel's whole process group, as a terminal does) and wait
/// for labprov to exit, but never forever: a tunnel that ignores Ctrl-C is a failure, not a
/// hung test (the guard kills it when the panic unwinds).
fn ctrl_c(tunnel: &mut Tunnel) -> std::process::ExitStatus {
    assert!(
        Command::new("kill")
            .args(["-INT", "--", &format!("-{}", tunnel.0.id())])
            .status()
            .unwrap()
            .success()
    );
    common::wait_for(
        "labprov tunnel to exit after Ctrl-C",
        Duration::from_secs(60),
        || tunnel.0.try_wait().unwrap(),
    )
}

fn get(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-s", "-m", "5", "-f", url])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn title(body: &str) -> String {
    body.split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .unwrap_or("")
        .to_string()
}

/// Poll `url` until its page has this title (the forward and the app behind it may still be
/// settling when the URL is printed, and a loaded machine is slow).
fn wait_for_title(service: &str, url: &str, expected: &str) {
    let mut last = String::new();
    let what = format!("{service} at {url} to answer with <title>{expected}</title>");
    common::wait_for(&what, Duration::from_secs(60), || {
        let body = get(url)?;
        last = title(&body);
        (last == expected).then_some(())
    });
}

/// Read the URL events until `n` services printed one (or 90 s passed).
fn urls(events: &mpsc::Receiver<Value>, n: usize) -> Vec<(String, String)> {
    let mut urls = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while urls.len() < n && Instant::now() < deadline {
        if let Ok(e) = events.recv_timeout(Duration::from_secs(1))
            && let Some(url) = e["url"].as_str()
        {
            urls.push((e["service"].as_str().unwrap().to_string(), url.to_string()));
        }
    }
    urls
}

/// The argv of every process in a host's network namespace (the world's hosts share this
/// machine's process table, so a forwarder left behind shows here).
fn host_processes(world: &World, host: &str) -> Vec<Vec<String>> {
    let out = Command::new("ip")
        .args(["netns", "pids", &format!("lp{}-{host}", world.id)])
        .output()
        .unwrap();
    assert!(out.status.success(), "ip netns pids: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|c| {
            String::from_utf8_lossy(&c)
                .split('\0')
                .filter(|a| !a.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The VM-side forwarders running on a host: `kubectl port-forward`, `kubectl proxy`,
/// `minikube dashboard`, `minikube tunnel` and its route helper, found by program name and
/// by subcommand as the tool parses it (flags may come first), whatever path they run from.
/// The stand-ins are python scripts, so the program may be the interpreter's first argument.
fn forwarders(world: &World, host: &str) -> Vec<String> {
    host_processes(world, host)
        .into_iter()
        .filter(|argv| {
            let mut args = argv.as_slice();
            // A stand-in runs as `python3 [-S ...] SCRIPT ARGS` (its shebang's options first).
            if args
                .first()
                .is_some_and(|a| basename(a).starts_with("python"))
            {
                args = &args[1..];
                while args.first().is_some_and(|a| a.starts_with('-')) {
                    args = &args[1..];
                }
            }
            let Some((prog, rest)) = args.split_first() else {
                return false;
            };
            let tool = basename(prog);
            if tool != "kubectl" && tool != "minikube" {
                return false;
            }
            let call = serde_json::json!({ "tool": tool, "argv": rest });
            matches!(
                common::subcommand(&call).as_deref(),
                Some("port-forward" | "proxy" | "dashboard" | "tunnel" | "__route-helper")
            )
        })
        .map(|argv| argv.join(" "))
        .collect()
}

/// ssh processes on the controller that talk to this world: argv[0] is `ssh` by its
/// basename (`ssh`, `/usr/bin/ssh`, ...), and an argument names one of the world's subnets.
fn controller_ssh(world: &World) -> Vec<String> {
    let outer = format!("10.210.{}.", world.id);
    let inner = format!("10.211.{}.", world.id);
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| {
            String::from_utf8_lossy(&c)
                .split('\0')
                .filter(|a| !a.is_empty())
                .map(String::from)
                .collect::<Vec<String>>()
        })
        .filter(|argv| {
            argv.first().is_some_and(|a| basename(a) == "ssh")
                && argv
                    .iter()
                    .any(|a| a.contains(&outer) || a.contains(&inner))
        })
        .map(|argv| argv.join(" "))
        .collect()
}

/// After Ctrl-C: poll until no forwarder is left on `host` and no ssh of this world on the
/// controller, and until `urls` no longer answer. The controller's deadline stays below
/// ssh's ControlPersist (60 s), so a master labprov forgot to close cannot time out by
/// itself before the check gives up.
fn assert_cleaned_up(world: &World, host: &str, urls: &[&str]) {
    common::poll(
        "no forwarder left on the host",
        Duration::from_secs(60),
        || {
            let left = forwarders(world, host);
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        },
    );
    common::poll(
        "no ssh left on the controller",
        Duration::from_secs(30),
        || {
            let left = controller_ssh(world);
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        },
    );
    for url in urls {
        common::wait_for(
            &format!("{url} to stop answering"),
            Duration::from_secs(30),
            || get(url).is_none().then_some(()),
        );
    }
}

#[test]
fn kiali_and_gateway_through_the_bastion_heal_and_clean_up() {
    let world = World::start(1);
    assert_eq!(world.labprov(&["up"]).code, 0);
    let (kiali_port, gateway_port) = ports(&world);
    let profile = world.profile_plus(
        "tunnel.toml",
        &format!("[tunnel]\nkiali = {kiali_port}\ngateway = {gateway_port}\n"),
    );
    let (mut child, events) = spawn_tunnel(
        &world,
        &profile,
        &["kiali", "gateway", "--check-every", "1"],
    );

    let urls = urls(&events, 2);
    assert_eq!(
        urls,
        [
            (
                "kiali".to_string(),
                format!("http://127.0.0.1:{kiali_port}/kiali")
            ),
            (
                "gateway".to_string(),
                format!("http://127.0.0.1:{gateway_port}/productpage")
            ),
        ]
    );
    wait_for_title("kiali", &urls[0].1, "Kiali");
    wait_for_title("gateway", &urls[1].1, "Simple Bookstore App");

    // Positive control for the leftover checks below: the finders see what runs now.
    let running = forwarders(&world, "h1");
    assert!(
        running.iter().any(|c| c.contains(" port-forward "))
            && running.iter().any(|c| c.contains(" tunnel")),
        "kiali's port-forward and the gateway's minikube tunnel run: {running:?}"
    );
    assert!(
        !controller_ssh(&world).is_empty(),
        "the tunnel's ssh runs on the controller"
    );

    // Kill the VM-side forwarder: the URL must answer again, by itself.
    let pid_file = world.host_file(
        "h1",
        "/home/student/.local/state/labprov/host/tunnels/kiali.pid",
    );
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(Command::new("kill").arg(&pid).status().unwrap().success());
    // Until the old forwarder is gone (a zombie counts as gone), an answer proves nothing.
    common::wait_for(
        &format!("the killed forwarder {pid} to die"),
        Duration::from_secs(60),
        || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next();
            matches!(state, None | Some("Z")).then_some(())
        },
    );
    let new_pid = common::wait_for(
        "labprov to start a new kiali forwarder",
        Duration::from_secs(60),
        || {
            let p = std::fs::read_to_string(&pid_file).unwrap_or_default();
            let p = p.trim().to_string();
            (!p.is_empty() && p != pid).then_some(p)
        },
    );
    assert_ne!(new_pid, pid);
    wait_for_title("kiali, after its forwarder died,", &urls[0].1, "Kiali");

    let status = ctrl_c(&mut child);
    assert!(status.success(), "tunnel exits 0 on Ctrl-C: {status:?}");
    assert_cleaned_up(&world, "h1", &[&urls[0].1, &urls[1].1]);
}

#[test]
fn a_taken_local_port_is_named_before_anything_starts() {
    let world = World::start(1);
    let (port, _) = ports(&world);
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let profile = world.profile_plus("taken.toml", &format!("[tunnel]\ngrafana = {port}\n"));
    let contacts = world.contacts();
    let out = common::labprov()
        .arg("--profile")
        .arg(&profile)
        .args(["tunnel", "grafana"])
        .env("XDG_STATE_HOME", world.dir.join("controller-state"))
        .output()
        .unwrap();
    let run = common::Run::new(out);
    assert_eq!(run.code, 2, "{}", run.explain());
    assert!(
        run.stderr.starts_with(&format!(
            "error: tunnel: local port {port} for grafana is taken (Address already in use"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .ends_with("change `tunnel.grafana` in the profile\n"),
        "{}",
        run.stderr
    );
    assert_nothing_contacted_then_status_is_seen(&world, &contacts);
}

/// No sshd of the world saw a connection since `before`; then, as the positive control,
/// `labprov status` is seen on the bastion and h1 by the same count.
fn assert_nothing_contacted_then_status_is_seen(world: &World, before: &common::Contacts) {
    assert_eq!(
        world.contacts().since(before),
        Default::default(),
        "nothing was contacted"
    );
    let status = world.labprov(&["status", "--limit", "h1"]);
    assert_eq!(status.code, 0, "{}", status.explain());
    let seen = world.contacts().since(before);
    assert!(
        seen.contains_key("bastion") && seen.contains_key("h1"),
        "{seen:?}"
    );
}

#[test]
fn several_hosts_need_a_limit() {
    let world = World::start(2);
    let contacts = world.contacts();
    let out = common::labprov()
        .arg("--profile")
        .arg(&world.profile)
        .args(["tunnel", "kiali"])
        .env("XDG_STATE_HOME", world.dir.join("controller-state"))
        .output()
        .unwrap();
    let run = common::Run::new(out);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: tunnel: pick one host with --limit NAME (hosts: h1, h2)\n"
    );
    assert_nothing_contacted_then_status_is_seen(&world, &contacts);
}

#[test]
fn every_service_and_a_custom_forward_answer() {
    let world = World::start(1);
    assert_eq!(world.labprov(&["up"]).code, 0);
    let base = 31000 + (world.id as u16) * 10;
    let profile = world.profile_plus(
        "all.toml",
        &format!(
            "[tunnel]\ndashboard = {}\nkiali = {}\ngrafana = {}\njaeger = {}\nprometheus = {}\ngateway = {}\nssh = {}\n",
            base,
            base + 1,
            base + 2,
            base + 3,
            base + 4,
            base + 5,
            base + 6
        ),
    );
    let custom = format!("{}:10.211.{}.11:22", base + 7, world.id);
    let (mut child, events) = spawn_tunnel(
        &world,
        &profile,
        &[
            "dashboard",
            "kiali",
            "grafana",
            "jaeger",
            "prometheus",
            "gateway",
            "ssh",
            "--forward",
            &custom,
        ],
    );
    let urls: std::collections::BTreeMap<String, String> = urls(&events, 8).into_iter().collect();
    assert_eq!(urls.len(), 8, "{urls:?}");
    for (service, expected) in [
        ("dashboard", "Kubernetes Dashboard"),
        ("kiali", "Kiali"),
        ("grafana", "Grafana"),
        ("jaeger", "Jaeger UI"),
        ("gateway", "Simple Bookstore App"),
    ] {
        wait_for_title(service, &urls[service], expected);
    }
    assert_eq!(
        urls["ssh"],
        format!("ssh -p {} student@127.0.0.1", base + 6)
    );
    for port in [base + 6, base + 7] {
        common::wait_for(
            &format!("an SSH banner on 127.0.0.1:{port}"),
            Duration::from_secs(60),
            || {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut banner = [0u8; 4];
                std::io::Read::read_exact(&mut s, &mut banner).ok()?;
                (&banner == b"SSH-").then_some(())
            },
        );
    }
    // Positive control for the leftover check: every kind of forwarder is seen running.
    let running = forwarders(&world, "h1");
    for kind in [
        " port-forward ",
        " dashboard ",
        " proxy ",
        " tunnel",
        " __route-helper ",
    ] {
        assert!(
            running.iter().any(|c| c.contains(kind)),
            "no{kind}forwarder seen: {running:?}"
        );
    }
    assert!(!controller_ssh(&world).is_empty());
    let status = ctrl_c(&mut child);
    assert!(status.success(), "tunnel exits 0 on Ctrl-C: {status:?}");
    let answering: Vec<&str> = ["dashboard", "kiali", "grafana", "jaeger", "gateway"]
        .iter()
        .map(|s| urls[*s].as_str())
        .collect();
    assert_cleaned_up(&world, "h1", &answering);
}
