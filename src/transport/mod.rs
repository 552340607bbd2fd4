//! How scripts reach a host: this machine, or SSH (one multiplexed master per host, through
//! the jump host when there is one).
//!
//! A transport knows nothing of steps. It runs a script with `bash -c`, optionally streams
//! a file to its stdin, and reports either the command's result or an [`Error::Connect`]:
//! "could not talk to the host" is kept apart from "the command failed".

use std::path::Path;

use crate::config::{Config, Host};
use crate::error::Error;

mod local;
mod ssh;

pub use local::Local;
pub use ssh::{Bastion, Ssh};

/// What a command reads on stdin.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

/// What a finished remote command said.
#[derive(Debug, Clone)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub enum Transport {
    Local(Local),
    Ssh(Box<Ssh>),
}

impl Transport {
    pub async fn connect(
        cfg: &Config,
        host: &Host,
        bastion: Option<&Bastion>,
    ) -> Result<Transport, Error> {
        match &host.address {
            None => Ok(Transport::Local(Local::new())),
            Some(_) => Ssh::connect(cfg, host, bastion)
                .await
                .map(|s| Transport::Ssh(Box::new(s))),
        }
    }

    /// Run `script` with bash; `stdin` is streamed to it when given.
    pub async fn run(&self, script: &str, stdin: Option<Payload<'_>>) -> Result<Output, Error> {
        match self {
            Transport::Local(l) => l.run(script, stdin).await,
            Transport::Ssh(s) => s.run(script, stdin).await,
        }
    }

    /// Start a fresh login so group changes made by a step apply to what follows.
    pub async fn relogin(&mut self) -> Result<(), Error> {
        match self {
            Transport::Local(l) => {
                l.relogin();
                Ok(())
            }
            Transport::Ssh(s) => s.reconnect().await,
        }
    }

    /// Open (or close) a local forward `127.0.0.1:local` → `host:port` on the remote side.
    pub async fn forward(
        &self,
        local: u16,
        host: &str,
        port: u16,
        open: bool,
    ) -> Result<(), Error> {
        match self {
            Transport::Local(_) => Err(Error::Connect {
                target: "local".into(),
                reason: "forwards are for hosts reached over SSH".into(),
            }),
            Transport::Ssh(s) => s.forward(local, host, port, open).await,
        }
    }

    pub async fn close(self) {
        if let Transport::Ssh(s) = self {
            s.close().await;
        }
    }
}

/// Stream a payload into a child's stdin. A script that exits early closes its stdin; its
/// exit code tells why, so write errors are not errors here.
pub(crate) async fn feed<W: tokio::io::AsyncWrite + Unpin>(
    pipe: &mut W,
    payload: Payload<'_>,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    match payload {
        Payload::File(path) => {
            let mut file = tokio::fs::File::open(path).await?;
            let _ = tokio::io::copy(&mut file, pipe).await;
        }
        Payload::Bytes(bytes) => {
            let _ = pipe.write_all(bytes).await;
        }
    }
    let _ = pipe.shutdown().await;
    Ok(())
}
