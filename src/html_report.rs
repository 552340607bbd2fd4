//! `labprov report`: one self-contained HTML page of a class, built from the run journals.
//!
//! The page answers what a teaching assistant asks after a batch run: which hosts are ready,
//! which failed and why, what changed since the last run, and which step is slow. Everything
//! is computed here into a [`Page`] of plain values (states, symbols, SVG coordinates) and
//! written out by one tera template with autoescape on, so nothing a host sent back (a
//! stderr tail, a message) can become markup. The page loads nothing: CSS, the few lines of
//! JS and the SVGs are inline, so it opens from a USB stick.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tera::{Context, Tera};

use crate::error::{Error, Result};
use crate::journal::{self, HostEntry, Journal, StepEntry};

const TEMPLATE: crate::template::Template = crate::template::template!("report/report.html");

/// How many runs the page covers when neither `--since` nor `--runs` says.
pub const DEFAULT_RUNS: usize = 50;

/// Which journals the page is built from.
#[derive(Debug, Clone, Default)]
pub struct Window {
    /// Only runs that finished within this long before now.
    pub since: Option<Duration>,
    /// Only the last N runs.
    pub runs: Option<usize>,
}

/// `$XDG_STATE_HOME/labprov/report.html`, beside the journals it is built from.
pub fn default_path() -> PathBuf {
    journal::dir().join("report.html")
}

/// What a written report covers, for the line that names it.
#[derive(Debug)]
pub struct Written {
    pub path: PathBuf,
    pub hosts: usize,
    pub runs: usize,
}

/// Build the report from the journals under the state dir and write it to `out`.
pub fn write(out: &Path, window: &Window) -> Result<Written> {
    let journals = journal::read_all()?;
    let chosen = select(journals, window, SystemTime::now());
    let page = build(&chosen, SystemTime::now());
    let html = render(&page)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| Error::Write {
            path: parent.to_path_buf(),
            source: source.into(),
        })?;
    }
    // Beside the final path, then renamed: a browser that has the page open never reads half
    // of it. 0600, as the journals it shows (stderr tails are nobody else's business).
    let tmp = out.with_extension("html.new");
    crate::private::write(&tmp, html.as_bytes())
        .and_then(|_| std::fs::rename(&tmp, out))
        .map_err(|source| Error::Write {
            path: out.to_path_buf(),
            source: source.into(),
        })?;
    Ok(Written {
        path: out.to_path_buf(),
        hosts: page.hosts.len(),
        runs: page.history.len(),
    })
}

/// The journals the window selects, oldest first (`journals` comes oldest first).
pub fn select(journals: Vec<(PathBuf, Journal)>, window: &Window, now: SystemTime) -> Vec<Journal> {
    let mut chosen: Vec<Journal> = journals
        .into_iter()
        .map(|(_, j)| j)
        .filter(|j| match window.since {
            None => true,
            Some(age) => {
                finished_at(j).is_some_and(|t| now.duration_since(t).unwrap_or_default() <= age)
            }
        })
        .collect();
    let keep = window.runs.unwrap_or(if window.since.is_some() {
        usize::MAX
    } else {
        DEFAULT_RUNS
    });
    if chosen.len() > keep {
        chosen.drain(..chosen.len() - keep);
    }
    chosen
}

fn finished_at(j: &Journal) -> Option<SystemTime> {
    humantime::parse_rfc3339(&j.finished).ok()
}

/// A host's or a step's state on the page, with the symbol that says it without colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Converged,
    Changed,
    Failed,
    Interrupted,
    NotRun,
    Pass,
    Fail,
    Skip,
}

impl State {
    fn of_step(outcome: &str) -> State {
        match outcome {
            "ok" => State::Converged,
            "changed" => State::Changed,
            "failed" => State::Failed,
            "interrupted" => State::Interrupted,
            "pass" => State::Pass,
            "fail" => State::Fail,
            // A step of `up` skipped for a need, as a check `verify` skipped: not run, with a
            // reason.
            "skip" | "skipped" => State::Skip,
            // An outcome this labprov does not know (a newer journal) is shown as not run
            // rather than guessed.
            _ => State::NotRun,
        }
    }

    fn of_host(e: &HostEntry) -> State {
        if e.failed {
            State::Failed
        } else if e.interrupted {
            State::Interrupted
        } else if e.steps.iter().any(|s| s.outcome == "changed") {
            State::Changed
        } else {
            State::Converged
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            State::Converged | State::Pass => "✓",
            State::Changed => "Δ",
            State::Failed | State::Fail => "✗",
            State::Interrupted => "‖",
            State::NotRun | State::Skip => "–",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            State::Converged => "converged",
            State::Changed => "changed",
            State::Failed => "failed",
            State::Interrupted => "interrupted",
            State::NotRun => "not run",
            State::Pass => "pass",
            State::Fail => "fail",
            State::Skip => "skipped",
        }
    }

    /// Row of the trend line: up is better, so a sparkline reads without its colours.
    fn rank(self) -> u32 {
        match self {
            State::Converged | State::Pass => 0,
            State::Changed => 1,
            State::Interrupted | State::NotRun | State::Skip => 2,
            State::Failed | State::Fail => 3,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Page {
    pub generated: String,
    pub first_run: String,
    pub last_run: String,
    pub legend: Vec<Badge>,
    pub counts: Vec<Count>,
    pub steps: Vec<String>,
    pub hosts: Vec<HostRow>,
    pub history: Vec<RunRow>,
    pub timing: Timing,
    pub verify: Option<Verify>,
}

#[derive(Debug, Serialize)]
pub struct Badge {
    pub state: State,
    pub symbol: &'static str,
    pub label: &'static str,
}

fn badge(state: State) -> Badge {
    Badge {
        state,
        symbol: state.symbol(),
        label: state.label(),
    }
}

#[derive(Debug, Serialize)]
pub struct Count {
    pub state: State,
    pub symbol: &'static str,
    pub label: &'static str,
    pub n: usize,
}

#[derive(Debug, Serialize)]
pub struct HostRow {
    pub name: String,
    pub state: State,
    pub symbol: &'static str,
    pub label: &'static str,
    pub command: String,
    pub finished: String,
    pub cells: Vec<Cell>,
    pub trend: Trend,
    /// Failures of this host's latest run, for the list below the matrix.
    pub failures: Vec<Failure>,
}

#[derive(Debug, Serialize)]
pub struct Cell {
    pub step: String,
    pub state: State,
    pub symbol: &'static str,
    pub label: &'static str,
    pub secs: String,
    /// Why a step did not run.
    pub why: String,
    pub failure: Option<Failure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub step: String,
    pub kind: String,
    pub message: String,
    pub stderr: String,
}

#[derive(Debug, Serialize)]
pub struct Trend {
    pub width: u32,
    pub points: String,
    pub marks: Vec<TrendMark>,
}

#[derive(Debug, Serialize)]
pub struct TrendMark {
    pub x: u32,
    pub y: u32,
    pub state: State,
    pub title: String,
}

#[derive(Debug, Serialize)]
pub struct RunRow {
    pub finished: String,
    pub command: String,
    pub hosts: usize,
    pub converged: usize,
    pub changed: usize,
    pub failed: usize,
    pub interrupted: usize,
    pub wall: String,
    pub signal: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Timing {
    /// The step that took the class the longest, summed over hosts.
    pub slowest: Option<SlowStep>,
    pub palette: Vec<Swatch>,
    pub rows: Vec<TimingRow>,
}

#[derive(Debug, Serialize)]
pub struct SlowStep {
    pub step: String,
    pub total: String,
    pub max: String,
    pub max_host: String,
}

#[derive(Debug, Serialize)]
pub struct Swatch {
    pub step: String,
    pub colour: &'static str,
}

#[derive(Debug, Serialize)]
pub struct TimingRow {
    pub host: String,
    pub state: State,
    pub total: String,
    pub bars: Vec<Bar>,
}

#[derive(Debug, Serialize)]
pub struct Bar {
    pub x: String,
    pub w: String,
    pub colour: &'static str,
    pub title: String,
}

#[derive(Debug, Serialize)]
pub struct Verify {
    pub checks: Vec<String>,
    pub hosts: Vec<VerifyRow>,
}

#[derive(Debug, Serialize)]
pub struct VerifyRow {
    pub name: String,
    pub state: State,
    pub symbol: &'static str,
    pub finished: String,
    pub cells: Vec<VerifyCell>,
}

#[derive(Debug, Serialize)]
pub struct VerifyCell {
    pub check: String,
    pub state: State,
    pub symbol: &'static str,
    pub label: &'static str,
    pub detail: String,
}

/// Colours of the timing bars, one per step in order; the step is also in each bar's title
/// and in the legend, so the colour is not the only way to tell them apart.
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f",
    "#e15759", "#bab0ac",
];

/// Width in px of the longest host's timing bar.
const BAR_WIDTH: f64 = 480.0;
/// How many runs a host's trend shows at most (the newest).
const TREND_RUNS: usize = 30;

fn secs(ms: u128) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn wall(ms: u128) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        secs(ms)
    }
}

/// A failed step's evidence: the error's kind, its message, and the stderr tail on its own
/// (the message of a remote failure ends with that tail: it is not shown twice).
fn failure(s: &StepEntry) -> Failure {
    let field = |k: &str| {
        s.error
            .as_ref()
            .and_then(|e| e.get(k))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let stderr = field("stderr_tail");
    let mut message = s.detail.clone();
    if !stderr.is_empty()
        && let Some(head) = message.strip_suffix(stderr.as_str())
    {
        message = head.trim_end_matches([' ', ':', '\n']).to_string();
    }
    let kind = field("kind");
    Failure {
        step: s.step.clone(),
        kind: if kind.is_empty() { "—".into() } else { kind },
        message,
        stderr,
    }
}

/// Columns in step order: the steps a run can fail before any step runs (`connect`, `lock`),
/// then the engine's steps in their order, then anything else in order of appearance.
fn column_order(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let registry: Vec<&str> = crate::steps::REGISTRY.iter().map(|s| s.spec().id).collect();
    let mut seen: Vec<String> = Vec::new();
    for n in names {
        if !seen.contains(&n) {
            seen.push(n);
        }
    }
    let rank = |n: &String| match n.as_str() {
        "connect" => (0, 0),
        "lock" => (1, 0),
        other => match registry.iter().position(|r| *r == other) {
            Some(i) => (2, i),
            None => (3, 0),
        },
    };
    seen.sort_by_key(rank);
    seen
}

/// The page's model from the chosen journals (oldest first).
pub fn build(journals: &[Journal], now: SystemTime) -> Page {
    let (verifies, runs): (Vec<&Journal>, Vec<&Journal>) =
        journals.iter().partition(|j| j.command == "verify");

    // Each host's latest run, and its history across the runs.
    let mut latest: BTreeMap<&str, (&Journal, &HostEntry)> = BTreeMap::new();
    let mut history: BTreeMap<&str, Vec<(&Journal, State)>> = BTreeMap::new();
    for j in &runs {
        for (host, e) in &j.hosts {
            latest.insert(host, (j, e));
            history
                .entry(host)
                .or_default()
                .push((j, State::of_host(e)));
        }
    }

    let steps = column_order(
        latest
            .values()
            .flat_map(|(_, e)| e.steps.iter().map(|s| s.step.clone())),
    );

    let mut hosts = Vec::new();
    for (name, (j, e)) in &latest {
        let by_step: HashMap<&str, &StepEntry> =
            e.steps.iter().map(|s| (s.step.as_str(), s)).collect();
        let cells: Vec<Cell> = steps
            .iter()
            .map(|step| match by_step.get(step.as_str()) {
                Some(s) => {
                    // A skipped step (a need failed, or the connection was lost) is not the
                    // host's failure: its reason names the step that is.
                    let state = State::of_step(&s.outcome);
                    let skipped = state == State::Skip;
                    Cell {
                        step: step.clone(),
                        state,
                        symbol: state.symbol(),
                        label: state.label(),
                        secs: if skipped {
                            String::new()
                        } else {
                            secs(s.elapsed_ms)
                        },
                        why: if skipped {
                            let d = s.detail.as_str();
                            d.strip_prefix(crate::outcome::SKIPPED)
                                .unwrap_or(d)
                                .to_string()
                        } else {
                            String::new()
                        },
                        failure: (state == State::Failed).then(|| failure(s)),
                    }
                }
                None => Cell {
                    step: step.clone(),
                    state: State::NotRun,
                    symbol: State::NotRun.symbol(),
                    label: State::NotRun.label(),
                    secs: String::new(),
                    why: "not in this run".into(),
                    failure: None,
                },
            })
            .collect();
        let state = State::of_host(e);
        let past = &history[name];
        let past = &past[past.len().saturating_sub(TREND_RUNS)..];
        let marks: Vec<TrendMark> = past
            .iter()
            .enumerate()
            .map(|(i, (run, st))| TrendMark {
                x: 5 + 10 * i as u32,
                y: 4 + 4 * st.rank(),
                state: *st,
                title: format!("{} {}: {}", run.finished, run.command, st.label()),
            })
            .collect();
        let points = marks
            .iter()
            .map(|m| format!("{},{}", m.x, m.y))
            .collect::<Vec<_>>()
            .join(" ");
        hosts.push(HostRow {
            name: name.to_string(),
            state,
            symbol: state.symbol(),
            label: state.label(),
            command: j.command.clone(),
            finished: j.finished.clone(),
            failures: cells.iter().filter_map(|c| c.failure.clone()).collect(),
            cells,
            trend: Trend {
                width: 10 * marks.len() as u32,
                points,
                marks,
            },
        });
    }

    let counts = [
        State::Converged,
        State::Changed,
        State::Failed,
        State::Interrupted,
    ]
    .into_iter()
    .map(|state| Count {
        state,
        symbol: state.symbol(),
        label: state.label(),
        n: hosts.iter().filter(|h| h.state == state).count(),
    })
    .collect();

    let history_rows = runs
        .iter()
        .rev()
        .map(|j| {
            let count = |st: State| j.hosts.values().filter(|e| State::of_host(e) == st).count();
            RunRow {
                finished: j.finished.clone(),
                command: j.command.clone(),
                hosts: j.hosts.len(),
                converged: count(State::Converged),
                changed: count(State::Changed),
                failed: count(State::Failed),
                interrupted: count(State::Interrupted),
                wall: j.elapsed_ms.map(wall).unwrap_or_else(|| "—".into()),
                signal: j.interrupted.clone(),
            }
        })
        .collect();

    Page {
        generated: humantime::format_rfc3339_seconds(now).to_string(),
        first_run: runs.first().map(|j| j.finished.clone()).unwrap_or_default(),
        last_run: runs.last().map(|j| j.finished.clone()).unwrap_or_default(),
        legend: [
            State::Converged,
            State::Changed,
            State::Failed,
            State::Interrupted,
            State::Skip,
            State::NotRun,
        ]
        .into_iter()
        .map(badge)
        .collect(),
        counts,
        timing: timing(&steps, &latest),
        steps,
        hosts,
        history: history_rows,
        verify: verify(&verifies),
    }
}

/// Per host, one bar of its latest run's step durations, all on one scale (the slowest host
/// fills the width), and the step the class spent the most time in.
fn timing(steps: &[String], latest: &BTreeMap<&str, (&Journal, &HostEntry)>) -> Timing {
    let colour = |step: &str| {
        let i = steps.iter().position(|s| s == step).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    };
    let longest = latest
        .values()
        .map(|(_, e)| e.steps.iter().map(|s| s.elapsed_ms).sum::<u128>())
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = BAR_WIDTH / longest as f64;
    let mut per_step: BTreeMap<&str, (u128, u128, &str)> = BTreeMap::new();
    let mut rows = Vec::new();
    for (host, (_, e)) in latest {
        let mut x = 0.0;
        let mut bars = Vec::new();
        for s in e.steps.iter().filter(|s| s.elapsed_ms > 0) {
            let w = s.elapsed_ms as f64 * scale;
            bars.push(Bar {
                x: format!("{x:.1}"),
                w: format!("{w:.1}"),
                colour: colour(&s.step),
                title: format!("{}: {} ({})", s.step, secs(s.elapsed_ms), s.outcome),
            });
            x += w;
            let slot = per_step.entry(&s.step).or_insert((0, 0, host));
            slot.0 += s.elapsed_ms;
            if s.elapsed_ms > slot.1 {
                slot.1 = s.elapsed_ms;
                slot.2 = host;
            }
        }
        rows.push(TimingRow {
            host: host.to_string(),
            state: State::of_host(e),
            total: secs(e.steps.iter().map(|s| s.elapsed_ms).sum()),
            bars,
        });
    }
    let slowest = per_step.iter().max_by_key(|(_, (total, _, _))| *total).map(
        |(step, (total, max, host))| SlowStep {
            step: step.to_string(),
            total: wall(*total),
            max: secs(*max),
            max_host: host.to_string(),
        },
    );
    Timing {
        slowest,
        palette: steps
            .iter()
            .map(|s| Swatch {
                step: s.clone(),
                colour: colour(s),
            })
            .collect(),
        rows,
    }
}

/// The hosts × checks matrix of each host's latest `verify`.
fn verify(journals: &[&Journal]) -> Option<Verify> {
    let mut latest: BTreeMap<&str, (&Journal, &HostEntry)> = BTreeMap::new();
    for j in journals {
        for (host, e) in &j.hosts {
            latest.insert(host, (j, e));
        }
    }
    if latest.is_empty() {
        return None;
    }
    // Checks keep the order verify ran them in.
    let mut checks: Vec<String> = Vec::new();
    for (_, e) in latest.values() {
        for s in &e.steps {
            if !checks.contains(&s.step) {
                checks.push(s.step.clone());
            }
        }
    }
    let hosts = latest
        .iter()
        .map(|(name, (j, e))| {
            let cells: Vec<VerifyCell> = checks
                .iter()
                .map(|c| {
                    let s = e.steps.iter().find(|s| &s.step == c);
                    let state = s.map_or(State::NotRun, |s| State::of_step(&s.outcome));
                    VerifyCell {
                        check: c.clone(),
                        state,
                        symbol: state.symbol(),
                        label: state.label(),
                        detail: s.map(|s| s.detail.clone()).unwrap_or_default(),
                    }
                })
                .collect();
            let state = if cells.iter().any(|c| c.state == State::Fail) || e.failed {
                State::Fail
            } else {
                State::Pass
            };
            VerifyRow {
                name: name.to_string(),
                state,
                symbol: state.symbol(),
                finished: j.finished.clone(),
                cells,
            }
        })
        .collect();
    Some(Verify { checks, hosts })
}

/// The page's HTML. Autoescape is on for the whole template: every string from a journal is
/// text, never markup.
pub fn render(page: &Page) -> Result<String> {
    let mut tera = Tera::default();
    tera.add_raw_template(TEMPLATE.name, TEMPLATE.text)
        .map_err(|e| template_error(&e))?;
    tera.autoescape_on(vec![".html"]);
    let ctx = Context::from_serialize(page).map_err(|e| template_error(&e))?;
    tera.render(TEMPLATE.name, &ctx)
        .map_err(|e| template_error(&e))
}

fn template_error(e: &tera::Error) -> Error {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    Error::Template {
        name: TEMPLATE.name.into(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, outcome: &str, ms: u128) -> StepEntry {
        StepEntry {
            step: name.into(),
            outcome: outcome.into(),
            elapsed_ms: ms,
            detail: String::new(),
            error: None,
        }
    }

    fn run(finished: &str, command: &str, hosts: Vec<(&str, Vec<StepEntry>)>) -> Journal {
        Journal {
            run: String::new(),
            labprov: "0".into(),
            command: command.into(),
            profile: "p".into(),
            finished: finished.into(),
            elapsed_ms: Some(61_000),
            interrupted: None,
            hosts: hosts
                .into_iter()
                .map(|(h, steps)| {
                    (
                        h.to_string(),
                        HostEntry {
                            failed: steps.iter().any(|s| s.outcome == "failed"),
                            interrupted: steps.iter().any(|s| s.outcome == "interrupted"),
                            steps,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_remote_failure_shows_its_message_and_stderr_apart() {
        let mut s = step("docker", "failed", 10);
        s.detail = "apply of docker exited 100: E: <b>x</b>".into();
        s.error = Some(
            serde_json::json!({"kind": "remote", "what": "apply of docker",
            "code": 100, "stderr_tail": "E: <b>x</b>"}),
        );
        let f = failure(&s);
        assert_eq!(f.kind, "remote");
        assert_eq!(f.message, "apply of docker exited 100");
        assert_eq!(f.stderr, "E: <b>x</b>");
        let page = build(
            &[run("2026-01-01T10:00:00Z", "up", vec![("h1", vec![s])])],
            SystemTime::now(),
        );
        let html = render(&page).unwrap();
        assert!(html.contains("E: &lt;b&gt;x&lt;&#x2F;b&gt;"), "{html}");
        assert!(!html.contains("<b>x</b>"));
    }

    #[test]
    fn the_latest_run_of_each_host_fills_the_matrix() {
        let journals = vec![
            run(
                "2026-01-01T10:00:00Z",
                "up",
                vec![
                    (
                        "a",
                        vec![step("facts", "ok", 5), step("docker", "failed", 9)],
                    ),
                    (
                        "b",
                        vec![step("facts", "ok", 5), step("docker", "changed", 9)],
                    ),
                ],
            ),
            run(
                "2026-01-01T11:00:00Z",
                "up",
                vec![(
                    "a",
                    vec![step("facts", "ok", 5), step("docker", "changed", 9)],
                )],
            ),
        ];
        let page = build(&journals, SystemTime::now());
        assert_eq!(page.steps, ["facts", "docker"]);
        let a = &page.hosts[0];
        assert_eq!((a.name.as_str(), a.state), ("a", State::Changed));
        assert_eq!(a.trend.marks.len(), 2);
        assert_eq!(a.trend.marks[0].state, State::Failed);
        assert_eq!(page.hosts[1].finished, "2026-01-01T10:00:00Z");
        assert_eq!(page.history.len(), 2);
        assert_eq!(page.history[1].failed, 1, "oldest run last");
        assert_eq!(page.history[0].wall, "1m 01s");
    }

    #[test]
    fn a_skipped_step_says_why_and_is_no_failure_of_its_own() {
        let mut docker = step("docker", "failed", 9);
        docker.detail = "apply of docker exited 100".into();
        let mut cluster = step("cluster", "skipped", 0);
        cluster.detail = "skipped: needs docker".into();
        let page = build(
            &[run(
                "2026-01-01T10:00:00Z",
                "up",
                vec![("a", vec![step("facts", "ok", 5), docker, cluster])],
            )],
            SystemTime::now(),
        );
        let a = &page.hosts[0];
        assert_eq!(a.state, State::Failed);
        assert_eq!(a.failures.len(), 1, "only docker failed");
        let c = &a.cells[2];
        assert_eq!(
            (c.state, c.label, c.why.as_str()),
            (State::Skip, "skipped", "needs docker")
        );
        assert!(c.failure.is_none());
    }

    #[test]
    fn connect_and_lock_come_before_the_steps_and_unknown_ones_after() {
        let cols = column_order(
            ["manifests", "zeta", "facts", "lock", "connect"]
                .into_iter()
                .map(String::from),
        );
        assert_eq!(cols, ["connect", "lock", "facts", "manifests", "zeta"]);
    }

    #[test]
    fn the_window_keeps_the_newest_runs() {
        let now = humantime::parse_rfc3339("2026-01-03T12:00:00Z").unwrap();
        let journals: Vec<(PathBuf, Journal)> = ["2026-01-01T12:00:00Z", "2026-01-03T10:00:00Z"]
            .iter()
            .map(|t| (PathBuf::new(), run(t, "up", vec![])))
            .collect();
        let since = |h: u64| Window {
            since: Some(Duration::from_secs(h * 3600)),
            runs: None,
        };
        let got = |w: &Window| -> Vec<String> {
            select(
                journals
                    .iter()
                    .map(|(p, j)| (p.clone(), run(&j.finished, "up", vec![])))
                    .collect(),
                w,
                now,
            )
            .into_iter()
            .map(|j| j.finished)
            .collect()
        };
        assert_eq!(got(&since(3)), ["2026-01-03T10:00:00Z"]);
        assert_eq!(got(&since(49)).len(), 2);
        let last = Window {
            since: None,
            runs: Some(1),
        };
        assert_eq!(got(&last), ["2026-01-03T10:00:00Z"]);
    }
}
