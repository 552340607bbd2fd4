//! Push mode: the controller downloads each artifact once, verifies it, and streams the same
//! file to every host.
//!
//! Downloads stream into `<sha>.partial` in the cache, hashing as bytes arrive, and are
//! renamed into place only when the digest matches; a mismatch names the URL and both
//! digests. Concurrent hosts asking for the same artifact share one download. What a busy
//! mirror or a flaky network causes (a refused, reset or timed-out connection, a body cut
//! short, HTTP 429 or 5xx) is retried with backoff and jitter; a 404 or a digest mismatch is
//! not. A failure is shared only by the hosts that waited for that very download: a host that
//! asks later tries again, so one hiccup does not fail the step on every host.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::config::{ArchUrl, ShaSource};
use crate::error::Error;

/// The verified file in the cache and its sha256.
type Verified = (PathBuf, String);
type Fetched = Result<Verified, Error>;

/// How many times one download is tried, and the first pause between tries (doubled each
/// time, plus up to a second of jitter so a class of hosts does not retry in step).
const TRIES: u32 = 5;
const FIRST_PAUSE: Duration = Duration::from_secs(1);

/// One try's failure, and whether another try may succeed.
struct Failed {
    error: Error,
    transient: bool,
}

fn permanent(error: Error) -> Failed {
    Failed {
        error,
        transient: false,
    }
}

/// Connection refused, reset or timed out, a body cut short, HTTP 429 or 5xx.
fn from_http(url: &str, what: &str, e: reqwest::Error) -> Failed {
    let transient = e.is_connect()
        || e.is_timeout()
        || e.is_body()
        || e.is_decode()
        || e.status()
            .is_some_and(|s| s.as_u16() == 429 || s.is_server_error());
    Failed {
        error: problem(url, format!("{what} {url}: {e}")),
        transient,
    }
}

/// One artifact's downloads: the verified file once there is one, and the last failure with
/// the number of tries so far (a host that waited through a try shares its failure).
#[derive(Default)]
struct Slot {
    tries: AtomicU64,
    state: tokio::sync::Mutex<(Option<Verified>, Option<Error>)>,
}

/// An artifact failure that is not a digest mismatch.
fn problem(url: &str, text: String) -> Error {
    Error::Artifact {
        url: url.to_string(),
        expected: None,
        actual: None,
        problem: text,
    }
}

pub struct Cache {
    dir: PathBuf,
    client: reqwest::Client,
    cells: Mutex<HashMap<String, Arc<Slot>>>,
    first_pause: Duration,
}

impl Cache {
    pub fn new(dir: PathBuf) -> Cache {
        Cache {
            dir,
            // A builder that cannot build (no TLS backend) leaves the default client, whose
            // requests then fail with the reason, per artifact.
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(20))
                // A mirror that stalls mid-body is a failed try, not a hung run.
                .read_timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            cells: Mutex::new(HashMap::new()),
            first_pause: FIRST_PAUSE,
        }
    }

    /// The verified file for this URL and its sha256, downloaded once per run when it works.
    pub async fn get(&self, a: &ArchUrl) -> Fetched {
        let slot = self
            .cells
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(a.url.clone())
            .or_default()
            .clone();
        let seen = slot.tries.load(Ordering::SeqCst);
        let mut state = slot.state.lock().await;
        if let Some(done) = &state.0 {
            return Ok(done.clone());
        }
        if slot.tries.load(Ordering::SeqCst) > seen
            && let Some(error) = &state.1
        {
            return Err(error.clone());
        }
        let result = self.fetch_retrying(a).await;
        slot.tries.fetch_add(1, Ordering::SeqCst);
        match &result {
            Ok(done) => state.0 = Some(done.clone()),
            Err(error) => state.1 = Some(error.clone()),
        }
        result
    }

    async fn fetch_retrying(&self, a: &ArchUrl) -> Fetched {
        let mut pause = self.first_pause;
        let mut tried = 1;
        loop {
            match self.fetch(a).await {
                Ok(done) => return Ok(done),
                Err(f) if !f.transient || tried >= TRIES => return Err(f.error),
                Err(_) => {
                    let jitter = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_millis());
                    tokio::time::sleep(pause + Duration::from_millis(u64::from(jitter))).await;
                    pause = pause.saturating_mul(2);
                    tried += 1;
                }
            }
        }
    }

    async fn fetch(&self, a: &ArchUrl) -> Result<Verified, Failed> {
        let expected = match &a.sha {
            ShaSource::Fixed(s) => s.clone(),
            ShaSource::Url(u) => self.digest_from(u).await?,
        };
        // mkdir is cheap enough to run on the runtime's thread.
        crate::private::create_dir(&self.dir).map_err(|e| {
            permanent(problem(
                &a.url,
                format!("cannot create cache {}: {e}", self.dir.display()),
            ))
        })?;
        let path = self.dir.join(&expected);
        if tokio::fs::try_exists(&path).await.unwrap_or(false)
            && hash_file(&path).await.as_deref() == Some(expected.as_str())
        {
            return Ok((path, expected));
        }
        let partial = self.dir.join(format!("{expected}.partial"));
        let resp = self
            .client
            .get(&a.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| from_http(&a.url, "download failed:", e))?;
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .await
            .map_err(|e| {
                permanent(problem(
                    &a.url,
                    format!("cannot write {}: {e}", partial.display()),
                ))
            })?;
        let mut hasher = Sha256::new();
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&partial).await;
                    return Err(from_http(&a.url, "download failed:", e));
                }
            };
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(|e| {
                permanent(problem(
                    &a.url,
                    format!("cannot write {}: {e}", partial.display()),
                ))
            })?;
        }
        file.flush().await.map_err(|e| {
            permanent(problem(
                &a.url,
                format!("cannot write {}: {e}", partial.display()),
            ))
        })?;
        drop(file);
        let actual = hex::encode(hasher.finalize());
        if actual != expected {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(permanent(Error::Artifact {
                url: a.url.clone(),
                expected: Some(expected),
                actual: Some(actual),
                problem: String::new(),
            }));
        }
        tokio::fs::rename(&partial, &path).await.map_err(|e| {
            permanent(problem(
                &a.url,
                format!("cannot rename into {}: {e}", path.display()),
            ))
        })?;
        Ok((path, expected))
    }

    /// The published digest: the first word of the checksum file (bare or `sha256sum` form).
    async fn digest_from(&self, url: &str) -> Result<String, Failed> {
        let text = self
            .client
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| from_http(url, "cannot fetch checksum", e))?
            .text()
            .await
            .map_err(|e| from_http(url, "cannot fetch checksum", e))?;
        let word = text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if word.len() == 64 && word.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(word)
        } else {
            Err(permanent(problem(
                url,
                format!("checksum file {url} holds no sha256 digest"),
            )))
        }
    }
}

async fn hash_file(path: &std::path::Path) -> Option<String> {
    let bytes = tokio::fs::read(path).await.ok()?;
    Some(hex::encode(Sha256::digest(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const BODY: &str = "the artifact's bytes\n";

    /// A mirror on a real socket: each connection gets the next canned answer (`ok`, a status
    /// code, or `cut`: full Content-Length, half the body, then close). Returns its port and
    /// the count of requests it served.
    async fn mirror(answers: Vec<&'static str>) -> (u16, Arc<AtomicU64>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(AtomicU64::new(0));
        let count = served.clone();
        tokio::spawn(async move {
            let mut answers = answers.into_iter();
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                count.fetch_add(1, Ordering::SeqCst);
                let text = match answers.next().unwrap_or("ok") {
                    "ok" => format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
                        BODY.len()
                    ),
                    "cut" => format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                        BODY.len(),
                        &BODY[..5]
                    ),
                    code => format!(
                        "HTTP/1.1 {code} Oops\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    ),
                };
                let _ = sock.write_all(text.as_bytes()).await;
            }
        });
        (port, served)
    }

    fn cache(dir: &std::path::Path) -> Cache {
        let mut c = Cache::new(dir.to_path_buf());
        c.first_pause = Duration::from_millis(5);
        c
    }

    fn artifact(port: u16) -> ArchUrl {
        ArchUrl {
            arch: "amd64".into(),
            url: format!("http://127.0.0.1:{port}/minikube"),
            sha: ShaSource::Fixed(hex::encode(Sha256::digest(BODY))),
        }
    }

    #[tokio::test]
    async fn busy_mirrors_and_cut_bodies_are_retried_a_404_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (port, served) = mirror(vec!["500", "503", "429", "cut"]).await;
        let (path, _) = cache(dir.path()).get(&artifact(port)).await.unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), BODY);
        assert_eq!(served.load(Ordering::SeqCst), 5);

        let dir = tempfile::tempdir().unwrap();
        let (port, served) = mirror(vec!["404"]).await;
        let err = cache(dir.path()).get(&artifact(port)).await.unwrap_err();
        assert!(err.to_string().contains("404"), "{err}");
        assert_eq!(served.load(Ordering::SeqCst), 1, "a 404 is asked once");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no partial left"
        );
    }

    #[tokio::test]
    async fn a_later_host_does_not_inherit_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let failing = vec!["502"; TRIES as usize];
        let (port, served) = mirror(failing).await;
        let cache = cache(dir.path());
        let err = cache.get(&artifact(port)).await.unwrap_err();
        assert!(err.to_string().contains("502"), "{err}");
        assert_eq!(served.load(Ordering::SeqCst), u64::from(TRIES));
        // The mirror is back: the next host downloads instead of getting the old failure,
        // and the one after it gets the cached file without a request.
        assert!(cache.get(&artifact(port)).await.is_ok());
        assert!(cache.get(&artifact(port)).await.is_ok());
        assert_eq!(served.load(Ordering::SeqCst), u64::from(TRIES) + 1);
    }
}
