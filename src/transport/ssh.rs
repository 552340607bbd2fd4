//! SSH through OpenSSH via the `openssh` crate: one ControlMaster per host, every command
//! a channel on it, so a converged host costs one TCP connection and one round trip.
//!
//! The user's `~/.ssh/config` applies unless the profile names a config file; builder
//! options do not reach the jump host, so jump settings belong in that config.

use std::path::PathBuf;
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder};

use super::{Input, Output, converse};
use crate::config::{Config, Host, HostKeyPolicy};
use crate::error::Error;

pub struct Ssh {
    builder: SessionBuilder,
    destination: String,
    session: Option<Session>,
    /// Masters replaced by a fresh login, closed with this one.
    retired: Vec<Session>,
}

/// Connection errors worth another try: the network or an overloaded bastion, not keys.
/// Whether another try may succeed: the network or the server was not ready (a VM that boots,
/// a bastion dropping a burst of handshakes past `MaxStartups`, a route not up yet). Anything
/// else (a refused key, a changed host key, a name that does not resolve, ssh refusing its
/// arguments) is reported at once, in ssh's own words.
fn transient(reason: &str) -> bool {
    let transient = [
        "Connection refused",
        "Connection reset",
        "Connection timed out",
        "Operation timed out",
        "No route to host",
        "Network is unreachable",
        "Connection closed by",
        "closed by remote host",
        "kex_exchange_identification",
        "Broken pipe",
        // Through the bastion, the target's own failure arrives as a channel that did not open.
        "open failed: connect failed",
        "stdio forwarding failed",
    ];
    transient.iter().any(|t| reason.contains(t))
}

fn describe(e: &openssh::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text.replace('\n', " ").trim().to_string()
}

/// Options every connection of a run shares, to a target or to the jump host.
fn base_builder(cfg: &Config) -> SessionBuilder {
    let mut b = SessionBuilder::default();
    b.known_hosts_check(match cfg.ssh.host_key_policy {
        HostKeyPolicy::Strict => KnownHosts::Strict,
        HostKeyPolicy::AcceptNew => KnownHosts::Add,
    });
    b.connect_timeout(Duration::from_secs(cfg.ssh.connect_timeout));
    // A cut link is noticed in about three intervals (ServerAliveCountMax 3).
    b.server_alive_interval(Duration::from_secs(5));
    // A killed labprov must not leave masters behind for long.
    b.control_persist(ControlPersist::IdleFor(60.try_into().expect("non-zero")));
    // Socket paths must stay short (sun_path); the default dir can be deep.
    b.control_directory(std::env::temp_dir());
    if let Some(f) = &cfg.ssh.config_file {
        b.config_file(f);
    }
    if let Some(k) = &cfg.ssh.identity_file {
        b.keyfile(k);
    }
    b
}

/// Open a master, retrying transient failures with backoff.
async fn connect_with_retry(
    b: &SessionBuilder,
    destination: &str,
    target: &str,
) -> Result<Session, Error> {
    // About 25 s in all: long enough for a VM whose sshd is still starting.
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        match b.connect(destination).await {
            Ok(s) => return Ok(s),
            Err(e) => {
                let reason = describe(&e);
                if attempt >= 6 || !transient(&reason) {
                    let tries = if attempt > 1 {
                        format!(" (after {attempt} attempts)")
                    } else {
                        String::new()
                    };
                    return Err(Error::Connect {
                        target: target.to_string(),
                        reason: format!("{reason}{tries}"),
                    });
                }
                // Up to half the delay again, so a class of hosts does not retry in step.
                let jitter = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_millis());
                let jitter = delay.mul_f64(f64::from(jitter) / 2000.0);
                tokio::time::sleep(delay + jitter).await;
                delay = (delay * 2).min(Duration::from_secs(8));
                attempt += 1;
            }
        }
    }
}

/// One authenticated master connection to the jump host, shared by every target of a run.
///
/// With `ssh -J` each target would open its own connection to the bastion, and sshd's
/// default `MaxStartups 10:30:100` drops handshakes past ten at once (what breaks Ansible
/// behind a bastion). Here each target's master reaches it with
/// `ProxyCommand ssh -S <this master> -W host:port`: channels on one connection.
pub struct Bastion {
    session: Session,
    /// The ssh config targets use; it includes the user's (or the profile's) config.
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Bastion {
    pub async fn connect(cfg: &Config) -> Result<Option<Bastion>, Error> {
        let Some(jump) = &cfg.ssh.jump else {
            return Ok(None);
        };
        let (dest, port) = match jump.rsplit_once(':') {
            Some((d, p)) if p.parse::<u16>().is_ok() => (d.to_string(), p.parse::<u16>().ok()),
            _ => (jump.clone(), None),
        };
        let mut b = base_builder(cfg);
        if let Some(p) = port {
            b.port(p);
        }
        let session = connect_with_retry(&b, &dest, &format!("jump host {jump}")).await?;
        let dir = tempfile::Builder::new()
            .prefix("labprov-ssh")
            .tempdir()
            .map_err(|e| Error::Connect {
                target: format!("jump host {jump}"),
                reason: format!("cannot write an ssh config: {e}"),
            })?;
        let config = dir.path().join("config");
        let socket = session.control_socket().to_string_lossy().into_owned();
        let host_only = dest.rsplit_once('@').map_or(dest.as_str(), |(_, h)| h);
        let include = match &cfg.ssh.config_file {
            Some(f) => Some(std::path::absolute(f).unwrap_or_else(|_| f.clone())),
            None => dirs::home_dir()
                .map(|h| h.join(".ssh/config"))
                .filter(|p| p.is_file()),
        };
        let mut text = format!(
            "# Written by labprov for one run: targets are reached through its one master\n\
             # connection to the jump host {jump}.\n\
             Host *\n  ProxyCommand ssh -F /dev/null -o ControlMaster=no -S {} -W [%h]:%p {}\n",
            shlex::try_quote(&socket).unwrap_or_default(),
            shlex::try_quote(host_only).unwrap_or_default(),
        );
        if let Some(inc) = include {
            text.push_str(&format!(
                "  Include {}\n",
                shlex::try_quote(&inc.to_string_lossy()).unwrap_or_default()
            ));
        }
        crate::private::write(&config, text.as_bytes()).map_err(|e| Error::Connect {
            target: format!("jump host {jump}"),
            reason: format!("cannot write an ssh config: {e}"),
        })?;
        Ok(Some(Bastion {
            session,
            config,
            _dir: dir,
        }))
    }

    pub async fn close(self) {
        let _ = self.session.close().await;
    }

    /// Run `sh -c SCRIPT` on the jump host itself, as a channel of the run's one connection
    /// to it (no new login): `doctor` reads the bastion's sshd settings this way. A jump host
    /// that allows no commands answers with a non-zero exit; `None` then.
    pub async fn read(&self, script: &str) -> Option<String> {
        let out = self.session.shell(script).output().await.ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Ssh {
    pub async fn connect(
        cfg: &Config,
        host: &Host,
        bastion: Option<&Bastion>,
    ) -> Result<Ssh, Error> {
        let mut b = base_builder(cfg);
        if let Some(user) = host.user.as_ref().or(cfg.ssh.user.as_ref()) {
            b.user(user.clone());
        }
        if let Some(port) = host.port.or(cfg.ssh.port) {
            b.port(port);
        }
        match (bastion, &cfg.ssh.jump) {
            (Some(bastion), _) => {
                b.config_file(&bastion.config);
            }
            (None, Some(j)) => {
                b.jump_hosts([j]);
            }
            (None, None) => {}
        }
        let destination = host.address.clone().expect("ssh host has an address");
        let mut ssh = Ssh {
            builder: b,
            destination,
            session: None,
            retired: Vec::new(),
        };
        ssh.reconnect().await?;
        Ok(ssh)
    }

    /// `user@address`, with `:port` when one is set (a roster's port column, `ssh.port`), so
    /// an error says where labprov knocked.
    fn target(&self) -> String {
        let host = match self.builder.get_port() {
            Some(p) if self.destination.contains(':') => format!("[{}]:{p}", self.destination),
            Some(p) => format!("{}:{p}", self.destination),
            None => self.destination.clone(),
        };
        match self.builder.get_user() {
            Some(u) => format!("{u}@{host}"),
            None => host,
        }
    }

    /// Open a new master, retrying transient failures with backoff. The old one stays open,
    /// unused, until [`Ssh::close`]: the run's lock on the host is a channel on it.
    pub async fn reconnect(&mut self) -> Result<(), Error> {
        if let Some(old) = self.session.take() {
            self.retired.push(old);
        }
        let target = self.target();
        self.session = Some(connect_with_retry(&self.builder, &self.destination, &target).await?);
        Ok(())
    }

    /// A connection failure of this host.
    fn lost(&self, reason: String) -> Error {
        Error::Connect {
            target: self.target(),
            reason,
        }
    }

    /// A command's channel client exited 255, which ssh also uses for a dropped
    /// connection: this tells the two apart. `Some` is the connection failure to report
    /// (`during`: what was going on, e.g. " while taking labprov's lock", or nothing).
    pub async fn lost_if_dropped(&self, during: &str) -> Option<Error> {
        match &self.session {
            Some(s) if s.check().await.is_ok() => None,
            _ => Some(self.lost(format!("the connection was lost{during}"))),
        }
    }

    fn session(&self) -> Result<&Session, Error> {
        self.session
            .as_ref()
            .ok_or_else(|| self.lost("not connected".into()))
    }

    /// Run `bash ARGS` on the host, as a channel on the master.
    ///
    /// The channel's client is spawned here rather than by the crate (the same command line
    /// the crate's process mux uses) so that it gets a process group of its own: a
    /// terminal's Ctrl-C then reaches labprov alone, which gives the remote command its
    /// grace period, instead of cutting the channel while the command runs on.
    pub async fn run(&self, args: &[&str], input: Input<'_>) -> Result<Output, Error> {
        let lost = |reason: String| self.lost(reason);
        let session = self.session()?;
        let mut child = self.spawn(args)?;
        match converse(&mut child, input).await {
            Ok((status, stdout, stderr)) => {
                let code = status.code().unwrap_or(-1);
                // ssh reports a dropped connection as 255; make sure it was not the script.
                if code == 255
                    && let Some(e) = self.lost_if_dropped("").await
                {
                    return Err(e);
                }
                Ok(Output {
                    code,
                    stdout,
                    stderr,
                })
            }
            Err(e) => {
                if session.check().await.is_err() {
                    Err(lost(format!("the connection was lost ({e})")))
                } else {
                    Err(lost(e.to_string()))
                }
            }
        }
    }

    /// Start `bash ARGS` on the host and hand back its channel's client, stdin, stdout and
    /// stderr piped; dropping it ends the channel.
    pub fn spawn(&self, args: &[&str]) -> Result<tokio::process::Child, Error> {
        let lost = |reason: String| self.lost(reason);
        let session = self.session()?;
        let mut remote = String::from("bash");
        for a in args {
            let quoted = shlex::try_quote(a)
                .map_err(|e| Error::internal(format!("a script cannot be quoted: {e}")))?;
            remote.push(' ');
            remote.push_str(&quoted);
        }
        let mut cmd = tokio::process::Command::new("ssh");
        cmd.arg("-S")
            .arg(session.control_socket())
            .args(["-o", "BatchMode=yes", "-T", "-p", "9", "none", "--"])
            .arg(remote)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        cmd.spawn()
            .map_err(|e| lost(format!("cannot run ssh: {e}")))
    }

    /// Forward `127.0.0.1:local` here to `host:port` as seen from the remote host, on the
    /// same master connection.
    pub async fn forward(
        &self,
        local: u16,
        host: &str,
        port: u16,
        open: bool,
    ) -> Result<(), Error> {
        let lost = |reason: String| self.lost(reason);
        let session = self.session()?;
        let listen = openssh::Socket::TcpSocket {
            host: "127.0.0.1".into(),
            port: local,
        };
        let connect = openssh::Socket::TcpSocket {
            host: host.to_string().into(),
            port,
        };
        let result = if open {
            session
                .request_port_forward(openssh::ForwardType::Local, listen, connect)
                .await
        } else {
            session
                .close_port_forward(openssh::ForwardType::Local, listen, connect)
                .await
        };
        result.map_err(|e| lost(describe(&e)))
    }

    pub async fn close(mut self) {
        if let Some(s) = self.session.take() {
            let _ = s.close().await;
        }
        for s in self.retired.drain(..) {
            let _ = s.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::transient;

    #[test]
    fn what_is_retried_and_what_is_reported_at_once() {
        // ssh's and the kernel's own words, as openssh's errors carry them.
        for retried in [
            "ssh: connect to host 10.0.0.5 port 22: Connection refused",
            "ssh: connect to host 10.0.0.5 port 22: No route to host",
            "ssh: connect to host 10.0.0.5 port 22: Connection timed out",
            "kex_exchange_identification: read: Connection reset by peer",
            "kex_exchange_identification: Connection closed by remote host",
            "channel 0: open failed: connect failed: No route to host stdio forwarding failed",
        ] {
            assert!(transient(retried), "{retried}");
        }
        for at_once in [
            "student@10.0.0.5: Permission denied (publickey).",
            "Host key verification failed.",
            "@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @",
            "ssh: Could not resolve hostname nosuch.example: Name or service not known",
            "No such file or directory (os error 2)",
        ] {
            assert!(!transient(at_once), "{at_once}");
        }
    }
}
