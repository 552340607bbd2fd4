//! The only module that prints.
//!
//! Three faces of the same event stream: a live indicatif view for a terminal, plain lines
//! when stdout is not a terminal or `--output plain`, and JSON Lines for machines (`--output
//! json`), whose last line is always the summary. Errors go to stderr in every mode.
//!
//! The terminal's live view has two shapes. Up to [`CLASS_VIEW_ABOVE`] hosts: one line per
//! active host, finished step lines printed above it. Above that, for the runs that converge
//! hosts (`up`, `apply`, `down`, `reset`, announced by [`Report::begin`]), the class view of
//! the `class` module: a bar for the class (hosts finished, converged, failed, elapsed, ETA),
//! a bar per step (hosts in it or past it), and a line per host failure with its cause, so a
//! class of 200 fits a terminal; per-host lines only with `-v`. It counts hosts, not steps: a
//! host is failed once, for its root cause, and a step it skipped for it is no failure
//! (`class::skipped`). The closing table on a terminal lists failed hosts first and, after a
//! class run, collapses the converged ones into one count line unless `-v`; plain output
//! keeps one row per host, in name order, for scripts.

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
    /// The class view, while a run of more than [`CLASS_VIEW_ABOVE`] hosts is live.
    class: Option<class::Class>,
    /// The run's hosts were more than [`CLASS_VIEW_ABOVE`] on a terminal: the final table
    /// collapses the converged ones (stays set after the bars are gone).
    class_run: bool,
    /// `doctor`: every check's verdict, for the summary.
    diagnoses: Vec<crate::doctor::Verdict>,
}

/// Up to this many hosts, a terminal shows a live line per active host; above it, the class
/// view: one bar for the class and one per step.
pub const CLASS_VIEW_ABOVE: usize = 4;

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

    /// The run's hosts and the steps it takes on each, before any host is contacted: on a
    /// terminal with more than [`CLASS_VIEW_ABOVE`] hosts the live view becomes the class
    /// view (a bar for the class, one per step, a line per host failure).
    pub fn begin(&self, hosts: &[String], steps: &[&'static str]) {
        let mut st = self.lock();
        if hosts.len() <= CLASS_VIEW_ABOVE {
            return;
        }
        let Some(multi) = st.multi.clone() else {
            return;
        };
        st.class = Some(class::Class::new(&multi, hosts, steps));
        st.class_run = true;
    }

    /// The class view's bars go (before the lines that close a run).
    fn end_class(st: &mut State) {
        if let (Some(c), Some(m)) = (st.class.take(), &st.multi) {
            c.finish(m);
        }
    }

    /// A host's current activity, shown on its live line (in the class view: the host
    /// counts as in its next step).
    pub fn phase(&self, host: &str, what: &str) {
        let mut st = self.lock();
        if let Some(c) = &mut st.class {
            c.tracker.started(host);
            c.draw();
            return;
        }
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
        if let Some(c) = &mut st.class {
            c.tracker.done(host);
            c.draw();
        }
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
            // The class view has no per-host lines unless -v.
            _ if st.class.is_some() && self.verbosity <= 0 => {}
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
        // The class view: its bars count the outcome; without -v, of a host's lines only
        // its first failure is printed, with its cause, on one line.
        if let Some(c) = &mut st.class {
            let root_cause = c.tracker.outcome(o);
            c.draw();
            if self.verbosity <= 0 {
                if root_cause {
                    let cause = o.detail().lines().next().unwrap_or_default();
                    let text = format!("{}: {} FAILED: {cause}", o.host(), o.step());
                    let width = console::Term::stdout().size().1 as usize;
                    let text = crate::redact::text(&text).into_owned();
                    self.line(&st, &console::truncate_str(&text, width, "…"));
                }
                return;
            }
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
        // The class view has no per-host live lines: with -v the wait is a line of its own.
        let class = self.lock().class.is_some();
        if class && self.verbosity > 0 {
            let st = self.lock();
            self.line(&st, &format!("{host}: {step}: {what}"));
            return;
        }
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
        let st = self.lock();
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
        let mut st = self.lock();
        match self.mode {
            OutputMode::Json => self.json(json!({"type": "journal", "path": path})),
            _ if self.verbosity >= 0 => {
                Self::end_class(&mut st);
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
        let mut st = self.lock();
        match self.mode {
            OutputMode::Json => self.json(json!({"type": "report", "path": path})),
            _ => {
                Self::end_class(&mut st);
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
        let st = self.lock();
        let rows: Vec<(String, &'static str, Option<String>)> = st
            .verdicts
            .iter()
            .map(|v| {
                let key = match v.kind {
                    VerdictKind::Pass => "pass",
                    VerdictKind::Fail => "fail",
                    VerdictKind::Skip => "skip",
                    VerdictKind::Interrupted => "interrupted",
                };
                let failure =
                    (v.kind == VerdictKind::Fail).then(|| format!("{}: {}", v.check, v.detail));
                (v.host.clone(), key, failure)
            })
            .collect();
        self.checks_summary(
            st,
            hosts,
            &["pass", "fail", "skip", "interrupted"],
            rows,
            interrupted,
        );
    }

    /// The closing table of a command that judges checks host by host (`verify`, `doctor`):
    /// per host, how many checks came out each way (`kinds`; the table shows the first three)
    /// and its first failure; in JSON mode the counts, as the last line.
    fn checks_summary(
        &self,
        mut st: std::sync::MutexGuard<'_, State>,
        hosts: &[String],
        kinds: &[&'static str],
        rows: Vec<(String, &'static str, Option<String>)>,
        interrupted: Option<&str>,
    ) {
        if let Some(m) = st.multi.take() {
            let _ = m.clear();
        }
        let elapsed = self.started.elapsed();
        let mut counts: BTreeMap<String, BTreeMap<&str, usize>> = hosts
            .iter()
            .map(|h| (h.clone(), kinds.iter().map(|k| (*k, 0)).collect()))
            .collect();
        let mut first_fail: BTreeMap<String, String> = BTreeMap::new();
        for (host, key, failure) in rows {
            if let Some(f) = failure {
                first_fail.entry(host.clone()).or_insert(f);
            }
            *counts.entry(host).or_default().entry(key).or_default() += 1;
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
        let width = counts.keys().map(String::len).max().unwrap_or(4).max(4);
        let col = |c: &BTreeMap<&str, usize>, i: usize| c.get(kinds[i]).copied().unwrap_or(0);
        let mut out = format!(
            "\n{:<width$}  {:>4}  {:>4}  {:>4}  first failure",
            "host", kinds[0], kinds[1], kinds[2]
        );
        for (h, c) in &counts {
            out.push_str(&format!(
                "\n{h:<width$}  {:>4}  {:>4}  {:>4}  {}",
                col(c, 0),
                col(c, 1),
                col(c, 2),
                first_fail.get(h).map(String::as_str).unwrap_or("")
            ));
        }
        let failed = format!("{} with a failed check", first_fail.len());
        out.push_str(&total_line(counts.len(), &failed, elapsed, interrupted));
        self.line(&st, &out);
    }

    /// `doctor`: one check's verdict on one host. JSON: `{"type":"doctor","host":..,
    /// "check":..,"kind":"ok"|"warn"|"fail","detail":..,"fix":..}`. Text: `HOST: ok CHECK:
    /// DETAIL`, and for a warning or failure its fix on the same line after `→ fix:`. With
    /// `-q` only warnings and failures.
    pub fn doctor(&self, v: &crate::doctor::Verdict) {
        use crate::doctor::Kind as D;
        let mut st = self.lock();
        st.diagnoses.push(v.clone());
        if self.mode == OutputMode::Json {
            if let Ok(mut value) = serde_json::to_value(v) {
                value["type"] = json!("doctor");
                self.json(value);
            }
            return;
        }
        if v.kind == D::Ok && self.verbosity < 0 {
            return;
        }
        let word = match v.kind {
            D::Ok => "ok  ",
            D::Warn => "WARN",
            D::Fail => "FAIL",
        };
        let fix = if v.fix.is_empty() || v.kind == D::Ok {
            String::new()
        } else {
            format!(" → fix: {}", v.fix)
        };
        self.line(
            &st,
            &format!("{}: {word} {}: {}{fix}", v.host, v.check, v.detail),
        );
    }

    /// `doctor`'s closing summary: per host, how many checks were ok, warned or failed; in
    /// JSON mode the last line, `{"type":"summary","hosts":{"<host>":{"ok":N,"warn":N,
    /// "fail":N}},"elapsed_ms":N}`.
    pub fn doctor_summary(&self, hosts: &[String], interrupted: Option<&str>) {
        use crate::doctor::Kind as D;
        let st = self.lock();
        let rows: Vec<(String, &'static str, Option<String>)> = st
            .diagnoses
            .iter()
            .map(|v| {
                let key = match v.kind {
                    D::Ok => "ok",
                    D::Warn => "warn",
                    D::Fail => "fail",
                };
                let failure = (v.kind == D::Fail).then(|| format!("{}: {}", v.check, v.detail));
                (v.host.clone(), key, failure)
            })
            .collect();
        self.checks_summary(st, hosts, &["ok", "warn", "fail"], rows, interrupted);
    }

    /// Raw text for stdout, such as shell completions.
    pub fn raw(&self, bytes: &[u8]) {
        let _ = std::io::stdout().lock().write_all(bytes);
    }

    /// The closing summary; in JSON mode it is the last line. The table is for `up`;
    /// `plan` and `status` already printed their counts per host.
    pub fn summary(&self, hosts: &[String], table: bool, interrupted: Option<&str>) {
        let mut st = self.lock();
        Self::end_class(&mut st);
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
        let human = self.mode == OutputMode::Human;
        let collapse = human && st.class_run && self.verbosity <= 0;
        let out = closing_table(
            &tallies,
            &st.failures,
            human,
            collapse,
            elapsed,
            interrupted,
        );
        self.line(&st, &out);
    }
}

/// How many interrupted hosts a class run's table names before "and N more".
const INTERRUPTED_NAMED: usize = 8;

/// The closing table of `up`, `down`, ... down to its last line, "N host(s), M failed, in
/// T" (and the signal that interrupted the run). On a terminal the failed hosts come first,
/// then the interrupted ones; a class run (`collapse`) shows its converged hosts as one count
/// line and its interrupted ones as one line of names, unless -v. Plain output keeps a row
/// per host in name order, for scripts that read it.
fn closing_table(
    tallies: &BTreeMap<String, Tally>,
    failures: &BTreeMap<String, (String, String)>,
    human: bool,
    collapse: bool,
    elapsed: Duration,
    interrupted: Option<&str>,
) -> String {
    let width = tallies.keys().map(String::len).max().unwrap_or(4).max(4);
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
    let rank = |t: &Tally| match (t.failed > 0, t.interrupted > 0) {
        (true, _) => 0,
        (false, true) => 1,
        (false, false) => 2,
    };
    let mut rows: Vec<(&String, &Tally)> = tallies.iter().collect();
    if human {
        rows.sort_by_key(|(_, t)| rank(t));
    }
    let (shown, rest): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|(_, t)| !collapse || rank(t) == 0);
    let (cut_hosts, converged): (Vec<_>, Vec<_>) =
        rest.into_iter().partition(|(_, t)| rank(t) == 1);
    if collapse && shown.is_empty() {
        // Nothing to list: no header over an empty table.
        out.clear();
    }
    for (h, t) in shown {
        let fail = failures
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
    if !cut_hosts.is_empty() {
        let names: Vec<&str> = cut_hosts
            .iter()
            .take(INTERRUPTED_NAMED)
            .map(|(h, _)| h.as_str())
            .collect();
        let more = cut_hosts.len() - names.len();
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "\n{} interrupted host(s): {}{more} (--only-failed runs them again)",
            cut_hosts.len(),
            names.join(", ")
        ));
    }
    if !converged.is_empty() {
        let changed = converged.iter().filter(|(_, t)| t.changed > 0).count();
        out.push_str(&format!(
            "\n{} converged host(s), {changed} of them changed (-v lists them)",
            converged.len()
        ));
    }
    let failed = tallies.values().filter(|t| t.failed > 0).count();
    out.push_str(&total_line(
        tallies.len(),
        &format!("{failed} failed"),
        elapsed,
        interrupted,
    ));
    out
}

/// The last line of every closing table: `N host(s), FAILED, in T` and the signal that
/// interrupted the run, if one did.
fn total_line(hosts: usize, failed: &str, elapsed: Duration, interrupted: Option<&str>) -> String {
    let mut line = format!(
        "\n{hosts} host(s), {failed}, in {:.1}s",
        elapsed.as_secs_f64()
    );
    if let Some(signal) = interrupted {
        line.push_str(&format!(" (interrupted by {signal})"));
    }
    line
}

/// The class view: the live view of a terminal run of more than [`CLASS_VIEW_ABOVE`] hosts.
/// [`Tracker`] counts (pure, tested below); [`Class`] draws the counts as bars.
mod class {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use indicatif::{MultiProgress, ProgressBar, ProgressState, ProgressStyle};

    use crate::outcome::{Kind, Outcome};

    /// A step that did not run because a step it needs did not converge (or the host was
    /// lost before it): no work of its own, neither converged nor failed, so a host fails
    /// once, for its root cause.
    pub fn skipped(o: &Outcome) -> bool {
        o.kind() == Kind::Skipped
    }

    /// What the class view knows of one host.
    #[derive(Debug, Default)]
    struct Host {
        /// Steps with an outcome: the host is past them.
        past: BTreeSet<&'static str>,
        /// Its task started (it is connecting, checking or applying).
        started: bool,
        done: bool,
        /// The step of its first failure, its root cause (skipped steps are not failures).
        failed_at: Option<&'static str>,
        interrupted: bool,
    }

    /// Per step: how many hosts are in it or past it, and how many failed in it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct StepCount {
        pub reached: usize,
        pub failed: usize,
    }

    /// The class as a whole: hosts finished, and what they came to.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Overall {
        pub total: usize,
        pub finished: usize,
        pub converged: usize,
        pub failed: usize,
        pub interrupted: usize,
    }

    /// Counts host-level results from the event stream: a host is failed if any step of it
    /// failed (once, whatever it skipped after), converged if it finished with none failed
    /// and none interrupted.
    #[derive(Debug)]
    pub struct Tracker {
        steps: Vec<&'static str>,
        hosts: BTreeMap<String, Host>,
    }

    impl Tracker {
        pub fn new(hosts: &[String], steps: &[&'static str]) -> Tracker {
            Tracker {
                steps: steps.to_vec(),
                hosts: hosts.iter().map(|h| (h.clone(), Host::default())).collect(),
            }
        }

        pub fn started(&mut self, host: &str) {
            self.hosts.entry(host.to_string()).or_default().started = true;
        }

        pub fn done(&mut self, host: &str) {
            self.hosts.entry(host.to_string()).or_default().done = true;
        }

        /// Record an outcome; true when it is the host's first failure (its root cause),
        /// the one the view prints a line for.
        pub fn outcome(&mut self, o: &Outcome) -> bool {
            let h = self.hosts.entry(o.host().to_string()).or_default();
            h.past.insert(o.step());
            match o.kind() {
                Kind::Interrupted => h.interrupted = true,
                Kind::Failed if !skipped(o) && h.failed_at.is_none() => {
                    h.failed_at = Some(o.step());
                    return true;
                }
                _ => {}
            }
            false
        }

        /// The step a started host is in: the first one it is not past yet.
        fn current(&self, h: &Host) -> Option<&'static str> {
            (h.started && !h.done)
                .then(|| self.steps.iter().find(|s| !h.past.contains(*s)).copied())
                .flatten()
        }

        pub fn step_counts(&self) -> Vec<StepCount> {
            self.steps
                .iter()
                .map(|s| StepCount {
                    // A finished host is past every step, whatever it did not run.
                    reached: self
                        .hosts
                        .values()
                        .filter(|h| h.done || h.past.contains(s) || self.current(h) == Some(*s))
                        .count(),
                    failed: self
                        .hosts
                        .values()
                        .filter(|h| h.failed_at == Some(*s))
                        .count(),
                })
                .collect()
        }

        pub fn overall(&self) -> Overall {
            let hosts = || self.hosts.values();
            Overall {
                total: self.hosts.len(),
                finished: hosts().filter(|h| h.done).count(),
                converged: hosts()
                    .filter(|h| h.done && h.failed_at.is_none() && !h.interrupted)
                    .count(),
                failed: hosts().filter(|h| h.failed_at.is_some()).count(),
                interrupted: hosts()
                    .filter(|h| h.interrupted && h.failed_at.is_none())
                    .count(),
            }
        }

        /// How much of the run's work is behind it, 0..=1: steps hosts are past (a finished
        /// host's all of them) over hosts × steps. What the ETA extrapolates from.
        pub fn fraction(&self) -> f64 {
            let all = self.hosts.len() * self.steps.len();
            if all == 0 {
                return 0.0;
            }
            let past: usize = self
                .hosts
                .values()
                .map(|h| {
                    if h.done {
                        self.steps.len()
                    } else {
                        self.steps.iter().filter(|s| h.past.contains(*s)).count()
                    }
                })
                .sum();
            past as f64 / all as f64
        }
    }

    /// `m:ss` (or `h:mm:ss`), the way the ETA is shown.
    pub fn clock(d: Duration) -> String {
        let s = d.as_secs();
        if s >= 3600 {
            format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
        } else {
            format!("{}:{:02}", s / 60, s % 60)
        }
    }

    /// The bars on the terminal: one for the class, one per step.
    pub struct Class {
        pub tracker: Tracker,
        overall: ProgressBar,
        steps: Vec<ProgressBar>,
        /// The tracker's fraction in millionths, read by the overall bar's ETA as it ticks.
        fraction: Arc<AtomicU64>,
    }

    const BAR: &str = "{bar:16} {pos:>W}/{len}";

    impl Class {
        pub fn new(multi: &MultiProgress, hosts: &[String], steps: &[&'static str]) -> Class {
            let tracker = Tracker::new(hosts, steps);
            let name_width = steps.iter().map(|s| s.len()).max().unwrap_or(0).max(5);
            let count_width = hosts.len().to_string().len();
            let bar = BAR.replace('W', &count_width.to_string());
            let fraction = Arc::new(AtomicU64::new(0));
            let seen = fraction.clone();
            // Extrapolated from the work done so far, redrawn at every tick, so it counts
            // down between events instead of freezing.
            let eta = move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let f = seen.load(Ordering::Relaxed) as f64 / 1e6;
                let text = if f <= 0.0 {
                    "–".to_string()
                } else {
                    clock(state.elapsed().mul_f64((1.0 - f) / f))
                };
                let _ = w.write_str(&text);
            };
            let overall = multi.add(ProgressBar::new(hosts.len() as u64));
            overall.set_style(
                ProgressStyle::with_template(&format!(
                    "{{prefix:.bold}} {bar} done{{msg}} · {{elapsed_class}} (ETA {{eta_class}})"
                ))
                .expect("valid template")
                .with_key("eta_class", eta)
                .with_key(
                    "elapsed_class",
                    |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&clock(state.elapsed()));
                    },
                )
                .progress_chars("█░"),
            );
            overall.set_prefix(format!("{:<name_width$}", "class"));
            overall.enable_steady_tick(Duration::from_millis(500));
            let style = ProgressStyle::with_template(&format!("{{prefix}} {bar}{{msg}}"))
                .expect("valid template")
                .progress_chars("█░");
            let steps = steps
                .iter()
                .map(|s| {
                    let b = multi.add(ProgressBar::new(hosts.len() as u64));
                    b.set_style(style.clone());
                    b.set_prefix(format!("{s:<name_width$}"));
                    b
                })
                .collect();
            let class = Class {
                tracker,
                overall,
                steps,
                fraction,
            };
            class.draw();
            class
        }

        /// Bring the bars to the tracker's counts.
        pub fn draw(&self) {
            let o = self.tracker.overall();
            self.overall.set_position(o.finished as u64);
            let mut msg = format!(": {} converged, {} failed", o.converged, o.failed);
            if o.interrupted > 0 {
                msg.push_str(&format!(", {} interrupted", o.interrupted));
            }
            self.overall.set_message(msg);
            self.fraction
                .store((self.tracker.fraction() * 1e6) as u64, Ordering::Relaxed);
            for (bar, c) in self.steps.iter().zip(self.tracker.step_counts()) {
                bar.set_position(c.reached as u64);
                bar.set_message(if c.failed > 0 {
                    format!("  {} failed", c.failed)
                } else {
                    String::new()
                });
            }
        }

        /// The run is over: the bars go, the summary takes their place.
        pub fn finish(self, multi: &MultiProgress) {
            for bar in std::iter::once(&self.overall).chain(&self.steps) {
                bar.finish_and_clear();
                multi.remove(bar);
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::error::Error;

        const STEPS: [&str; 3] = ["facts", "docker", "cluster"];

        fn hosts(n: usize) -> Vec<String> {
            (1..=n).map(|i| format!("h{i}")).collect()
        }

        fn ok(h: &str, s: &'static str) -> Outcome {
            Outcome::ok(h, s, Duration::ZERO)
        }

        #[test]
        fn a_host_fails_once_for_its_root_cause_and_skipped_steps_are_no_failures() {
            let mut t = Tracker::new(&hosts(3), &STEPS);
            for h in ["h1", "h2", "h3"] {
                t.started(h);
                assert!(!t.outcome(&ok(h, "facts")));
            }
            let failed = Outcome::failed("h1", "docker", Error::plan("no apt"), Duration::ZERO);
            assert!(t.outcome(&failed), "the root cause is the line printed");
            let skip = Outcome::skipped("h1", "cluster", "docker", None);
            assert!(skipped(&skip) && !skipped(&failed));
            assert!(!t.outcome(&skip), "a skipped step prints no failure line");
            t.done("h1");
            assert!(!t.outcome(&ok("h2", "docker")));
            assert_eq!(
                t.step_counts(),
                [
                    StepCount {
                        reached: 3,
                        failed: 0
                    },
                    // h1 past it, h2 past it, h3 in it.
                    StepCount {
                        reached: 3,
                        failed: 1
                    },
                    // h1 finished, h2 in it; h3 is not yet.
                    StepCount {
                        reached: 2,
                        failed: 0
                    },
                ]
            );
            for h in ["h2", "h3"] {
                for s in ["docker", "cluster"] {
                    t.outcome(&ok(h, s));
                }
                t.done(h);
            }
            assert_eq!(
                t.overall(),
                Overall {
                    total: 3,
                    finished: 3,
                    converged: 2,
                    failed: 1,
                    interrupted: 0
                }
            );
            assert_eq!(t.fraction(), 1.0);
        }

        #[test]
        fn hosts_not_started_are_in_no_step_and_the_fraction_counts_steps_past() {
            let mut t = Tracker::new(&hosts(4), &STEPS);
            assert_eq!(t.fraction(), 0.0);
            t.started("h1");
            assert_eq!(
                t.step_counts()[0],
                StepCount {
                    reached: 1,
                    failed: 0
                }
            );
            t.outcome(&ok("h1", "facts"));
            t.outcome(&Outcome::interrupted("h2", "facts", false, Duration::ZERO));
            t.done("h2");
            let o = t.overall();
            assert_eq!((o.finished, o.converged, o.interrupted), (1, 0, 1));
            // h1 past 1 of 3, h2 finished (3 of 3): 4 of 12.
            assert!((t.fraction() - 4.0 / 12.0).abs() < 1e-9);
        }

        #[test]
        fn the_eta_reads_as_a_clock() {
            assert_eq!(clock(Duration::from_secs(75)), "1:15");
            assert_eq!(clock(Duration::from_secs(3725)), "1:02:05");
        }
    }
}

#[cfg(test)]
mod closing_table_tests {
    use super::*;

    fn class() -> (BTreeMap<String, Tally>, BTreeMap<String, (String, String)>) {
        let mut tallies = BTreeMap::new();
        let mut failures = BTreeMap::new();
        for i in 1..=30 {
            let mut t = Tally::default();
            match i {
                7 => {
                    t.ok = 3;
                    t.failed = 1;
                    t.interrupted = 4;
                    failures.insert(format!("h{i}"), ("minikube".into(), "404".into()));
                }
                1..=20 => {
                    t.ok = 2;
                    t.interrupted = 6;
                }
                _ => t.changed = 8,
            }
            tallies.insert(format!("h{i}"), t);
        }
        (tallies, failures)
    }

    #[test]
    fn a_class_run_names_its_interrupted_hosts_on_one_line() {
        let (tallies, failures) = class();
        let took = Duration::from_millis(61_250);
        let text = closing_table(&tallies, &failures, true, true, took, Some("SIGINT"));
        let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].starts_with("host "), "{text}");
        assert!(lines[1].starts_with("h7 ") && lines[1].ends_with("minikube: 404"));
        assert_eq!(
            lines[2],
            "19 interrupted host(s): h1, h10, h11, h12, h13, h14, h15, h16 and 11 more \
             (--only-failed runs them again)"
        );
        assert_eq!(
            lines[3],
            "10 converged host(s), 10 of them changed (-v lists them)"
        );
        assert_eq!(
            lines[4],
            "30 host(s), 1 failed, in 61.2s (interrupted by SIGINT)"
        );
    }

    #[test]
    fn without_collapse_every_host_has_its_row() {
        let (tallies, failures) = class();
        for human in [true, false] {
            let text = closing_table(&tallies, &failures, human, false, Duration::ZERO, None);
            let rows = text
                .lines()
                .filter(|l| l.starts_with('h') && !l.starts_with("host"));
            assert_eq!(rows.count(), 30, "{text}");
            assert!(!text.contains("interrupted host(s)"), "{text}");
        }
        // Plain output keeps the hosts in name order; a terminal lists failed, then cut.
        let plain = closing_table(&tallies, &failures, false, false, Duration::ZERO, None);
        assert!(plain.lines().nth(2).unwrap().starts_with("h1 "), "{plain}");
        let human = closing_table(&tallies, &failures, true, false, Duration::ZERO, None);
        assert!(human.lines().nth(2).unwrap().starts_with("h7 "), "{human}");
        assert!(human.lines().nth(3).unwrap().starts_with("h1 "), "{human}");
    }
}
