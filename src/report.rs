//! The only module that prints.
//!
//! Three faces of the same event stream: a live indicatif view for a terminal (one line per
//! active host, finished lines printed above it), plain lines when stdout is not a terminal
//! or `--output plain`, and JSON Lines for machines (`--output json`), whose last line is
//! always the summary. Errors go to stderr in every mode.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::manifests::Action;
use crate::outcome::{CheckState, HostPlan, Kind, Outcome, Tally};
use crate::verify::{Verdict, VerdictKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputMode {
    Human,
    Plain,
    Json,
}

pub struct Report {
    mode: OutputMode,
    verbosity: i8,
    started: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    multi: Option<MultiProgress>,
    bars: BTreeMap<String, ProgressBar>,
    tallies: BTreeMap<String, Tally>,
    /// Hosts whose run failed, with the step and reason, for the final table.
    failures: BTreeMap<String, (String, String)>,
    /// Every outcome, for the journal.
    outcomes: Vec<Outcome>,
    /// `verify`: every check's verdict, for the summary and the journal.
    verdicts: Vec<Verdict>,
}

impl Report {
    pub fn new(requested: OutputMode, verbosity: i8) -> Report {
        let mode = match requested {
            OutputMode::Human if !std::io::stdout().is_terminal() => OutputMode::Plain,
            m => m,
        };
        let multi = (mode == OutputMode::Human)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        Report {
            mode,
            verbosity,
            started: Instant::now(),
            state: Mutex::new(State {
                multi,
                ..State::default()
            }),
        }
    }

    /// The state, even after a host's task panicked while holding it: a panic is that
    /// host's failure and must not silence the rest of the run.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn line(&self, state: &State, text: &str) {
        let text = crate::redact::text(text);
        match &state.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
            }
        }
    }

    fn json(&self, value: serde_json::Value) {
        let text = value.to_string();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", crate::redact::text(&text));
    }

    /// A host's current activity, shown on its live line.
    pub fn phase(&self, host: &str, what: &str) {
        let mut st = self.lock();
        match self.mode {
            OutputMode::Human => {
                let Some(multi) = st.multi.clone() else {
                    return;
                };
                let bar = st.bars.entry(host.to_string()).or_insert_with(|| {
                    let b = multi.add(ProgressBar::new_spinner());
                    b.set_style(
                        ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} ({elapsed})")
                            .expect("valid template"),
                    );
                    b.set_prefix(host.to_string());
                    b.enable_steady_tick(Duration::from_millis(120));
                    b
                });
                bar.set_message(crate::redact::text(what).into_owned());
            }
            OutputMode::Plain if self.verbosity > 0 => self.line(&st, &format!("{host}: {what}")),
            _ => {}
        }
    }

    /// A host is done: its live line goes away (200 hosts must not flood the terminal).
    pub fn host_done(&self, host: &str) {
        let mut st = self.lock();
        if let Some(bar) = st.bars.remove(host) {
            bar.finish_and_clear();
            if let Some(m) = &st.multi {
                m.remove(&bar);
            }
        }
    }

    pub fn facts(&self, plan: &HostPlan) {
        let st = self.lock();
        match self.mode {
            OutputMode::Json => {
                self.json(json!({"type": "facts", "host": plan.host, "facts": plan.facts}))
            }
            _ if self.verbosity >= 0 => {
                self.line(&st, &format!("{}: {}", plan.host, plan.describe()))
            }
            _ => {}
        }
    }

    pub fn outcome(&self, o: &Outcome) {
        let mut st = self.lock();
        st.tallies
            .entry(o.host().to_string())
            .or_default()
            .add(o.kind());
        st.outcomes.push(o.clone());
        if o.kind() == Kind::Failed {
            st.failures
                .entry(o.host().to_string())
                .or_insert_with(|| (o.step().to_string(), o.detail().to_string()));
        }
        match self.mode {
            OutputMode::Json => {
                if let Ok(mut v) = serde_json::to_value(o) {
                    v["type"] = json!("step");
                    self.json(v);
                }
            }
            _ => {
                if o.kind() == Kind::Ok && self.verbosity <= 0 {
                    return;
                }
                // A skipped step took no time, and its detail says it was skipped.
                if o.kind() == Kind::Skipped {
                    self.line(&st, &format!("{}: {} {}", o.host(), o.step(), o.detail()));
                    return;
                }
                let secs = o.elapsed_ms() as f64 / 1000.0;
                let word = match o.kind() {
                    Kind::Ok => "ok",
                    Kind::Changed => "changed",
                    Kind::Failed => "FAILED",
                    Kind::Skipped => "skipped",
                    Kind::Interrupted => "INTERRUPTED",
                };
                let detail = if o.detail().is_empty() {
                    String::new()
                } else {
                    format!(": {}", o.detail())
                };
                self.line(
                    &st,
                    &format!("{}: {} {word} ({secs:.1}s){detail}", o.host(), o.step()),
                );
            }
        }
    }

    /// Another run holds a host's lock; this one waits for it.
    pub fn waiting(&self, host: &str, holder: &str) {
        let st = self.lock();
        let text = format!("{host}: waiting for the host's lock, held by {holder}");
        match self.mode {
            OutputMode::Json => {
                self.json(json!({"type": "waiting", "host": host, "holder": holder}))
            }
            _ => self.line(&st, &text),
        }
    }

    /// What a host's step waits for while it waits (a first boot's dpkg lock): on its live
    /// line on a terminal, a line of its own otherwise, so a long wait never looks like a hang.
    pub fn progress(&self, host: &str, step: &str, what: &str) {
        if self.mode == OutputMode::Human {
            self.phase(host, &format!("{step}: {what}"));
            return;
        }
        let st = self.lock();
        match self.mode {
            OutputMode::Json => {
                self.json(json!({"type": "progress", "host": host, "step": step, "message": what}))
            }
            _ => self.line(&st, &format!("{host}: {step}: {what}")),
        }
    }

    /// A host that could not be reached: one failure, for the step "connect".
    pub fn unreachable(&self, host: &str, error: &crate::error::Error) {
        let o = Outcome::failed(host, "connect", error.clone(), Duration::ZERO);
        self.outcome(&o);
    }

    /// `plan` and `status`: what each step of a host would need.
    pub fn plan(&self, plan: &HostPlan, as_status: bool) {
        let mut st = self.lock();
        // In the summary of a plan, "changed" counts what `up` would change.
        let tally = st.tallies.entry(plan.host.clone()).or_default();
        for s in &plan.steps {
            tally.add(match s.state {
                CheckState::Converged => Kind::Ok,
                CheckState::NeedsChange => Kind::Changed,
                CheckState::Blocked | CheckState::Error => Kind::Failed,
            });
        }
        let changes = plan
            .manifests
            .as_ref()
            .map(|m| m.changes.as_slice())
            .unwrap_or_default();
        if self.mode == OutputMode::Json {
            for c in changes {
                if let Ok(mut v) = serde_json::to_value(c) {
                    v["type"] = json!("object");
                    v["host"] = json!(plan.host);
                    self.json(v);
                }
            }
            for s in &plan.steps {
                self.json(
                    json!({"type": if as_status {"status"} else {"plan"}, "host": plan.host,
                    "step": s.step, "state": s.state, "reasons": s.reasons}),
                );
            }
            return;
        }
        let mut text = String::new();
        let mut counts = [0usize; 4];
        for s in &plan.steps {
            let (mark, word, idx) = match s.state {
                CheckState::Converged => ("=", if as_status { "converged" } else { "ok" }, 0),
                CheckState::NeedsChange => {
                    ("~", if as_status { "needs change" } else { "change" }, 1)
                }
                CheckState::Blocked => ("!", "blocked", 2),
                CheckState::Error => ("?", "check failed", 3),
            };
            counts[idx] += 1;
            let why = if s.reasons.is_empty() {
                String::new()
            } else {
                format!(": {}", s.reasons.join("; "))
            };
            text.push_str(&format!("\n  {mark} {:<10} {word}{why}", s.step));
        }
        let head = format!(
            "{}: {} — {} to change, {} converged, {} blocked{}",
            plan.host,
            plan.describe(),
            counts[1],
            counts[0],
            counts[2],
            if counts[3] > 0 {
                format!(", {} check errors", counts[3])
            } else {
                String::new()
            }
        );
        for c in changes {
            let mark = match c.action {
                Action::Create => "+ create",
                Action::Change => "~ change",
                Action::Prune => "- prune ",
            };
            let why = if c.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", c.reason)
            };
            text.push_str(&format!("\n      {mark} {} ({}){why}", c.object, c.bundle));
            for line in c.diff.lines() {
                text.push_str(&format!("\n          {line}"));
            }
        }
        self.line(&st, &format!("{head}{text}"));
    }

    pub fn warn(&self, message: &str) {
        let message = crate::redact::text(message);
        let st = self.lock();
        if let Some(m) = &st.multi {
            m.suspend(|| eprintln!("warning: {message}"));
        } else {
            eprintln!("warning: {message}");
        }
    }

    pub fn error(&self, message: &str) {
        let message = crate::redact::text(message);
        let st = self.lock();
        if let Some(m) = &st.multi {
            m.suspend(|| eprintln!("error: {message}"));
        } else {
            eprintln!("error: {message}");
        }
    }

    /// A line of a command's own result (`render` writing files, completions).
    pub fn info(&self, message: &str) {
        let st = self.lock();
        if self.mode == OutputMode::Json {
            self.json(json!({"type": "info", "message": message}));
        } else {
            self.line(&st, message);
        }
    }

    /// Something the user should know about what the run did (not a failure), even with -q.
    pub fn note(&self, message: &str) {
        let st = self.state.lock().expect("report lock");
        if self.mode == OutputMode::Json {
            self.json(json!({"type": "note", "message": message}));
        } else {
            self.line(&st, message);
        }
    }

    /// Every step outcome so far, in the order they happened.
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.lock().outcomes.clone()
    }

    /// Where the run's journal was written.
    pub fn journal(&self, path: &std::path::Path) {
        let st = self.lock();
        match self.mode {
            OutputMode::Json => self.json(json!({"type": "journal", "path": path})),
            _ if self.verbosity >= 0 => {
                if let Some(m) = &st.multi {
                    let _ = m.clear();
                }
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "journal: {}", path.display());
            }
            _ => {}
        }
    }

    /// Where the HTML report of a batch run was written (only called when not --quiet).
    pub fn html_report(&self, path: &std::path::Path) {
        let st = self.lock();
        match self.mode {
            OutputMode::Json => self.json(json!({"type": "report", "path": path})),
            _ => {
                if let Some(m) = &st.multi {
                    let _ = m.clear();
                }
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "report written to {}", path.display());
            }
        }
    }

    /// How long since labprov started, for the journal's wall time.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Ask a yes/no question on the terminal. Without a terminal there is nobody to ask:
    /// that is an error, so a script never destroys a cluster by accident.
    pub fn confirm(&self, question: &str) -> crate::error::Result<bool> {
        if !std::io::stdin().is_terminal() {
            return Err(crate::error::Error::Usage {
                message: format!("{question} Refusing without --yes: stdin is not a terminal"),
            });
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{question} [y/N] ");
        let _ = err.flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
    }

    /// A tunnel line: a URL opened, or a forwarder restored.
    pub fn tunnel(&self, event: &serde_json::Value) {
        let st = self.lock();
        if self.mode == OutputMode::Json {
            let mut v = event.clone();
            v["type"] = json!("tunnel");
            self.json(v);
            return;
        }
        let service = event["service"].as_str().unwrap_or("?");
        let text = match (event.get("url"), event.get("restarted")) {
            (Some(url), _) => format!("{service:<11} {}", url.as_str().unwrap_or("")),
            (None, Some(what)) => format!(
                "{service:<11} restored ({} restarted)",
                what.as_str().unwrap_or("")
            ),
            _ => format!("{service:<11} {event}"),
        };
        self.line(&st, &text);
    }

    /// `verify`: one check's verdict on one host. JSON: `{"type":"check","host":..,
    /// "check":..,"section":..,"kind":"pass"|"fail"|"skip"|"interrupted","detail":..,
    /// "elapsed_ms":..}` (the field names of `up`'s step lines). Passes and skips are
    /// printed too (what passed is the point of verifying), except with `-q`.
    pub fn verdict(&self, v: &Verdict) {
        let mut st = self.lock();
        st.verdicts.push(v.clone());
        if self.mode == OutputMode::Json {
            if let Ok(mut value) = serde_json::to_value(v) {
                value["type"] = json!("check");
                self.json(value);
            }
            return;
        }
        if v.kind != VerdictKind::Fail && self.verbosity < 0 {
            return;
        }
        let word = match v.kind {
            VerdictKind::Pass => "pass",
            VerdictKind::Fail => "FAIL",
            VerdictKind::Skip => "skip",
            VerdictKind::Interrupted => "INTERRUPTED",
        };
        let section = if v.section.is_empty() {
            String::new()
        } else {
            format!(" ({})", v.section)
        };
        self.line(
            &st,
            &format!("{}: {word} {}{section}: {}", v.host, v.check, v.detail),
        );
    }

    /// Every verdict so far, in the order they were given.
    pub fn verdicts(&self) -> Vec<Verdict> {
        self.lock().verdicts.clone()
    }

    /// `verify --list`: each check with the guide section it comes from.
    pub fn check_list(&self, checks: &[(&str, &str, &str)]) {
        let st = self.lock();
        for (name, section, what) in checks {
            if self.mode == OutputMode::Json {
                self.json(
                    json!({"type": "check-list", "check": name, "section": section,
                    "description": what}),
                );
            } else {
                self.line(&st, &format!("{name:<24} {section:<5} {what}"));
            }
        }
    }

    /// `verify`'s closing summary: per host, how many checks passed, failed, were skipped
    /// (and interrupted); in JSON mode the last line,
    /// `{"type":"summary","hosts":{"<host>":{"pass":N,"fail":N,"skip":N,"interrupted":N}},
    /// "elapsed_ms":N}`.
    pub fn verify_summary(&self, hosts: &[String], interrupted: Option<&str>) {
        let mut st = self.lock();
        if let Some(m) = st.multi.take() {
            let _ = m.clear();
        }
        let elapsed = self.started.elapsed();
        let mut counts: BTreeMap<String, BTreeMap<&str, usize>> = hosts
            .iter()
            .map(|h| {
                (
                    h.clone(),
                    ["pass", "fail", "skip", "interrupted"]
                        .into_iter()
                        .map(|k| (k, 0))
                        .collect(),
                )
            })
            .collect();
        let mut first_fail: BTreeMap<String, String> = BTreeMap::new();
        for v in &st.verdicts {
            let key = match v.kind {
                VerdictKind::Pass => "pass",
                VerdictKind::Fail => "fail",
                VerdictKind::Skip => "skip",
                VerdictKind::Interrupted => "interrupted",
            };
            *counts
                .entry(v.host.clone())
                .or_default()
                .entry(key)
                .or_default() += 1;
            if v.kind == VerdictKind::Fail {
                first_fail
                    .entry(v.host.clone())
                    .or_insert_with(|| format!("{}: {}", v.check, v.detail));
            }
        }
        if self.mode == OutputMode::Json {
            let mut value =
                json!({"type": "summary", "hosts": counts, "elapsed_ms": elapsed.as_millis()});
            if let Some(signal) = interrupted {
                value["interrupted"] = json!(signal);
            }
            self.json(value);
            return;
        }
        let width = hosts.iter().map(String::len).max().unwrap_or(4).max(4);
        let mut out = format!(
            "\n{:<width$}  {:>4}  {:>4}  {:>4}  first failure",
            "host", "pass", "fail", "skip"
        );
        for (h, c) in &counts {
            out.push_str(&format!(
                "\n{h:<width$}  {:>4}  {:>4}  {:>4}  {}",
                c["pass"],
                c["fail"],
                c["skip"],
                first_fail.get(h).map(String::as_str).unwrap_or("")
            ));
        }
        let failed = counts.values().filter(|c| c["fail"] > 0).count();
        out.push_str(&format!(
            "\n{} host(s), {} with a failed check, in {:.1}s",
            counts.len(),
            failed,
            elapsed.as_secs_f64()
        ));
        if let Some(signal) = interrupted {
            out.push_str(&format!(" (interrupted by {signal})"));
        }
        self.line(&st, &out);
    }

    /// Raw text for stdout, such as shell completions.
    pub fn raw(&self, bytes: &[u8]) {
        let _ = std::io::stdout().lock().write_all(bytes);
    }

    /// The closing summary; in JSON mode it is the last line. The table is for `up`;
    /// `plan` and `status` already printed their counts per host.
    pub fn summary(&self, hosts: &[String], table: bool, interrupted: Option<&str>) {
        let mut st = self.lock();
        if let Some(m) = st.multi.take() {
            let _ = m.clear();
        }
        let elapsed = self.started.elapsed();
        let tallies: BTreeMap<String, Tally> = hosts
            .iter()
            .map(|h| (h.clone(), st.tallies.get(h).copied().unwrap_or_default()))
            .collect();
        if self.mode == OutputMode::Json {
            let mut v =
                json!({"type": "summary", "hosts": tallies, "elapsed_ms": elapsed.as_millis()});
            if let Some(signal) = interrupted {
                v["interrupted"] = json!(signal);
            }
            self.json(v);
            return;
        }
        if !table {
            return;
        }
        let width = hosts.iter().map(String::len).max().unwrap_or(4).max(4);
        // The columns exist only in the table of a run that skipped or was interrupted.
        let skips = tallies.values().any(|t| t.skipped > 0);
        let cut = tallies.values().any(|t| t.interrupted > 0);
        let mut out = format!(
            "\n{:<width$}  {:>4}  {:>7}  {:>6}{}{}  failure",
            "host",
            "ok",
            "changed",
            "failed",
            if skips { "  skipped" } else { "" },
            if cut { "  interrupted" } else { "" }
        );
        for (h, t) in &tallies {
            let fail = st
                .failures
                .get(h)
                .map(|(step, why)| format!("{step}: {why}"))
                .unwrap_or_default();
            let skipped = if skips {
                format!("  {:>7}", t.skipped)
            } else {
                String::new()
            };
            let stopped = if cut {
                format!("  {:>11}", t.interrupted)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "\n{h:<width$}  {:>4}  {:>7}  {:>6}{skipped}{stopped}  {fail}",
                t.ok, t.changed, t.failed
            ));
        }
        let failed_hosts = tallies.values().filter(|t| t.failed > 0).count();
        out.push_str(&format!(
            "\n{} host(s), {} failed, in {:.1}s",
            tallies.len(),
            failed_hosts,
            elapsed.as_secs_f64()
        ));
        if let Some(signal) = interrupted {
            out.push_str(&format!(" (interrupted by {signal})"));
        }
        self.line(&st, &out);
    }
}
