//! How scripts reach a host: this machine, or SSH (one multiplexed master per host, through
//! the jump host when there is one).
//!
//! A transport knows nothing of steps. It sends a script on stdin to `bash -c BOOT` (see
//! [`BOOT`]), optionally followed by a payload, and reports either the command's result or an
//! [`Error::Connect`]: "could not talk to the host" is kept apart from "the command failed".
//!
//! Every command carries a token of its own as a positional argument
//! (`bash -c BOOT bash LEN TOKEN`, which execs `bash /dev/fd/3 TOKEN`). Once the run's
//! [`Stop`] trips, a running command gets the profile's `run.grace_period`; then a second
//! command on the same connection finds the processes whose command line holds the token,
//! collects their descendants (sudo, apt-get, curl ...) and stops them all, with sudo when
//! there is one. Nothing is written on the host for this.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::{Config, Host};
use crate::error::Error;
use crate::interrupt::Stop;

mod local;
mod ssh;

pub use local::Local;
pub use ssh::{Bastion, Ssh};

/// What a command reads on stdin.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

/// What a finished remote command said.
#[derive(Debug, Clone)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

enum Link {
    Local(Local),
    Ssh(Box<Ssh>),
}

pub struct Transport {
    link: Link,
    stop: Stop,
    grace: Duration,
}

/// Stops a command's processes on its host, given its token on stdin (so this script's
/// own command line does not match). Descendants are collected before any is signalled:
/// an orphan is re-parented to init and could no longer be found.
const STOP_SCRIPT: &str = r#"read -r tok || exit 0
roots=$(pgrep -d ' ' -f -- "$tok") || exit 0
all=$(ps -e -o pid= -o ppid= | awk -v roots="$roots" '
  BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) s[r[i]] = 1 }
  { pp[$1] = $2 }
  END { do { c = 0; for (p in pp) if (!(p in s) && (pp[p] in s)) { s[p] = 1; c = 1 } } while (c)
        for (p in s) print p }')
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif sudo -n true 2>/dev/null; then sudo -n "$@"; else "$@"; fi; }
# shellcheck disable=SC2086
as_root kill -TERM $all 2>/dev/null
for _ in $(seq 50); do
  left=; for p in $all; do [ -d "/proc/$p" ] && left="$left $p"; done
  [ -z "$left" ] && exit 0
  sleep 0.1
done
# shellcheck disable=SC2086
as_root kill -KILL $left 2>/dev/null
exit 0
"#;

/// Takes labprov's lock on the host (`$1`: who takes it, `$2`: seconds to wait, 0: do not)
/// and holds it until this channel's stdin closes: when labprov is done with the host, is
/// stopped, or dies (its channel then closes with it). `lock.gen` counts the runs that took
/// it; `::locked GEN WAITED` says the count before this one and whether it had to wait.
const LOCK_SCRIPT: &str = r#"d="$HOME/.local/state/labprov-lock"
{ umask 077 && mkdir -p "$d" && chmod 0700 "$d" && exec 9>>"$d/lock"; } || exit 70
owner() { cat "$d/lock.owner" 2>/dev/null || echo "another labprov run"; }
waited=0
if ! flock -n 9; then
  if [ "$2" -eq 0 ]; then printf '::held %s\n' "$(owner)"; exit 75; fi
  printf '::waiting %s\n' "$(owner)"
  flock -w "$2" 9 || { printf '::held %s\n' "$(owner)"; exit 75; }
  waited=1
fi
gen=$(cat "$d/lock.gen" 2>/dev/null || echo 0)
case $gen in '' | *[!0-9]*) gen=0 ;; esac
echo $((gen + 1)) >"$d/lock.gen"
printf '%s, since %s\n' "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$d/lock.owner"
echo "::locked $gen $waited"
cat >/dev/null
"#;

/// This run's hold on a host's lock; dropping it releases the lock.
pub struct HostLock {
    _child: tokio::process::Child,
    _stdin: Option<tokio::process::ChildStdin>,
    /// How many runs had taken the lock before this one (`lock_gen` of a check).
    pub generation: String,
    /// Whether another run held it first.
    pub waited: bool,
}

/// A token no other command of any run shares.
fn token() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "labprov-run-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Transport {
    /// Connect to `host`; `stop` is the run's interruption, which every later command
    /// watches.
    pub async fn connect(
        cfg: &Config,
        host: &Host,
        bastion: Option<&Bastion>,
        stop: Stop,
    ) -> Result<Transport, Error> {
        let link = match &host.address {
            None => Link::Local(Local::new()),
            Some(_) => Link::Ssh(Box::new(Ssh::connect(cfg, host, bastion).await?)),
        };
        Ok(Transport {
            link,
            stop,
            grace: Duration::from_secs(cfg.run.grace_period),
        })
    }

    /// Run `script` with bash; `stdin` is streamed to it when given. Once the run is
    /// interrupted no command starts ([`Error::Interrupted`]); a command already running
    /// may finish within the grace period, and is stopped on the host after it.
    pub async fn run(&self, script: &str, stdin: Option<Payload<'_>>) -> Result<Output, Error> {
        self.run_telling(script, stdin, None).await
    }

    /// [`Transport::run`], with each `::progress TEXT` line the script prints told to
    /// `progress` while it runs.
    pub async fn run_telling(
        &self,
        script: &str,
        stdin: Option<Payload<'_>>,
        progress: Progress<'_>,
    ) -> Result<Output, Error> {
        if self.stop.is_set() {
            return Err(Error::Interrupted);
        }
        let token = token();
        let running = self.run_raw(script, &token, stdin, progress);
        tokio::pin!(running);
        tokio::select! {
            r = &mut running => return r,
            _ = self.stop.wait() => {}
        }
        if let Ok(r) = tokio::time::timeout(self.grace, &mut running).await {
            return r;
        }
        // Best effort: if the host cannot be reached now, nothing more can be done from here.
        let _ = self
            .run_raw(
                STOP_SCRIPT,
                "",
                Some(Payload::Bytes(format!("{token}\n").as_bytes())),
                None,
            )
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(15), &mut running).await;
        Err(Error::Interrupted)
    }

    async fn run_raw(
        &self,
        script: &str,
        token: &str,
        stdin: Option<Payload<'_>>,
        progress: Progress<'_>,
    ) -> Result<Output, Error> {
        let args = boot_args(script, &[token]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let input = Input {
            script: script.as_bytes(),
            payload: stdin,
            progress,
        };
        match &self.link {
            Link::Local(l) => l.run(&args, input).await,
            Link::Ssh(s) => s.run(&args, input).await,
        }
    }

    /// Take labprov's lock on the host for this run: `owner` says who holds it to a run
    /// that waits; `wait` is how long to wait for another run's lock (`None`: refuse at
    /// once). `waiting` is told the holder when the lock is taken.
    pub async fn lock(
        &self,
        owner: &str,
        wait: Option<Duration>,
        waiting: impl Fn(&str),
    ) -> Result<HostLock, Error> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let secs = wait.map_or(0, |w| w.as_secs().max(1)).to_string();
        let args = boot_args(LOCK_SCRIPT, &[owner, &secs]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = match &self.link {
            Link::Local(l) => l.spawn(&args)?,
            Link::Ssh(s) => s.spawn(&args)?,
        };
        // The script, then nothing: the lock is held until this stdin closes.
        let mut stdin = child.stdin.take();
        if let Some(pipe) = stdin.as_mut() {
            let _ = pipe.write_all(LOCK_SCRIPT.as_bytes()).await;
            let _ = pipe.flush().await;
        }
        let Some(stdout) = child.stdout.take() else {
            return Err(Error::internal("the lock holder has no stdout"));
        };
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        loop {
            let line = tokio::select! {
                l = lines.next_line() => l,
                _ = self.stop.wait() => return Err(Error::Interrupted),
            };
            match line {
                Ok(Some(l)) if l.starts_with("::locked") => {
                    let mut words = l.split_whitespace().skip(1);
                    let generation = words.next().unwrap_or("0").to_string();
                    let waited = words.next() == Some("1");
                    return Ok(HostLock {
                        _child: child,
                        _stdin: stdin,
                        generation,
                        waited,
                    });
                }
                Ok(Some(l)) => {
                    if let Some(who) = l.strip_prefix("::waiting ") {
                        waiting(who.trim());
                    } else if let Some(who) = l.strip_prefix("::held ") {
                        return Err(Error::plan(match wait {
                            None => format!(
                                "another labprov run holds this host's lock: {} (--no-wait)",
                                who.trim()
                            ),
                            Some(w) => format!(
                                "another labprov run still holds this host's lock after {}s \
                                 (run.lock_timeout): {}",
                                w.as_secs(),
                                who.trim()
                            ),
                        }));
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut stderr).await;
        }
        let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(-1);
        if let (255, Link::Ssh(s)) = (code, &self.link)
            && let Some(lost) = s.lost_if_dropped(" while taking labprov's lock").await
        {
            return Err(lost);
        }
        Err(Error::Remote {
            what: "taking labprov's lock on the host".into(),
            code,
            stderr_tail: crate::error::tail(&stderr, 3),
        })
    }

    /// Start a fresh login so group changes made by a step apply to what follows.
    pub async fn relogin(&mut self) -> Result<(), Error> {
        match &mut self.link {
            Link::Local(l) => {
                l.relogin();
                Ok(())
            }
            Link::Ssh(s) => s.reconnect().await,
        }
    }

    /// Open (or close) a local forward `127.0.0.1:local` → `host:port` on the remote side.
    pub async fn forward(
        &self,
        local: u16,
        host: &str,
        port: u16,
        open: bool,
    ) -> Result<(), Error> {
        match &self.link {
            Link::Local(_) => Err(Error::Connect {
                target: "local".into(),
                reason: "forwards are for hosts reached over SSH".into(),
            }),
            Link::Ssh(s) => s.forward(local, host, port, open).await,
        }
    }

    pub async fn close(self) {
        if let Link::Ssh(s) = self.link {
            s.close().await;
        }
    }
}

/// How every command starts on a host: `bash -c BOOT bash LEN ARGS...`. BOOT reads the
/// script's LEN bytes from stdin (counted as bytes, whatever the host's locale) and runs it
/// from a file descriptor, so a script, which may hold URLs with credentials, never shows in
/// `ps` or `/proc/PID/cmdline`; what follows the script on stdin is the script's own input.
/// ARGS (a run's token, the lock's owner) are not secret.
const BOOT: &str = r#"o=${LC_ALL+x$LC_ALL}; LC_ALL=C; IFS= read -r -N "$1" s; n=${#s}
if [ -n "$o" ]; then LC_ALL=${o#x}; else unset LC_ALL; fi
[ "$n" -eq "$1" ] || { echo "labprov: the script arrived short ($n of $1 bytes)" >&2; exit 70; }
shift; exec bash /dev/fd/3 "$@" 3<<<"$s""#;

/// The argv that runs `script` through [`BOOT`] with `args` after it.
fn boot_args(script: &str, args: &[&str]) -> Vec<String> {
    let mut argv = vec![
        "-c".to_string(),
        BOOT.to_string(),
        "bash".to_string(),
        script.len().to_string(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    argv
}

/// Where a command's `::progress TEXT` lines go while it runs (a wait on the host that
/// should be seen while it lasts, not in the journal afterwards).
pub type Progress<'a> = Option<&'a (dyn Fn(&str) + Send + Sync)>;

/// What a command reads on stdin: its script first (see [`BOOT`]), then its payload; and
/// who hears its progress.
pub struct Input<'a> {
    pub script: &'a [u8],
    pub payload: Option<Payload<'a>>,
    pub progress: Progress<'a>,
}

/// Feed a started command its input while reading what it prints, then wait for it. Reading
/// as it runs lets `::progress` lines through at once, and a command that prints a lot
/// before it has read its payload cannot block on a full pipe.
pub(crate) async fn converse(
    child: &mut tokio::process::Child,
    input: Input<'_>,
) -> std::io::Result<(std::process::ExitStatus, String, String)> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let progress = input.progress;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let feeding = async {
        if let Some(mut pipe) = stdin {
            feed(&mut pipe, input).await?;
        }
        Ok::<_, std::io::Error>(())
    };
    let reading = async {
        let mut text = String::new();
        if let Some(out) = stdout {
            let mut out = tokio::io::BufReader::new(out);
            let mut line = Vec::new();
            loop {
                line.clear();
                if out.read_until(b'\n', &mut line).await? == 0 {
                    break;
                }
                let l = String::from_utf8_lossy(&line);
                if let (Some(tell), Some(what)) = (progress, l.strip_prefix("::progress ")) {
                    tell(what.trim());
                }
                text.push_str(&l);
            }
        }
        Ok::<_, std::io::Error>(text)
    };
    let erring = async {
        let mut buf = Vec::new();
        if let Some(mut err) = stderr {
            err.read_to_end(&mut buf).await?;
        }
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&buf).into_owned())
    };
    let ((), out, err) = tokio::try_join!(feeding, reading, erring)?;
    let status = child.wait().await?;
    Ok((status, out, err))
}

/// Stream a command's input into a child's stdin, then close it. A script that exits early
/// closes its stdin; its exit code tells why, so write errors are not errors here.
pub(crate) async fn feed<W: tokio::io::AsyncWrite + Unpin>(
    pipe: &mut W,
    input: Input<'_>,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    if pipe.write_all(input.script).await.is_err() {
        return Ok(());
    }
    let Some(payload) = input.payload else {
        let _ = pipe.shutdown().await;
        return Ok(());
    };
    match payload {
        Payload::File(path) => {
            let mut file = tokio::fs::File::open(path).await?;
            let _ = tokio::io::copy(&mut file, pipe).await;
        }
        Payload::Bytes(bytes) => {
            let _ = pipe.write_all(bytes).await;
        }
    }
    let _ = pipe.shutdown().await;
    Ok(())
}
