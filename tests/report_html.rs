//! `labprov report`: the class at a glance, from the journals of a real batch run in the lab
//! world (three hosts, one of which fails with a stderr that carries markup), read as text
//! and in a real browser (Debian's `chromium`, headless, which `tests/run` installs).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Run, UP_STEPS, World};

/// What a student's broken source file makes apt print: apt names the unknown type of a
/// line (apt-pkg/sourcelist.cc, "Type '%s' is not known on line %u in source list %s"), so
/// whatever the line starts with reaches labprov's stderr tail, the journal and the report.
const MARKUP: &str = "<script>alert(1)</script>";
/// The same text as tera's autoescape writes it, and as a browser serialises its text node.
const ESCAPED_SOURCE: &str = "&lt;script&gt;alert(1)&lt;&#x2F;script&gt;";
const ESCAPED_DOM: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";

/// Every `src=`/`href=` value that points at the network.
fn external_refs(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["src=", "href="] {
        for (at, _) in html.match_indices(attr) {
            let rest = &html[at + attr.len()..];
            let value = match rest.chars().next() {
                Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or_default(),
                _ => rest.split([' ', '>']).next().unwrap_or_default(),
            };
            let lower = value.to_ascii_lowercase();
            if lower.starts_with("http://")
                || lower.starts_with("https://")
                || lower.starts_with("//")
            {
                found.push(value.to_string());
            }
        }
    }
    found
}

/// The rows of a table (by id) that carry a host.
fn host_rows(html: &str, table: &str) -> Vec<String> {
    let start = html
        .find(&format!("<table id=\"{table}\""))
        .unwrap_or_else(|| panic!("no table {table} in the page"));
    let end = start + html[start..].find("</table>").expect("table closes");
    html[start..end]
        .match_indices("<tr data-host=\"")
        .map(|(i, m)| {
            let rest = &html[start + i + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

/// The `<tr>` of a host in the matrix.
fn matrix_row<'a>(html: &'a str, host: &str) -> &'a str {
    let start = html
        .find(&format!("<tr data-host=\"{host}\""))
        .unwrap_or_else(|| panic!("no row for {host}"));
    &html[start..start + html[start..].find("</tr>").unwrap()]
}

/// Run `chromium` headless on a page with the flags that keep it off the network and away
/// from this machine's profile, within a deadline (a hung browser fails the test, it does
/// not hang it). Chromium missing is a failure: `tests/run` installs it.
fn chromium(page: &Path, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    .stdout(out.reopen().unwrap())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot run chromium ({e}): the browser test needs Debian's chromium package, \
             which tests/run installs (apt-get install chromium)"
        )
    });
    let status = common::wait_for("chromium to finish", Duration::from_secs(180), || {
        child.try_wait().unwrap()
    });
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(
        status.success(),
        "chromium {extra:?} failed: {status}\n{err}"
    );
    std::fs::read_to_string(out.path()).unwrap()
}

#[test]
fn a_class_run_reads_in_the_report_and_in_a_browser() {
    let world = World::start(3);
    // h3 is a student's VM with a broken source file of their own: apt refuses every list.
    let line = format!(
        "{MARKUP} http://10.210.{}.2:8080/student noble main\n",
        world.id
    );
    std::fs::write(world.dir.join("student.list"), &line).unwrap();
    let install = world.exec(
        "h3",
        None,
        &[
            "install",
            "-m",
            "0644",
            world.dir.join("student.list").to_str().unwrap(),
            "/etc/apt/sources.list.d/student.list",
        ],
    );
    assert!(install.status.success(), "{install:?}");

    let up = world.labprov(&["up"]);
    assert_eq!(
        up.code,
        1,
        "h3 fails, the others converge\n{}",
        up.explain()
    );
    let failed = up.step("h3", "docker");
    assert_eq!(failed["kind"], "failed", "{}", up.explain());
    assert!(
        failed["error"]["stderr_tail"]
            .as_str()
            .unwrap()
            .contains(MARKUP),
        "{failed}"
    );
    // A batch run of more than one host names its report, as a fresh file.
    let state = world.dir.join("controller-state/labprov");
    let offered = up
        .events
        .iter()
        .find(|e| e["type"] == "report")
        .unwrap_or_else(|| panic!("no report line after a 3-host up\n{}", up.explain()));
    assert_eq!(
        offered["path"],
        state.join("report.html").to_str().unwrap(),
        "{offered}"
    );
    assert!(
        std::fs::read_to_string(state.join("report.html"))
            .unwrap()
            .contains("h3")
    );
    // The markup reached the journal as it came: what the page shows below is escaped by
    // the page, not lost on the way.
    let runs: Vec<PathBuf> = std::fs::read_dir(state.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let journal = std::fs::read_to_string(&runs[0]).unwrap();
    assert!(journal.contains(MARKUP), "{journal}");

    // As a user reads it in a terminal or a CI log: the line names the page; with --quiet
    // the run is journaled but no page is offered.
    let plain = |args: &[&str]| {
        Run::new(
            common::labprov()
                .arg("--profile")
                .arg(&world.profile)
                .args(["--output", "plain"])
                .args(args)
                .env("XDG_CACHE_HOME", world.dir.join("controller-cache"))
                .env("XDG_STATE_HOME", world.dir.join("controller-state"))
                .output()
                .unwrap(),
        )
    };
    let shown = plain(&["up"]);
    assert_eq!(shown.code, 1, "{}", shown.explain());
    let line = format!("report written to {}", state.join("report.html").display());
    assert!(
        shown.stdout.lines().any(|l| l == line),
        "{}",
        shown.explain()
    );
    let quiet = plain(&["-q", "up"]);
    assert_eq!(quiet.code, 1, "{}", quiet.explain());
    assert!(
        !quiet.stdout.contains("report written to"),
        "{}",
        quiet.explain()
    );
    assert_eq!(std::fs::read_dir(state.join("runs")).unwrap().count(), 3);

    // The page of the three runs.
    let out = world.dir.join("class report.html");
    let report = world.labprov(&["report", "--out", out.to_str().unwrap()]);
    assert_eq!(report.code, 0, "{}", report.explain());
    let html = std::fs::read_to_string(&out).unwrap();

    // Every host and every step is named, one matrix row per host.
    assert_eq!(host_rows(&html, "matrix"), ["h1", "h2", "h3"]);
    for step in UP_STEPS {
        assert!(
            html.contains(&format!("<th class=\"step\">{step}</th>")),
            "no column {step}"
        );
    }
    // The failed cell carries its error: step, kind, message and the stderr tail.
    let h3 = matrix_row(&html, "h3");
    assert!(h3.contains("data-state=\"failed\""), "{h3}");
    assert!(h3.contains("<details><summary>✗</summary>"), "{h3}");
    assert!(h3.contains("<dd>remote</dd>"), "{h3}");
    assert!(h3.contains("apply of docker exited 100"), "{h3}");
    assert!(
        h3.contains(&format!(
            "Type &#x27;{ESCAPED_SOURCE}&#x27; is not known on line 1"
        )),
        "{h3}"
    );
    // The steps that needed docker were skipped: they say so, and are not failures of their own.
    assert_eq!(h3.matches("<details>").count(), 1, "{h3}");
    assert!(
        h3.contains("title=\"cluster: skipped: needs docker\""),
        "{h3}"
    );
    // ... and the hosts that converged carry none.
    let h1 = matrix_row(&html, "h1");
    assert!(
        h1.contains("data-state=\"converged\"") && !h1.contains("<details>"),
        "{h1}"
    );
    // The host's markup is text, never markup.
    assert!(
        !html.contains(MARKUP),
        "the stderr's script tag reached the page as markup"
    );
    // Three runs in the history, newest first.
    assert_eq!(html.matches("<tr><td>20").count(), 3, "three history rows");
    // Nothing external: the checker finds a reference when there is one.
    assert_eq!(
        external_refs("<img src=\"https://x.example/a.png\"><a href='http://y'>"),
        ["https://x.example/a.png", "http://y"]
    );
    assert_eq!(external_refs(&html), Vec::<String>::new());
    // Without JS the filters, which would do nothing, are hidden.
    assert!(html.contains("<form id=\"filters\" hidden"));

    // In a real browser: one matrix row per host, the markup shown as text, the filters on.
    let dom = chromium(&out, &["--dump-dom"]);
    assert_eq!(host_rows(&dom, "matrix"), ["h1", "h2", "h3"], "{dom}");
    assert!(dom.contains(ESCAPED_DOM), "the stderr is text in the DOM");
    assert!(!dom.contains(MARKUP));
    assert!(
        dom.contains("<form id=\"filters\" onsubmit=\"return false\">"),
        "the page's script ran and showed the filters"
    );

    // The screenshot: into docs/ when asked for (the README shows it), else a temp dir.
    let shots = tempfile::tempdir().unwrap();
    let png = if std::env::var_os("LABPROV_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        common::root().join("docs/report.png")
    } else {
        shots.path().join("report.png")
    };
    let _ = std::fs::remove_file(&png);
    chromium(
        &out,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,1100",
            "--hide-scrollbars",
        ],
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
}

/// The page of a run with a `verify` beside it, from hand-written journals (the shape
/// `verify` writes: one entry per check, outcome pass/fail/skip, detail the evidence).
#[test]
fn verify_results_sit_beside_the_runs() {
    let state = tempfile::tempdir().unwrap();
    let runs = state.path().join("labprov/runs");
    std::fs::create_dir_all(&runs).unwrap();
    let fixtures = common::root().join("tests/fixtures/report");
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, runs.join(path.file_name().unwrap())).unwrap();
    }
    let out = state.path().join("r.html");
    let run = common::labprov()
        .args(["report", "--out", out.to_str().unwrap()])
        .env("XDG_STATE_HOME", state.path())
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    assert!(
        String::from_utf8_lossy(&run.stdout).contains(&format!(
            "report written to {} (2 hosts, 1 run)",
            out.display()
        )),
        "{run:?}"
    );
    let html = std::fs::read_to_string(&out).unwrap();
    assert_eq!(host_rows(&html, "matrix"), ["pc-01", "pc-02"]);
    assert_eq!(host_rows(&html, "verify"), ["pc-01", "pc-02"]);
    for check in ["kiali-reachable", "bookinfo-productpage", "deny-all-blocks"] {
        assert!(
            html.contains(&format!("<th class=\"step\">{check}</th>")),
            "{check}"
        );
    }
    // The failed check opens on its evidence, escaped; evidence in text may name a URL.
    let start = html.find("<table id=\"verify\"").unwrap();
    let pc02 = matrix_row(&html[start..], "pc-02");
    assert!(pc02.contains("data-state=\"fail\""), "{pc02}");
    assert!(
        pc02.contains("<pre>HTTP 503 &lt;upstream connect error&gt; from productpage</pre>"),
        "{pc02}"
    );
    assert_eq!(external_refs(&html), Vec::<String>::new());
    // The history's wall time comes from the journal.
    assert!(html.contains("<td class=\"num\">1m 58s</td>"), "{html}");

    // `--since` picks the window: the fixtures finished long before the last second.
    let none = common::labprov()
        .args(["report", "--out", out.to_str().unwrap(), "--since", "1s"])
        .env("XDG_STATE_HOME", state.path())
        .output()
        .unwrap();
    assert!(none.status.success(), "{none:?}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("No run journal in this window"), "{html}");

    // One window at a time: both is bad input, refused before anything is written.
    std::fs::remove_file(&out).unwrap();
    let both = common::labprov()
        .args([
            "report",
            "--out",
            out.to_str().unwrap(),
            "--since",
            "2h",
            "--runs",
            "3",
        ])
        .env("XDG_STATE_HOME", state.path())
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2), "{both:?}");
    assert!(
        String::from_utf8_lossy(&both.stderr).contains("cannot be used with"),
        "{both:?}"
    );
    assert!(!out.exists());
}
