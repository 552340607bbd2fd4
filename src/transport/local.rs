//! This machine, through a child `bash`.

use std::process::Stdio;

use tokio::process::Command;

use super::{Input, Output, converse};
use crate::error::Error;

#[derive(Default)]
pub struct Local {
    /// After a step changed the user's groups, commands go through `sudo -u $USER`, which
    /// starts a fresh login (initgroups) the way a new SSH connection would.
    fresh_login: bool,
}

impl Local {
    pub fn new() -> Local {
        Local::default()
    }

    pub fn relogin(&mut self) {
        // Root's groups never gate anything labprov runs.
        let root = std::env::var("USER").is_ok_and(|u| u == "root") || is_root();
        self.fresh_login = !root;
    }

    /// Run `bash ARGS` with `input` on its stdin.
    pub async fn run(&self, args: &[&str], input: Input<'_>) -> Result<Output, Error> {
        let fail = |e: std::io::Error| Error::Connect {
            target: "local".into(),
            reason: format!("cannot run bash: {e}"),
        };
        let mut child = self.spawn(args)?;
        let (status, stdout, stderr) = converse(&mut child, input).await.map_err(fail)?;
        Ok(Output {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        })
    }

    /// Start `bash ARGS`, stdin, stdout and stderr piped; dropping the child kills it.
    pub fn spawn(&self, args: &[&str]) -> Result<tokio::process::Child, Error> {
        let mut cmd = if self.fresh_login {
            let user = current_user();
            let mut c = Command::new("sudo");
            c.args(["-n", "-H", "-u", &user, "--", "bash"]).args(args);
            c
        } else {
            let mut c = Command::new("bash");
            c.args(args);
            c
        };
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A terminal's Ctrl-C reaches labprov alone, which gives the command its grace
            // period instead of killing it mid-step.
            .process_group(0)
            .kill_on_drop(true);
        cmd.spawn().map_err(|e| Error::Connect {
            target: "local".into(),
            reason: format!("cannot run bash: {e}"),
        })
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn current_user() -> String {
    std::process::Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|u| !u.is_empty())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into())
}
