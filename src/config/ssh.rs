//! `[ssh]`: how labprov logs in to the hosts (user, jump host, ssh's own settings).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::field::{Layered, check_destination, check_user};
use crate::error::Result;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSsh {
    pub user: Option<Spanned<String>>,
    pub jump: Option<Spanned<String>>,
    pub port: Option<u16>,
    pub config_file: Option<String>,
    pub identity_file: Option<String>,
    pub host_key_policy: Option<Spanned<String>>,
    pub connect_timeout: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ssh {
    pub user: Option<String>,
    pub jump: Option<String>,
    pub port: Option<u16>,
    pub config_file: Option<PathBuf>,
    pub identity_file: Option<PathBuf>,
    pub host_key_policy: HostKeyPolicy,
    pub connect_timeout: u64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    Strict,
    AcceptNew,
}

pub fn section(l: &Layered<RawSsh>) -> Result<Ssh> {
    let host_key_policy = match l.pick(|r| r.host_key_policy.as_ref()) {
        None => HostKeyPolicy::AcceptNew,
        Some(v) => match v.value.as_str() {
            "strict" => HostKeyPolicy::Strict,
            "accept-new" => HostKeyPolicy::AcceptNew,
            other => {
                return Err(v.invalid(
                    "ssh.host_key_policy",
                    format!("`{other}` is not one of `strict`, `accept-new`"),
                ));
            }
        },
    };
    let user = l.pick(|r| r.user.as_ref());
    if let Some(u) = &user {
        check_user(u, "ssh.user")?;
    }
    let jump = l.pick(|r| r.jump.as_ref());
    if let Some(j) = &jump {
        check_destination(j, "ssh.jump")?;
    }
    Ok(Ssh {
        user: user.map(|u| u.value),
        jump: jump.map(|j| j.value),
        port: l.pick_plain(|r| r.port.as_ref()),
        config_file: l.pick_plain(|r| r.config_file.as_ref()).map(PathBuf::from),
        identity_file: l
            .pick_plain(|r| r.identity_file.as_ref())
            .map(PathBuf::from),
        host_key_policy,
        connect_timeout: l.pick_plain(|r| r.connect_timeout.as_ref()).unwrap_or(15),
    })
}
