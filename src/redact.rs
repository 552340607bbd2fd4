//! Credentials never leave labprov in what it shows or keeps. A profile may point at a mirror
//! as `https://user:token@mirror/...`; the hosts need that URL, but the terminal, the JSON
//! lines, the journals and `render`'s files get `https://***@mirror/...`. Redaction happens
//! where text leaves the process (the report's writers, the journal writer, `render`), so a
//! message built anywhere, a host's stderr tail included, cannot carry a secret past it.

use std::borrow::Cow;

/// What stands in for a URL's userinfo.
pub const MASK: &str = "***";

/// `text` with the userinfo of every URL in it replaced by `***@`: `user:password@` in any
/// URL, and a bare `token@` too except in `ssh://`, where it is the login name. A URL is a
/// scheme followed by `://`; its authority ends at the first `/`, `?`, `#`, whitespace, quote
/// or angle bracket.
pub fn text(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let ssh = head[..at].ends_with("ssh");
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`') || c.is_whitespace()
            })
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(userinfo_end)
                if authority[..userinfo_end] != *MASK
                    && (!ssh || authority[..userinfo_end].contains(':')) =>
            {
                out.push_str(MASK);
                out.push_str(&authority[userinfo_end..]);
                changed = true;
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_masked_and_nothing_else_changes() {
        let cases = [
            (
                "download failed: http://user:s3cret@10.0.0.2:8080/minikube: 404",
                "download failed: http://***@10.0.0.2:8080/minikube: 404",
            ),
            (
                "url=\"https://tok3n@mirror/x\" and 'ftp://a:b@h'",
                "url=\"https://***@mirror/x\" and 'ftp://***@h'",
            ),
            ("https://a:b@c@host?q=1", "https://***@host?q=1"),
            (
                "http://mirror/path@v1 ssh://bastion@host ssh://u:pw@h",
                "http://mirror/path@v1 ssh://bastion@host ssh://***@h",
            ),
            (
                "plain text, user@host, no scheme",
                "plain text, user@host, no scheme",
            ),
            ("https://host:8443/", "https://host:8443/"),
            ("https://***@host/", "https://***@host/"),
            ("ends with ://", "ends with ://"),
            ("é://ü:ö@ñ/", "é://***@ñ/"),
        ];
        for (input, want) in cases {
            assert_eq!(text(input), want, "{input}");
        }
        assert!(matches!(text("http://mirror/x"), Cow::Borrowed(_)));
    }
}
