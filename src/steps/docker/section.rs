//! `[docker]`: Docker's apt repository and its key (point them at a mirror here). `{os}` in
//! either URL is the host's distribution as Docker names its repositories, `/etc/os-release`
//! `ID` (`ubuntu`, `debian`: download.docker.com/linux/ubuntu and /linux/debian, with the same
//! key; docs.docker.com/engine/install/debian uses the Debian one with suite
//! `VERSION_CODENAME`).
//!
//! A login in `repo_url` (`https://user:password@mirror/...`) is kept out of the
//! world-readable `docker.sources`: the docker step writes it to apt's
//! `/etc/apt/auth.conf.d/labprov-docker.conf` (root, 0600; apt_auth.conf(5)), whose
//! netrc-like words cannot hold white space, so such a login is refused here.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::field::{Layered, Sourced, url};
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
    let repo = l.pick(|r| r.repo_url.as_ref());
    if let Some(at) = &repo {
        apt_login(at)?;
    }
    Ok(Docker {
        repo_url: url(
            repo,
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

/// `%XX` decoded, as apt decodes a URL's login (and the auth file must hold it).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A login in `repo_url` that apt's auth.conf can hold: no white space or control character
/// once decoded (the words of that file are split at white space). Names neither value.
fn apt_login(at: &Sourced<String>) -> Result<()> {
    let Ok(u) = url::Url::parse(&at.value) else {
        return Ok(()); // `url` names what is wrong with it
    };
    for (what, value) in [
        ("login", u.username()),
        ("password", u.password().unwrap_or("")),
    ] {
        if percent_decoded(value)
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(at.invalid(
                "docker.repo_url",
                format!(
                    "the URL's {what} holds white space once decoded: apt's auth.conf.d \
                     (where labprov keeps it, out of the world-readable docker.sources) \
                     cannot hold it; use a {what} without it"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_are_decoded_and_a_stray_percent_is_kept() {
        assert_eq!(percent_decoded("p%40ss%3Aw%2F0rd"), "p@ss:w/0rd");
        assert_eq!(percent_decoded("100%"), "100%");
        assert_eq!(percent_decoded("%zz%4"), "%zz%4");
        assert_eq!(percent_decoded("a%20b"), "a b");
    }
}
