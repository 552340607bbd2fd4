//! The class view on a real terminal: `labprov up` of 30 hosts runs in a pseudo-terminal, and
//! everything it writes goes through a VT100 emulator, so the test reads the screen a TA
//! reads. The live view must fit a terminal (at most 15 lines at any moment), a clean run's
//! whole output must fit a screen (at most 25 lines), and a failing host must show up as one
//! line with its cause while it happens and first in the final table.

mod common;

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::World;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};

/// Tall enough that nothing labprov draws during a run scrolls away: every line it shows
/// at once is on the screen, so counting the screen's rows counts them.
const ROWS: u16 = 200;
/// Wide enough that a table row with a download error's URL stays one row.
const COLS: u16 = 300;
const LIVE_MAX: usize = 15;
const HOSTS: usize = 30;
const CLEAN_RUN_MAX: usize = 25;

/// What a terminal showed during and after one run.
struct TermRun {
    code: u32,
    /// The most non-empty rows the screen held at once while the run was live (before its
    /// closing lines began with `journal:`), and that screen.
    live_peak: usize,
    live_peak_screen: String,
    /// Every non-empty line of the final screen and its scrollback: the run's whole output.
    lines: Vec<String>,
}

impl TermRun {
    fn explain(&self) -> String {
        format!(
            "exit {}; live peak {} rows:\n{}\n--- whole output ({} lines):\n{}",
            self.code,
            self.live_peak,
            self.live_peak_screen,
            self.lines.len(),
            self.lines.join("\n")
        )
    }
}

fn non_empty_rows(screen: &vt100::Screen) -> Vec<String> {
    screen
        .rows(0, COLS)
        .map(|r| r.trim_end().to_string())
        .filter(|r| !r.is_empty())
        .collect()
}

/// Run labprov (human output, since its stdout is a terminal) against the world in a pty of
/// ROWS×COLS, sampling the emulated screen after every chunk of bytes it writes.
fn in_terminal(world: &World, args: &[&str]) -> TermRun {
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: ROWS,
            cols: COLS,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("a pseudo-terminal");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_labprov"));
    cmd.arg("--profile");
    cmd.arg(&world.profile);
    cmd.args(args);
    cmd.cwd(&world.dir);
    cmd.env("TERM", "xterm-256color");
    cmd.env("XDG_CACHE_HOME", world.dir.join("controller-cache"));
    cmd.env("XDG_STATE_HOME", world.dir.join("controller-state"));
    let mut child = pair.slave.spawn_command(cmd).expect("labprov starts");
    // The child holds the terminal now; the master sees end-of-file once it exits.
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let size = |n: u16| std::num::NonZeroU16::new(n).unwrap();
    let mut parser = vt100::Parser::new(size(ROWS), size(COLS), 10_000);
    let mut live = true;
    let (mut live_peak, mut live_peak_screen) = (0, String::new());
    // A bound on a hang, not a timing target: a first run of 30 hosts on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(bytes) => {
                parser.process(&bytes);
                let rows = non_empty_rows(parser.screen());
                if live && rows.iter().any(|r| r.starts_with("journal: ")) {
                    live = false;
                }
                if live && rows.len() > live_peak {
                    live_peak = rows.len();
                    live_peak_screen = rows.join("\n");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                assert!(
                    Instant::now() < deadline,
                    "labprov {args:?} still runs after 30 minutes; screen:\n{}",
                    parser.screen().contents()
                );
            }
        }
    }
    let status = common::wait_for("labprov to exit", Duration::from_secs(60), || {
        child.try_wait().unwrap()
    });
    assert!(
        !live,
        "the run never printed its journal line; screen:\n{}",
        parser.screen().contents()
    );
    // Scrolled-off lines first (the top row, scrolled back by each offset), then the screen.
    let screen = parser.screen_mut();
    screen.set_scrollback(usize::MAX);
    let scrolled = screen.scrollback();
    let mut lines = Vec::new();
    for offset in (1..=scrolled).rev() {
        screen.set_scrollback(offset);
        let top = screen.rows(0, COLS).next().unwrap_or_default();
        if !top.trim_end().is_empty() {
            lines.push(top.trim_end().to_string());
        }
    }
    screen.set_scrollback(0);
    lines.extend(non_empty_rows(screen));
    TermRun {
        code: status.exit_code(),
        live_peak,
        live_peak_screen,
        lines,
    }
}

#[test]
fn a_class_of_thirty_fits_a_terminal_and_a_failing_host_is_one_line_listed_first() {
    let world = World::start(HOSTS);

    // A first run: every host converges, and the class view says so in a screenful.
    let clean = in_terminal(&world, &["up"]);
    assert_eq!(clean.code, 0, "{}", clean.explain());
    assert!(
        clean.live_peak <= LIVE_MAX,
        "the live view held {} lines at once\n{}",
        clean.live_peak,
        clean.explain()
    );
    // The view the counter saw is the class view: a bar for the class and one per step.
    for step in common::UP_STEPS {
        assert!(
            clean
                .live_peak_screen
                .lines()
                .any(|l| l.starts_with(step) && l.contains(&format!("/{HOSTS}"))),
            "no bar for {step}\n{}",
            clean.explain()
        );
    }
    assert!(
        clean.lines.len() <= CLEAN_RUN_MAX,
        "a clean run printed {} lines\n{}",
        clean.lines.len(),
        clean.explain()
    );
    assert!(
        clean
            .lines
            .iter()
            .any(|l| l.starts_with(&format!("{HOSTS} converged host(s)"))),
        "{}",
        clean.explain()
    );

    // h7 lost its minikube and the mirror answers 404 for it: minikube fails on h7 alone,
    // and the steps that need it do not run there.
    let rm = world.exec("h7", None, &["rm", "-f", "/usr/local/bin/minikube"]);
    assert!(rm.status.success(), "{rm:?}");
    std::fs::write(
        world.dir.join("mirror/faults"),
        r#"[{"path": "minikube-linux-amd64", "action": "status", "status": 404, "count": -1}]"#,
    )
    .unwrap();
    let failing = in_terminal(&world, &["up"]);
    assert_eq!(failing.code, 1, "{}", failing.explain());
    assert!(
        failing.live_peak <= LIVE_MAX,
        "the live view held {} lines at once\n{}",
        failing.live_peak,
        failing.explain()
    );
    // One line for the failure, with its cause; nothing for the steps it skipped.
    let lines_of = |run: &TermRun, what: &str| -> Vec<String> {
        run.lines
            .iter()
            .filter(|l| l.starts_with(what))
            .cloned()
            .collect()
    };
    let h7 = lines_of(&failing, "h7: ");
    assert_eq!(h7.len(), 1, "{}", failing.explain());
    assert!(
        h7[0].starts_with("h7: minikube FAILED: ") && h7[0].contains("404"),
        "{}",
        failing.explain()
    );
    // The final table lists h7 first and only h7; the others are one line.
    let header = failing
        .lines
        .iter()
        .position(|l| l.starts_with("host "))
        .unwrap_or_else(|| panic!("no table\n{}", failing.explain()));
    let first = &failing.lines[header + 1];
    assert!(
        first.starts_with("h7 ") && first.contains("minikube:"),
        "{}",
        failing.explain()
    );
    assert!(
        failing.lines[header + 2].starts_with(&format!("{} converged host(s)", HOSTS - 1)),
        "{}",
        failing.explain()
    );
    assert!(
        lines_of(&failing, "h1 ").is_empty(),
        "{}",
        failing.explain()
    );

    // Positive control for both counters: with -v the same run shows every host's steps,
    // and the counters see far more than the limits (so they can fail).
    let verbose = in_terminal(&world, &["-v", "up"]);
    assert_eq!(verbose.code, 1, "{}", verbose.explain());
    assert!(
        verbose.live_peak > LIVE_MAX,
        "the counter saw {} lines of a -v run\n{}",
        verbose.live_peak,
        verbose.explain()
    );
    assert!(verbose.lines.len() > CLEAN_RUN_MAX, "{}", verbose.explain());
    // -v lists every host in the table, h7 first.
    let header = verbose
        .lines
        .iter()
        .position(|l| l.starts_with("host "))
        .unwrap_or_else(|| panic!("no table\n{}", verbose.explain()));
    assert!(
        verbose.lines[header + 1].starts_with("h7 "),
        "{}",
        verbose.explain()
    );
    let is_row = |l: &&String| {
        let mut words = l.split_whitespace();
        let host = words.next().unwrap_or_default();
        host.starts_with('h')
            && host[1..].parse::<u32>().is_ok()
            && words.next().is_some_and(|ok| ok.parse::<u32>().is_ok())
    };
    assert_eq!(
        verbose.lines[header + 1..].iter().filter(is_row).count(),
        HOSTS,
        "{}",
        verbose.explain()
    );
    // With -v each of h7's steps has its line.
    assert!(
        lines_of(&verbose, "h7: ").len() >= common::UP_STEPS.len(),
        "{}",
        verbose.explain()
    );
}
