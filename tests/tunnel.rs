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

fn spawn_tunnel(
    world: &World,
    profile: &std::path::Path,
    args: &[&str],
) -> (Child, mpsc::Receiver<Value>) {
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
    (child, rx)
}

/// Wait for labprov to exit after Ctrl-C, but never forever: a tunnel that ignores Ctrl-C
/// is a failure, not a hung test.
fn wait_bounded(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("labprov tunnel did not exit within 30 s of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn get(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-s", "-m", "3", "-f", url])
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

/// Commands running in a host's network namespace (the world's hosts share this machine's
/// process table, so a forwarder left behind would show here).
fn host_processes(world: &World, host: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "pids", &format!("lp{}-{host}", world.id)])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .collect()
}

/// ssh processes on the controller that talk to this world.
fn controller_ssh(world: &World) -> Vec<String> {
    let needle = format!("10.210.{}.", world.id);
    let needle_inner = format!("10.211.{}.", world.id);
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.starts_with("ssh ") && (c.contains(&needle) || c.contains(&needle_inner)))
        .collect()
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

    let mut urls = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while urls.len() < 2 && Instant::now() < deadline {
        if let Ok(e) = events.recv_timeout(Duration::from_secs(1))
            && let Some(url) = e["url"].as_str()
        {
            urls.push((e["service"].as_str().unwrap().to_string(), url.to_string()));
        }
    }
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
    assert_eq!(title(&get(&urls[0].1).expect("kiali answers")), "Kiali");
    assert_eq!(
        title(&get(&urls[1].1).expect("productpage answers")),
        "Simple Bookstore App"
    );

    // Kill the VM-side forwarder: the URL must answer again within 10 s, by itself.
    let pid_file = world.host_file(
        "h1",
        "/home/student/.local/state/labprov/host/tunnels/kiali.pid",
    );
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(Command::new("kill").arg(&pid).status().unwrap().success());
    let killed = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let mut back = None;
    while killed.elapsed() < Duration::from_secs(10) {
        if get(&urls[0].1).is_some_and(|b| title(&b) == "Kiali") {
            back = Some(killed.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(back.is_some(), "kiali did not come back within 10 s");
    let new_pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    assert_ne!(new_pid, pid, "a new forwarder was started");

    // Ctrl-C: the whole process group gets SIGINT, as from a terminal.
    let pgid = child.id() as i32;
    assert!(
        Command::new("kill")
            .args(["-INT", "--", &format!("-{pgid}")])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_bounded(&mut child);
    assert!(status.success(), "tunnel exits 0 on Ctrl-C: {status:?}");
    std::thread::sleep(Duration::from_millis(500));
    let left: Vec<String> = host_processes(&world, "h1")
        .into_iter()
        .filter(|c| {
            c.contains("port-forward") || c.contains("minikube tunnel") || c.contains("dashboard")
        })
        .collect();
    assert!(left.is_empty(), "forwarders left on the host: {left:?}");
    assert!(
        controller_ssh(&world).is_empty(),
        "ssh left on the controller: {:?}",
        controller_ssh(&world)
    );
    assert!(get(&urls[0].1).is_none(), "nothing listens any more");
}

#[test]
fn a_taken_local_port_is_named_before_anything_starts() {
    let world = World::start(1);
    let (port, _) = ports(&world);
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let profile = world.profile_plus("taken.toml", &format!("[tunnel]\ngrafana = {port}\n"));
    let out = common::labprov()
        .arg("--profile")
        .arg(&profile)
        .args(["tunnel", "grafana"])
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
    assert_eq!(world.ssh_counts("h1"), (0, 0), "nothing was contacted");
}

#[test]
fn several_hosts_need_a_limit() {
    let world = World::start(2);
    let out = common::labprov()
        .arg("--profile")
        .arg(&world.profile)
        .args(["tunnel", "kiali"])
        .output()
        .unwrap();
    let run = common::Run::new(out);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: tunnel: pick one host with --limit NAME (hosts: h1, h2)\n"
    );
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
    let mut urls = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while urls.len() < 8 && Instant::now() < deadline {
        if let Ok(e) = events.recv_timeout(Duration::from_secs(1))
            && let Some(url) = e["url"].as_str()
        {
            urls.insert(e["service"].as_str().unwrap().to_string(), url.to_string());
        }
    }
    assert_eq!(urls.len(), 8, "{urls:?}");
    for (service, expected) in [
        ("dashboard", "Kubernetes Dashboard"),
        ("kiali", "Kiali"),
        ("grafana", "Grafana"),
        ("jaeger", "Jaeger UI"),
        ("gateway", "Simple Bookstore App"),
    ] {
        let body = get(&urls[service])
            .unwrap_or_else(|| panic!("{service} at {} does not answer", urls[service]));
        assert_eq!(title(&body), expected, "{service}");
    }
    assert_eq!(
        urls["ssh"],
        format!("ssh -p {} student@127.0.0.1", base + 6)
    );
    for port in [base + 6, base + 7] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut banner = [0u8; 4];
        std::io::Read::read_exact(&mut s, &mut banner).unwrap();
        assert_eq!(&banner, b"SSH-", "port {port} reaches the VM's sshd");
    }
    assert!(
        Command::new("kill")
            .args(["-INT", "--", &format!("-{}", child.id())])
            .status()
            .unwrap()
            .success()
    );
    assert!(wait_bounded(&mut child).success());
    std::thread::sleep(Duration::from_millis(500));
    let left: Vec<String> = host_processes(&world, "h1")
        .into_iter()
        .filter(|c| {
            c.contains("port-forward")
                || c.contains("tunnel")
                || c.contains("dashboard")
                || c.contains("proxy")
        })
        .collect();
    assert!(left.is_empty(), "forwarders left on the host: {left:?}");
}
