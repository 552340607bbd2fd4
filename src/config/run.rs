//! `[run]`: how a run goes (hosts at once, how long it waits for a lock, a stopped command, or
//! a fresh VM's own first-boot work).

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::field::Layered;
use crate::error::Result;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRun {
    pub parallel: Option<Spanned<u32>>,
    pub grace_period: Option<Spanned<u32>>,
    pub lock_timeout: Option<Spanned<u32>>,
    pub apt_lock_timeout: Option<Spanned<u32>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// Hosts provisioned at once.
    pub parallel: usize,
    /// Seconds a running remote command may go on after Ctrl-C or SIGTERM before labprov
    /// stops it (and its children) on the host.
    pub grace_period: u64,
    /// Seconds a run waits for another run's lock on a host before that host fails.
    pub lock_timeout: u64,
    /// Seconds a host's apt-get waits for the dpkg and apt lists locks, and `up` for
    /// cloud-init, which hold them for minutes on a fresh cloud VM's first boot.
    pub apt_lock_timeout: u64,
}

pub fn section(l: &Layered<RawRun>) -> Result<Run> {
    let parallel = match l.pick(|r| r.parallel.as_ref()) {
        None => 16,
        Some(p) if (1..=512).contains(&p.value) => p.value as usize,
        Some(p) => return Err(p.invalid("run.parallel", "must be between 1 and 512")),
    };
    let grace_period = match l.pick(|r| r.grace_period.as_ref()) {
        None => 30,
        Some(g) if g.value <= 3600 => u64::from(g.value),
        Some(g) => {
            return Err(g.invalid("run.grace_period", "must be between 0 and 3600 (seconds)"));
        }
    };
    let lock_timeout = match l.pick(|r| r.lock_timeout.as_ref()) {
        None => 1800,
        Some(t) if (1..=86400).contains(&t.value) => u64::from(t.value),
        Some(t) => {
            return Err(t.invalid("run.lock_timeout", "must be between 1 and 86400 (seconds)"));
        }
    };
    // Ansible's apt module waits 60 s; a first boot's unattended-upgrades takes minutes.
    let apt_lock_timeout = match l.pick(|r| r.apt_lock_timeout.as_ref()) {
        None => 600,
        Some(t) if t.value <= 86400 => u64::from(t.value),
        Some(t) => {
            return Err(t.invalid(
                "run.apt_lock_timeout",
                "must be between 0 and 86400 (seconds)",
            ));
        }
    };
    Ok(Run {
        parallel,
        grace_period,
        lock_timeout,
        apt_lock_timeout,
    })
}
