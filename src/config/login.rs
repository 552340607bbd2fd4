//! Who labprov logs in as, and where: the one syntax of a user, a host address and a
//! `user@host[:port]` destination, shared by the profile (`ssh.user`, `ssh.jump`, `[[hosts]]`),
//! a roster and `--hosts`. Whatever passes here becomes an argument of `ssh`, so nothing may
//! start with `-` (ssh would read `-oProxyCommand=...` as an option) and nothing may hold a
//! character a shell or ssh would treat specially.
//!
//! A leaf: plain strings in, a reason out; each caller points at the value its own way.

use std::net::IpAddr;

/// A parsed destination: `[ssh://][user@]host[:port]`, the host an IP address (IPv6 in
/// brackets when a port follows) or a DNS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// A login name: 1 to 32 of `A-Z a-z 0-9 . _ -`, not starting with `-` (useradd's rule, less
/// its refusal of capitals, which `--badname` lifts).
pub fn user(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else if s.starts_with('-') {
        Err(format!(
            "`{}` is not a user name: it starts with `-`",
            shown(s)
        ))
    } else {
        Err(format!(
            "`{}` is not a user name (1 to 32 letters, digits, '.', '_', '-')",
            shown(s)
        ))
    }
}

/// An IP address or a DNS name (labels of letters, digits and `-`, none starting with `-`).
pub fn address(s: &str) -> Result<(), String> {
    if s.parse::<IpAddr>().is_ok() || is_dns_name(s) {
        Ok(())
    } else {
        Err(format!(
            "`{}` is neither an IP address nor a host name",
            shown(s)
        ))
    }
}

fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.to_ascii_lowercase().split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// `[ssh://][user@]host[:port]`, as `ssh -J` and `ssh` take it.
pub fn destination(s: &str) -> Result<Destination, String> {
    let whole = s;
    let s = s.strip_prefix("ssh://").unwrap_or(s);
    let s = s.strip_suffix('/').unwrap_or(s);
    let (login, rest) = match s.rsplit_once('@') {
        Some((u, rest)) => {
            user(u)?;
            (Some(u.to_string()), rest)
        }
        None => (None, s),
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        // [v6]:port or [v6]
        let (h, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("`{}`: `[` without `]`", shown(whole)))?;
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("`{}` is not an IPv6 address", shown(h)));
        }
        match after {
            "" => (h, None),
            p => (
                h,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("`{}`: expected `:PORT` after `]`", shown(whole)))?,
                ),
            ),
        }
    } else if rest.parse::<std::net::Ipv6Addr>().is_ok() {
        (rest, None)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    address(host)?;
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(format!("`{}` is not a port (1 to 65535)", shown(p))),
        },
    };
    Ok(Destination {
        user: login,
        host: host.to_string(),
        port,
    })
}

/// A value as an error shows it: control characters escaped, so the message stays one line.
fn shown(s: &str) -> String {
    s.chars().flat_map(char::escape_debug).collect()
}

/// The first control character of `s` (C0, DEL or C1: newline, tab, NUL, ESC, ...) and its
/// byte offset. Such a character in a profile or roster value is never meant: it ends a line
/// of an apt source, a shell word or an ssh option the value is written into.
pub fn control_char(s: &str) -> Option<(usize, char)> {
    s.char_indices().find(|(_, c)| c.is_control())
}

/// How an error names a control character: `U+000A (a newline)`.
pub fn describe_control(c: char) -> String {
    let name = match c {
        '\n' => " (a newline)",
        '\r' => " (a carriage return)",
        '\t' => " (a tab)",
        '\0' => " (NUL)",
        '\u{1b}' => " (ESC)",
        _ => "",
    };
    format!("U+{:04X}{name}", c as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let d = |user: Option<&str>, host: &str, port: Option<u16>| Destination {
            user: user.map(String::from),
            host: host.into(),
            port,
        };
        assert_eq!(
            destination("bastion@ssh.crownlabs.polito.it"),
            Ok(d(Some("bastion"), "ssh.crownlabs.polito.it", None))
        );
        assert_eq!(
            destination("ssh://crownlabs@10.0.0.5:2222"),
            Ok(d(Some("crownlabs"), "10.0.0.5", Some(2222)))
        );
        assert_eq!(
            destination("[fe80::1]:22"),
            Ok(d(None, "fe80::1", Some(22)))
        );
        assert_eq!(destination("fe80::1"), Ok(d(None, "fe80::1", None)));
        assert_eq!(destination("host"), Ok(d(None, "host", None)));
        for bad in [
            "bastion@-oProxyCommand=x",
            "ssh://bastion@-oProxyCommand=x",
            "-oProxyCommand=x",
            "-u@host",
            "a b@host",
            "user@host:0",
            "user@host:99999",
            "user@ho st",
            "user@host;rm",
            "user@",
            "@host",
            "",
            "user@host\nTrusted: yes",
            "[::1",
        ] {
            assert!(destination(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            destination("bastion@-oProxyCommand=x").unwrap_err(),
            "`-oProxyCommand=x` is neither an IP address nor a host name"
        );
        assert_eq!(
            user("-oProxyCommand=x").unwrap_err(),
            "`-oProxyCommand=x` is not a user name: it starts with `-`"
        );
    }

    #[test]
    fn control_characters_are_found_and_named() {
        assert_eq!(control_char("http://m/x\nTrusted: yes"), Some((10, '\n')));
        assert_eq!(control_char("tab\there"), Some((3, '\t')));
        assert_eq!(control_char("c1\u{85}"), Some((2, '\u{85}')));
        assert_eq!(control_char("ünïcode ok"), None);
        assert_eq!(describe_control('\n'), "U+000A (a newline)");
        assert_eq!(describe_control('\u{7f}'), "U+007F");
    }
}
