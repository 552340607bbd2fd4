//! `labprov tunnel`: the lab's web UIs and the ingress gateway on this machine's loopback,
//! through the jump host, kept alive until Ctrl-C.
//!
//! For each service a forwarder runs on the VM (`kubectl port-forward`, `minikube dashboard`,
//! `minikube tunnel` for the gateway), started detached so it outlives an SSH channel and
//! recorded by pid; an SSH local forward on the host's one master connection brings it to
//! `127.0.0.1:<port>` here. A health loop fetches every URL every few seconds and restarts
//! whatever died: healthy means a 2xx page that holds the service's own title (a 404 from a
//! proxy, or another app's page, is not the service). On Ctrl-C the forwarders this run started are stopped, and only those.
//!
//! With the `local` profile the VM is this machine: the same forwarders run here and listen
//! on `127.0.0.1:<port>` themselves (no SSH forward), and the gateway's URL is the address
//! `minikube tunnel` gives it, as the guide finds it (4.4 step 6). The ClusterIP addons and
//! the gateway are no more reachable without them here than on a VM.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tera::Context;

use crate::config::{Config, Host};
use crate::error::{Error, Result, tail};
use crate::render::Renderer;
use crate::report::Report;
use crate::transport::{Bastion, Transport};

/// Where forwarders keep their pid and log files on the host.
const DIR: &str = "$HOME/.local/state/labprov/host/tunnels";

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `kubectl port-forward -n NS TARGET VMPORT:REMOTE`; no namespace: `lab.namespace`.
    PortForward {
        namespace: Option<&'static str>,
        target: &'static str,
        remote: u16,
    },
    /// `minikube dashboard --url --port VMPORT`.
    Dashboard,
    /// `minikube tunnel`, then a forward to the gateway's address.
    Gateway,
    /// The VM's own sshd.
    Ssh,
}

struct Service {
    name: &'static str,
    kind: Kind,
    /// The path of the URL to show and to check.
    path: &'static str,
    /// What the page at `path` holds when the service itself answers: its title. A 404 from a
    /// proxy, a login page of something else or an empty 200 is not the service.
    proof: &'static str,
}

const SERVICES: &[Service] = &[
    Service {
        name: "dashboard",
        kind: Kind::Dashboard,
        path: "/api/v1/namespaces/kubernetes-dashboard/services/http:kubernetes-dashboard:/proxy/",
        proof: "<title>Kubernetes Dashboard</title>",
    },
    Service {
        name: "kiali",
        kind: Kind::PortForward {
            namespace: Some("istio-system"),
            target: "svc/kiali",
            remote: 20001,
        },
        path: "/kiali",
        proof: "<title>Kiali</title>",
    },
    Service {
        name: "grafana",
        kind: Kind::PortForward {
            namespace: Some("istio-system"),
            target: "svc/grafana",
            remote: 3000,
        },
        path: "/",
        proof: "<title>Grafana</title>",
    },
    Service {
        name: "jaeger",
        kind: Kind::PortForward {
            namespace: Some("istio-system"),
            target: "svc/tracing",
            remote: 80,
        },
        // Istio's Jaeger addon serves its UI under /jaeger.
        path: "/jaeger",
        proof: "<title>Jaeger UI</title>",
    },
    Service {
        name: "prometheus",
        kind: Kind::PortForward {
            namespace: Some("istio-system"),
            target: "svc/prometheus",
            remote: 9090,
        },
        path: "/",
        // Prometheus 2 and 3 name their UI page differently after "Prometheus".
        proof: "<title>Prometheus",
    },
    Service {
        name: "gateway",
        kind: Kind::Gateway,
        path: "/productpage",
        proof: "<title>Simple Bookstore App</title>",
    },
    Service {
        name: "ssh",
        kind: Kind::Ssh,
        path: "",
        proof: "",
    },
    // Guide 2.3: `kubectl port-forward service/hello-node 7080:8080`, then
    // http://localhost:7080 (agnhost netexec answers on /).
    Service {
        name: "hello-node",
        kind: Kind::PortForward {
            namespace: None,
            target: "svc/hello-node",
            remote: 8080,
        },
        path: "/",
        // agnhost netexec answers `/` with the time ("NOW: ..."), no title: any 2xx.
        proof: "",
    },
];

/// A user's `--forward LOCAL:HOST:PORT`, as in the guide's `ssh -L` examples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomForward {
    pub local: u16,
    pub host: String,
    pub port: u16,
}

impl std::str::FromStr for CustomForward {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("`{s}` is not LOCAL_PORT:REMOTE_HOST:REMOTE_PORT");
        let (local, rest) = s.split_once(':').ok_or_else(bad)?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let host = host.trim_matches(|c| c == '[' || c == ']');
        let valid_host = host.parse::<std::net::IpAddr>().is_ok()
            || (!host.is_empty() && host.split('.').all(crate::config::is_dns_label));
        if !valid_host {
            return Err(bad());
        }
        Ok(CustomForward {
            local: local.parse().map_err(|_| bad())?,
            host: host.to_string(),
            port: port.parse().map_err(|_| bad())?,
        })
    }
}

/// One thing to keep open: where it listens here, where it goes there, what proves it works.
#[derive(Debug, Clone)]
struct Forward {
    label: String,
    local: u16,
    remote_host: String,
    remote_port: u16,
    /// Where the user connects (and the health check goes): `127.0.0.1:local` through SSH;
    /// on this machine, where the service itself listens.
    reach: (String, u16),
    /// `Some(path)`: check over HTTP; `None`: check the SSH banner or just the connection.
    http_path: Option<String>,
    /// What the page must hold to count as healthy (empty: any 2xx).
    proof: &'static str,
    banner: bool,
    /// The VM-side forwarder that backs it, if any.
    forwarder: Option<&'static str>,
}

/// Resolve names to services and check every local port before anything starts.
fn plan(
    cfg: &Config,
    names: &[String],
    custom: &[CustomForward],
    local: bool,
) -> Result<Vec<(Option<&'static Service>, u16)>> {
    let mut chosen: Vec<(Option<&'static Service>, u16)> = Vec::new();
    let names: Vec<String> = if names.is_empty() && custom.is_empty() {
        SERVICES
            .iter()
            .filter(|s| s.name != "ssh")
            .map(|s| s.name.to_string())
            .collect()
    } else {
        names.to_vec()
    };
    for n in &names {
        let Some(s) = SERVICES.iter().find(|s| s.name == n) else {
            let all: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
            return Err(Error::Usage {
                message: format!("tunnel: no service `{n}` (services: {})", all.join(", ")),
            });
        };
        if local && matches!(s.kind, Kind::Ssh) {
            return Err(Error::Usage {
                message: "tunnel: ssh forwards to a VM's sshd; with this machine as the host \
                          there is none to forward to"
                    .into(),
            });
        }
        chosen.push((Some(s), cfg.tunnel[s.name]));
    }
    if local && let Some(c) = custom.first() {
        return Err(Error::Usage {
            message: format!(
                "tunnel: --forward {}:{}:{} needs a VM reached over SSH; on this machine \
                 connect to {}:{} itself",
                c.local, c.host, c.port, c.host, c.port
            ),
        });
    }
    for c in custom {
        chosen.push((None, c.local));
    }
    for (i, (s, port)) in chosen.iter().enumerate() {
        let label = s.map_or_else(|| format!("--forward {port}"), |s| s.name.to_string());
        if let Some((other, _)) = chosen[..i].iter().find(|(_, p)| p == port) {
            let other = other.map_or("a --forward".to_string(), |o| o.name.to_string());
            return Err(Error::Usage {
                message: format!(
                    "tunnel: local port {port} of {label} is also the port of {other}"
                ),
            });
        }
        // On this machine the gateway is reached at its own address, not a local port.
        let needs_port = !(local && s.is_some_and(|s| matches!(s.kind, Kind::Gateway)));
        if needs_port && let Err(e) = TcpListener::bind(("127.0.0.1", *port)) {
            return Err(Error::Usage {
                message: format!(
                    "tunnel: local port {port} for {label} is taken ({e}); change `{}` in the profile",
                    crate::config::tunnel_key(&label)
                ),
            });
        }
    }
    Ok(chosen)
}

fn q(s: &str) -> String {
    shlex::try_quote(s)
        .map(|c| c.into_owned())
        .unwrap_or_default()
}

/// The ensure script for a VM-side forwarder.
fn ensure_script(r: &Renderer, cfg: &Config, name: &str, cmd: &str, ready: &str) -> Result<String> {
    let mut ctx = Context::new();
    ctx.insert("cfg", cfg);
    ctx.insert("dir", DIR);
    ctx.insert("name", name);
    ctx.insert("cmd", cmd);
    ctx.insert("ready", ready);
    r.tunnel("tunnel/ensure.sh", &ctx)
}

/// The forwarder command and its "ready" marker for a service, on VM port `port`.
fn forwarder(cfg: &Config, s: &Service, port: u16) -> Option<(String, String)> {
    let bin = &cfg.paths.bin_dir;
    match s.kind {
        Kind::PortForward {
            namespace,
            target,
            remote,
        } => Some((
            format!(
                "{} port-forward --address 127.0.0.1 -n {} {} {port}:{remote}",
                q(&format!("{bin}/kubectl")),
                q(namespace.unwrap_or(&cfg.lab.namespace)),
                q(target)
            ),
            "Forwarding from".into(),
        )),
        Kind::Dashboard => Some((
            format!(
                "{} dashboard --url --port {port}",
                q(&format!("{bin}/minikube"))
            ),
            "http://".into(),
        )),
        Kind::Gateway | Kind::Ssh => None,
    }
}

/// Every script `tunnel` may send, for `labprov render`.
pub fn scripts(cfg: &Config) -> Result<Vec<(String, String)>> {
    let r = Renderer::new()?;
    let mut out = Vec::new();
    for s in SERVICES {
        if let Some((cmd, ready)) = forwarder(cfg, s, cfg.tunnel[s.name]) {
            out.push((
                format!("tunnel/{}.sh", s.name),
                ensure_script(&r, cfg, s.name, &cmd, &ready)?,
            ));
        }
    }
    let tunnel_cmd = format!("{} tunnel", q(&format!("{}/minikube", cfg.paths.bin_dir)));
    out.push((
        "tunnel/minikube-tunnel.sh".into(),
        ensure_script(&r, cfg, "minikube-tunnel", &tunnel_cmd, "")?,
    ));
    let mut ctx = Context::new();
    ctx.insert("cfg", cfg);
    out.push((
        "tunnel/gateway.sh".into(),
        r.tunnel("tunnel/gateway.sh", &ctx)?,
    ));
    ctx.insert("dir", DIR);
    ctx.insert("names", &["kiali", "minikube-tunnel"]);
    out.push(("tunnel/stop.sh".into(), r.tunnel("tunnel/stop.sh", &ctx)?));
    Ok(out)
}

struct Session<'a> {
    cfg: &'a Config,
    renderer: Renderer,
    host: &'a Host,
    transport: Transport,
    report: &'a Report,
    /// Forwarders this run started (and must stop).
    started: Vec<&'static str>,
}

impl Session<'_> {
    async fn run(&self, script: &str, what: &str) -> Result<String, String> {
        let out = self
            .transport
            .run(script, None)
            .await
            .map_err(|e| e.to_string())?;
        if out.code != 0 {
            return Err(format!(
                "{what} exited {}: {}",
                out.code,
                tail(&out.stderr, 3)
            ));
        }
        Ok(out.stdout)
    }

    /// Make sure a VM-side forwarder runs; remember it if this run started it.
    async fn ensure(&mut self, name: &'static str, cmd: &str, ready: &str) -> Result<(), String> {
        let script =
            ensure_script(&self.renderer, self.cfg, name, cmd, ready).map_err(|e| e.to_string())?;
        let out = self
            .run(&script, &format!("starting {name} on {}", self.host.name))
            .await?;
        if out.lines().any(|l| l.starts_with("::started")) && !self.started.contains(&name) {
            self.started.push(name);
        }
        Ok(())
    }

    /// Bring up the VM side of a forward; returns where the SSH forward must connect.
    async fn bring_up(&mut self, s: &'static Service, port: u16) -> Result<(String, u16), String> {
        match s.kind {
            Kind::PortForward { .. } | Kind::Dashboard => {
                let (cmd, ready) = forwarder(self.cfg, s, port).expect("has a forwarder");
                self.ensure(s.name, &cmd, &ready).await?;
                Ok(("127.0.0.1".into(), port))
            }
            Kind::Gateway => {
                let cmd = format!(
                    "{} tunnel",
                    q(&format!("{}/minikube", self.cfg.paths.bin_dir))
                );
                // minikube tunnel prints nothing useful to wait for; the gateway script
                // waits for the address it assigns.
                self.ensure("minikube-tunnel", &cmd, "").await?;
                let mut ctx = Context::new();
                ctx.insert("cfg", self.cfg);
                let script = self
                    .renderer
                    .tunnel("tunnel/gateway.sh", &ctx)
                    .map_err(|e| e.to_string())?;
                let out = self.run(&script, "finding the ingress gateway").await?;
                let line = out
                    .lines()
                    .find_map(|l| l.strip_prefix("::gateway "))
                    .ok_or("the gateway script reported no address")?;
                let (ip, p) = line
                    .split_once(' ')
                    .ok_or("the gateway script reported no port")?;
                Ok((
                    ip.to_string(),
                    p.trim()
                        .parse()
                        .map_err(|_| format!("bad gateway port {p}"))?,
                ))
            }
            // The VM's sshd, by the address labprov reached it at (sshd may not listen on
            // loopback).
            Kind::Ssh => Ok((
                self.host
                    .address
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1".into()),
                self.host.port.or(self.cfg.ssh.port).unwrap_or(22),
            )),
        }
    }

    async fn stop_started(&mut self) {
        if self.started.is_empty() {
            return;
        }
        let mut ctx = Context::new();
        ctx.insert("dir", DIR);
        ctx.insert("names", &self.started);
        let Ok(script) = self.renderer.tunnel("tunnel/stop.sh", &ctx) else {
            return;
        };
        if self.transport.run(&script, None).await.is_ok() {
            return;
        }
        // A terminal's Ctrl-C also reaches the ProxyCommand that carries this host's
        // connection (it shares labprov's process group): connect again to clean up.
        if self.transport.relogin().await.is_ok() && self.transport.run(&script, None).await.is_ok()
        {
            return;
        }
        self.report.warn(&format!(
            "{}: could not stop the forwarders started ({}); they keep running",
            self.host.name,
            self.started.join(", ")
        ));
    }
}

/// Kiali and Prometheus answer their page after a redirect on the same port; one that leaves
/// the forwarded port (an SSO login, say) is not the service answering.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().cloned();
        let same = first.is_some_and(|u| {
            u.host_str() == attempt.url().host_str()
                && u.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if same && attempt.previous().len() <= 3 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

async fn healthy(client: &reqwest::Client, f: &Forward) -> bool {
    let (host, port) = (&f.reach.0, f.reach.1);
    match &f.http_path {
        Some(path) => {
            // Redirects are followed (Kiali's /kiali, Prometheus's / answer 302 first).
            let Ok(resp) = client
                .get(format!("http://{}{path}", host_port(host, port)))
                .send()
                .await
            else {
                return false;
            };
            if !resp.status().is_success() {
                return false;
            }
            f.proof.is_empty() || resp.text().await.is_ok_and(|t| t.contains(f.proof))
        }
        None => {
            let Ok(Ok(mut stream)) = tokio::time::timeout(
                Duration::from_secs(2),
                tokio::net::TcpStream::connect((host.as_str(), port)),
            )
            .await
            else {
                return false;
            };
            if !f.banner {
                return true;
            }
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 4];
            matches!(
                tokio::time::timeout(Duration::from_secs(3), stream.read_exact(&mut buf)).await,
                Ok(Ok(_)) if &buf == b"SSH-"
            )
        }
    }
}

/// `host:port` as a URL authority (an IPv6 address in brackets).
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Run `labprov tunnel` on one host until Ctrl-C. Returns the exit code.
pub async fn run(
    cfg: &Config,
    host: &Host,
    names: &[String],
    custom: &[CustomForward],
    report: Arc<Report>,
    interval: Duration,
) -> Result<i32> {
    let chosen = plan(cfg, names, custom, host.is_local())?;
    report.phase(&host.name, "connecting");
    let bastion = if host.is_local() {
        None
    } else {
        match Bastion::connect(cfg).await {
            Ok(b) => b,
            Err(e) => {
                report.error(&e.to_string());
                return Ok(1);
            }
        }
    };
    let transport = match Transport::connect(
        cfg,
        host,
        bastion.as_ref(),
        crate::interrupt::Stop::new(),
    )
    .await
    {
        Ok(t) => t,
        Err(e) => {
            report.error(&e.to_string());
            return Ok(1);
        }
    };
    let mut session = Session {
        cfg,
        renderer: Renderer::new()?,
        host,
        transport,
        report: &report,
        started: Vec::new(),
    };
    let code = serve(&mut session, &chosen, custom, interval).await;
    session.report.phase(&host.name, "stopping forwarders");
    session.stop_started().await;
    session.report.host_done(&host.name);
    session.transport.close().await;
    if let Some(b) = bastion {
        b.close().await;
    }
    Ok(code)
}

async fn serve(
    session: &mut Session<'_>,
    chosen: &[(Option<&'static Service>, u16)],
    custom: &[CustomForward],
    interval: Duration,
) -> i32 {
    let report = session.report;
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        report.error("cannot listen for Ctrl-C; not opening tunnels that could not be closed");
        return 1;
    };
    // On this machine the forwarders are reached where they listen: no SSH forward.
    let via_ssh = !session.host.is_local();
    let mut forwards: Vec<Forward> = Vec::new();
    let mut customs = custom.iter();
    for (s, port) in chosen {
        report.phase(
            &session.host.name,
            &format!("starting {}", s.map_or("forward", |s| s.name)),
        );
        let f = match s {
            Some(s) => match session.bring_up(s, *port).await {
                Ok((host, remote_port)) => Forward {
                    label: s.name.to_string(),
                    local: *port,
                    reach: if via_ssh {
                        ("127.0.0.1".to_string(), *port)
                    } else {
                        (host.clone(), remote_port)
                    },
                    remote_host: host,
                    remote_port,
                    http_path: (!s.path.is_empty()).then(|| s.path.to_string()),
                    proof: s.proof,
                    banner: matches!(s.kind, Kind::Ssh),
                    forwarder: match s.kind {
                        Kind::Gateway => Some("minikube-tunnel"),
                        Kind::Ssh => None,
                        _ => Some(s.name),
                    },
                },
                Err(why) => {
                    report.error(&format!("{}: {}: {why}", session.host.name, s.name));
                    return 1;
                }
            },
            None => {
                let c = customs.next().expect("one custom per unnamed entry");
                Forward {
                    label: format!("{}:{}", c.host, c.port),
                    local: c.local,
                    reach: ("127.0.0.1".to_string(), c.local),
                    remote_host: c.host.clone(),
                    remote_port: c.port,
                    http_path: None,
                    proof: "",
                    banner: false,
                    forwarder: None,
                }
            }
        };
        if via_ssh
            && let Err(e) = session
                .transport
                .forward(f.local, &f.remote_host, f.remote_port, true)
                .await
        {
            report.error(&format!(
                "{}: forward for {}: {e}",
                session.host.name, f.label
            ));
            return 1;
        }
        forwards.push(f);
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .redirect(same_origin_redirects())
        .build()
        .expect("http client builds");
    for f in &forwards {
        let at = host_port(&f.reach.0, f.reach.1);
        if !healthy(&client, f).await {
            report.warn(&format!("{} does not answer yet on {at}", f.label));
        }
        let url = match &f.http_path {
            Some(p) => format!("http://{at}{p}"),
            None if f.banner => format!(
                "ssh -p {} {}@127.0.0.1",
                f.local,
                session.cfg.ssh.user.as_deref().unwrap_or("USER")
            ),
            None => at,
        };
        report.tunnel(&json!({"service": f.label, "url": url, "to": format!("{}:{}", f.remote_host, f.remote_port)}));
    }
    report.phase(&session.host.name, "tunnels open; Ctrl-C to close");
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        // The signal streams were made before the first forwarder started: a Ctrl-C that
        // arrives while a health check runs is kept for this select, not lost.
        tokio::select! {
            _ = interrupt.recv() => return 0,
            _ = terminate.recv() => return 0,
            _ = ticker.tick() => {}
        }
        for f in &forwards {
            if healthy(&client, f).await {
                continue;
            }
            // Restart what died on the VM, then renew the SSH forward.
            let restarted = match f.forwarder {
                Some(name) => {
                    let s = SERVICES.iter().find(|s| s.name == f.label);
                    match s {
                        Some(s) => session.bring_up(s, f.local).await.map(|_| ()),
                        None => Ok(()),
                    }
                    .map(|_| name)
                }
                None => Ok("ssh forward"),
            };
            let forwarded = if via_ssh {
                let _ = session
                    .transport
                    .forward(f.local, &f.remote_host, f.remote_port, false)
                    .await;
                session
                    .transport
                    .forward(f.local, &f.remote_host, f.remote_port, true)
                    .await
            } else {
                Ok(())
            };
            match (restarted, forwarded) {
                (Ok(what), Ok(())) => report
                    .tunnel(&json!({"service": f.label, "event": "restored", "restarted": what})),
                (Err(why), _) => report.warn(&format!("{}: cannot restart: {why}", f.label)),
                (_, Err(e)) => report.warn(&format!("{}: cannot renew the forward: {e}", f.label)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on a real socket that answers each request with the next canned response.
    async fn serve(answers: Vec<&'static str>) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for answer in answers {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(answer.as_bytes()).await;
            }
        });
        port
    }

    fn forward(port: u16, path: &str, proof: &'static str) -> Forward {
        Forward {
            label: "kiali".into(),
            local: port,
            remote_host: "kiali".into(),
            remote_port: 20001,
            reach: ("127.0.0.1".into(), port),
            http_path: Some(path.into()),
            proof,
            banner: false,
            forwarder: None,
        }
    }

    fn page(status: &str, body: &str) -> &'static str {
        format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .leak()
    }

    #[tokio::test]
    async fn healthy_means_the_service_own_page() {
        let client = reqwest::Client::builder()
            .redirect(same_origin_redirects())
            .build()
            .unwrap();
        let title = "<title>Kiali</title>";
        let cases: Vec<(Vec<&'static str>, bool)> = vec![
            (
                vec![page("200 OK", "<html><title>Kiali</title></html>")],
                true,
            ),
            (vec![page("404 Not Found", "<title>Kiali</title>")], false),
            (
                vec![page("200 OK", "<title>Welcome to nginx!</title>")],
                false,
            ),
            (vec![page("200 OK", "")], false),
            (
                vec![
                    "HTTP/1.1 302 Found\r\nlocation: /kiali/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    page("200 OK", "<title>Kiali</title>"),
                ],
                true,
            ),
            (
                vec![
                    "HTTP/1.1 302 Found\r\nlocation: http://sso.example.invalid/login\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                ],
                false,
            ),
        ];
        for (answers, want) in cases {
            let shown = format!("{answers:?}");
            let port = serve(answers).await;
            assert_eq!(
                healthy(&client, &forward(port, "/kiali", title)).await,
                want,
                "{shown}"
            );
        }
        // A forward without a title to prove (hello-node) takes any 2xx, and only that.
        let port = serve(vec![page("200 OK", "NOW: 2026-12-01")]).await;
        assert!(healthy(&client, &forward(port, "/", "")).await);
        let port = serve(vec![page("503 Service Unavailable", "")]).await;
        assert!(!healthy(&client, &forward(port, "/", "")).await);
    }

    #[test]
    fn custom_forwards_parse_like_ssh_l() {
        assert_eq!(
            "9000:10.244.0.94:80".parse::<CustomForward>(),
            Ok(CustomForward {
                local: 9000,
                host: "10.244.0.94".into(),
                port: 80
            })
        );
        assert!("1337:localhost:53522".parse::<CustomForward>().is_ok());
        assert_eq!(
            "9000:10.244.0.94".parse::<CustomForward>().unwrap_err(),
            "`9000:10.244.0.94` is not LOCAL_PORT:REMOTE_HOST:REMOTE_PORT"
        );
    }
}
