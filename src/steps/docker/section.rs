//! `[docker]`: Docker's apt repository and its key (point them at a mirror here). `{os}` in
//! either URL is the host's distribution as Docker names its repositories, `/etc/os-release`
//! `ID` (`ubuntu`, `debian`: download.docker.com/linux/ubuntu and /linux/debian, with the same
//! key; docs.docker.com/engine/install/debian uses the Debian one with suite
//! `VERSION_CODENAME`).

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::field::{Layered, url};
use crate::error::Result;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDocker {
    pub repo_url: Option<Spanned<String>>,
    pub gpg_url: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Docker {
    pub repo_url: String,
    pub gpg_url: String,
}

pub fn section(l: &Layered<RawDocker>) -> Result<Docker> {
    Ok(Docker {
        repo_url: url(
            l.pick(|r| r.repo_url.as_ref()),
            "https://download.docker.com/linux/{os}",
            "docker.repo_url",
        )?,
        gpg_url: url(
            l.pick(|r| r.gpg_url.as_ref()),
            "https://download.docker.com/linux/{os}/gpg",
            "docker.gpg_url",
        )?,
    })
}
