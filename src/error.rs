//! The one error type of labprov.
//!
//! Every failure a user can see is a variant here, so its wording lives in one place and the
//! exit code is decided by one function ([`Error::exit_code`]). Input errors carry the file and
//! byte span of the offending text so `Display` can point at it the way a compiler does.
//! Runtime failures of a host or a step (connect, remote command, template, artifact, plan,
//! interrupted, internal) are variants too: they travel in outcomes, and their `kind` (the
//! serde tag) reaches the journal and the JSON lines, so a lost connection is told apart from
//! a failed command or a bug without parsing text.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

/// A piece of input text with a location, used to print `file:line:col` and a caret line.
#[derive(Debug, Clone, Serialize)]
pub struct Snippet {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub line_text: String,
    pub width: usize,
}

impl Snippet {
    /// Locate `span` (byte offsets) in `text`.
    /// Offsets that fall inside a character (a span computed in bytes over text with
    /// multi-byte characters) are moved to its boundaries, so any span is safe to show.
    pub fn new(file: impl Into<PathBuf>, text: &str, span: std::ops::Range<usize>) -> Snippet {
        let start = floor_boundary(text, span.start);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = text[..start].matches('\n').count() + 1;
        let col = text[line_start..start].chars().count() + 1;
        let end = ceil_boundary(text, span.end.clamp(start, line_end));
        let width = text[start..end].chars().count().max(1);
        let raw = text[line_start..line_end].trim_end_matches('\r');
        // The line as it is shown, a URL's credentials masked (they are masked where text
        // leaves labprov anyway): the caret is measured on it, so it stays under the value.
        let shown = crate::redact::text(raw);
        let (col, width) = if shown == raw {
            (col, width)
        } else {
            let before = crate::redact::text(&text[line_start..start])
                .chars()
                .count();
            let through = crate::redact::text(&text[line_start..end]).chars().count();
            (before + 1, through.saturating_sub(before).max(1))
        };
        Snippet {
            file: file.into(),
            line,
            col,
            line_text: shown.into_owned(),
            width,
        }
    }

    /// The text under the caret.
    pub fn text(&self) -> String {
        self.line_text
            .chars()
            .skip(self.col - 1)
            .take(self.width)
            .collect()
    }
}

/// The char boundary at or before `at` (clamped to the text).
fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The char boundary at or after `at` (clamped to the text).
fn ceil_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

impl fmt::Display for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        writeln!(
            f,
            "{pad}--> {}:{}:{}",
            self.file.display(),
            self.line,
            self.col
        )?;
        writeln!(f, "{pad} |")?;
        // A control character of the file (an ESC sequence, a tab) is shown as one U+FFFD: it
        // must not act on the user's terminal, and the caret below stays in its column.
        let shown: String = self
            .line_text
            .chars()
            .map(|c| if c.is_control() { '\u{fffd}' } else { c })
            .collect();
        writeln!(f, "{num} | {shown}")?;
        write!(
            f,
            "{pad} | {}{}",
            " ".repeat(self.col - 1),
            "^".repeat(self.width)
        )
    }
}

#[derive(Debug, Clone, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Error {
    /// The profile could not be read at all.
    #[error("cannot read profile {}: {source}", path.display())]
    ProfileRead {
        path: PathBuf,
        #[serde(skip)]
        source: Arc<std::io::Error>,
    },

    /// The profile is not valid TOML or does not fit the schema (unknown key, wrong type).
    #[error("{}", render_input_error(message, snippet, help.as_deref()))]
    ProfileSyntax {
        message: String,
        snippet: Box<Snippet>,
        help: Option<String>,
    },

    /// A value has the right type but is not acceptable (bad URL, CIDR, version, name).
    #[error("{}", render_input_error(&format!("invalid value for `{field}`: {reason}"), snippet, None))]
    ProfileValue {
        field: String,
        reason: String,
        snippet: Box<Snippet>,
    },

    /// A problem that spans several places of the profile, such as a missing section.
    #[error("{}: {message}", path.display())]
    ProfileInvalid { path: PathBuf, message: String },

    /// `extends` names a profile that does not exist, or the chain loops.
    #[error("{}: cannot extend `{name}`: {reason}", path.display())]
    ProfileExtends {
        path: PathBuf,
        name: String,
        reason: String,
    },

    /// A bad line in a `--hosts-file` roster.
    #[error("{}", render_input_error(message, snippet, None))]
    Roster {
        message: String,
        snippet: Box<Snippet>,
    },

    /// Bad command-line usage that clap cannot see (e.g. `--limit` naming an unknown host).
    #[error("{message}")]
    Usage { message: String },

    /// A template failed to render; this is a bug in labprov, not in the input.
    #[error("internal error: template {name} failed to render: {message}")]
    Template { name: String, message: String },

    /// Writing rendered files or the journal failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[serde(skip)]
        source: Arc<std::io::Error>,
    },

    /// A host (or the jump host) could not be reached or was lost: the network, keys or the
    /// bastion, not a command. It stops every later step of the host.
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },

    /// A command ran on a host and failed; it stops its step and what needs it.
    #[error("{what} exited {code}{}", tail_suffix(stderr_tail))]
    Remote {
        what: String,
        code: i32,
        stderr_tail: String,
    },

    /// A download failed or did not match its pinned digest (`expected`/`actual`, hex).
    #[error("{}", artifact_message(url, expected.as_deref(), actual.as_deref(), problem))]
    Artifact {
        url: String,
        expected: Option<String>,
        actual: Option<String>,
        /// What went wrong when it is not a digest mismatch.
        problem: String,
    },

    /// What the checks found cannot be converged by applying (a blocked step, an unsupported
    /// host, a step whose needs did not converge, manifests that cannot be planned).
    #[error("{message}")]
    Plan { message: String },

    /// Ctrl-C or SIGTERM: the run stopped starting steps.
    #[error("interrupted")]
    Interrupted,

    /// A bug in labprov: a broken invariant or a panic. The host fails; the run goes on.
    #[error("internal error: {message}; please report it")]
    Internal { message: String },
}

fn artifact_message(
    url: &str,
    expected: Option<&str>,
    actual: Option<&str>,
    problem: &str,
) -> String {
    match (expected, actual) {
        (Some(e), Some(a)) => format!("sha256 mismatch for {url}: expected {e}, got {a}"),
        _ => problem.to_string(),
    }
}

fn render_input_error(message: &str, snippet: &Snippet, help: Option<&str>) -> String {
    let mut out = format!("{message}\n{snippet}");
    if let Some(help) = help {
        out.push_str(&format!("\n  = help: {help}"));
    }
    out
}

impl Error {
    /// The process exit code for this error: 2 for anything the user can fix in the input.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::ProfileRead { .. }
            | Error::ProfileSyntax { .. }
            | Error::ProfileValue { .. }
            | Error::ProfileInvalid { .. }
            | Error::ProfileExtends { .. }
            | Error::Roster { .. }
            | Error::Usage { .. } => 2,
            Error::Interrupted => 130,
            Error::Internal { .. } => 101,
            Error::Template { .. }
            | Error::Write { .. }
            | Error::Connect { .. }
            | Error::Remote { .. }
            | Error::Artifact { .. }
            | Error::Plan { .. } => 1,
        }
    }

    /// The serde tag: `connect`, `remote`, `artifact`, `plan`, `internal`, ...
    pub fn kind(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v["kind"].as_str().map(String::from))
            .unwrap_or_default()
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::Internal {
            message: message.into(),
        }
    }

    pub fn plan(message: impl Into<String>) -> Error {
        Error::Plan {
            message: message.into(),
        }
    }

    /// Whether the host is gone: nothing more can run on it.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(": {tail}")
    }
}

/// The last few non-empty lines of some output, joined, for error messages.
pub fn tail(text: &str, lines: usize) -> String {
    let kept: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with("::"))
        .collect();
    let start = kept.len().saturating_sub(lines);
    kept[start..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_points_at_the_span() {
        let text = "a = 1\n[cluster]\ncpu = 4\n";
        let start = text.find("cpu").unwrap();
        let s = Snippet::new("p.toml", text, start..start + 3);
        assert_eq!((s.line, s.col, s.text().as_str()), (3, 1, "cpu"));
        assert_eq!(s.to_string(), " --> p.toml:3:1\n  |\n3 | cpu = 4\n  | ^^^");
    }

    #[test]
    fn a_span_inside_a_character_is_widened_to_it() {
        // U+3000 is three bytes; a one-byte span at its start must not split it.
        let text = "h1,10.0.0.1\n\u{3000},10.0.0.2\n";
        let at = text.find('\u{3000}').unwrap();
        for span in [at..at + 1, at + 1..at + 2, at + 2..at + 9] {
            let s = Snippet::new("r.csv", text, span);
            assert_eq!((s.line, s.col), (2, 1));
            assert!(s.to_string().contains("2 | \u{3000},10.0.0.2"), "{s}");
        }
    }

    #[test]
    fn tail_keeps_last_meaningful_lines() {
        assert_eq!(tail("a\n\n::marker\nb\nc\n", 2), "b | c");
    }
}
