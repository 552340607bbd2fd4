//! Push mode: the controller downloads each artifact once, verifies it, and streams the same
//! file to every host.
//!
//! Downloads stream into `<sha>.partial` in the cache, hashing as bytes arrive, and are
//! renamed into place only when the digest matches; a mismatch names the URL and both
//! digests. Concurrent hosts asking for the same artifact share one download.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;

use crate::config::{ArchUrl, ShaSource};
use crate::error::Error;

type Fetched = Result<(PathBuf, String), Error>;

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
    cells: Mutex<HashMap<String, Arc<OnceCell<Fetched>>>>,
}

impl Cache {
    pub fn new(dir: PathBuf) -> Cache {
        Cache {
            dir,
            // A builder that cannot build (no TLS backend) leaves the default client, whose
            // requests then fail with the reason, per artifact.
            client: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(20))
                .build()
                .unwrap_or_default(),
            cells: Mutex::new(HashMap::new()),
        }
    }

    /// The verified file for this URL and its sha256, downloading it at most once per run.
    pub async fn get(&self, a: &ArchUrl) -> Fetched {
        let cell = self
            .cells
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(a.url.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| self.fetch(a)).await.clone()
    }

    async fn fetch(&self, a: &ArchUrl) -> Fetched {
        let expected = match &a.sha {
            ShaSource::Fixed(s) => s.clone(),
            ShaSource::Url(u) => self.digest_from(u).await?,
        };
        // mkdir is cheap enough to run on the runtime's thread.
        crate::private::create_dir(&self.dir).map_err(|e| {
            problem(
                &a.url,
                format!("cannot create cache {}: {e}", self.dir.display()),
            )
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
            .map_err(|e| problem(&a.url, format!("download failed: {}: {e}", a.url)))?;
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .await
            .map_err(|e| problem(&a.url, format!("cannot write {}: {e}", partial.display())))?;
        let mut hasher = Sha256::new();
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| problem(&a.url, format!("download failed: {}: {e}", a.url)))?;
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| problem(&a.url, format!("cannot write {}: {e}", partial.display())))?;
        }
        file.flush()
            .await
            .map_err(|e| problem(&a.url, format!("cannot write {}: {e}", partial.display())))?;
        drop(file);
        let actual = hex::encode(hasher.finalize());
        if actual != expected {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(Error::Artifact {
                url: a.url.clone(),
                expected: Some(expected),
                actual: Some(actual),
                problem: String::new(),
            });
        }
        tokio::fs::rename(&partial, &path).await.map_err(|e| {
            problem(
                &a.url,
                format!("cannot rename into {}: {e}", path.display()),
            )
        })?;
        Ok((path, expected))
    }

    /// The published digest: the first word of the checksum file (bare or `sha256sum` form).
    async fn digest_from(&self, url: &str) -> Result<String, Error> {
        let text = self
            .client
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| problem(url, format!("cannot fetch checksum {url}: {e}")))?
            .text()
            .await
            .map_err(|e| problem(url, format!("cannot fetch checksum {url}: {e}")))?;
        let word = text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if word.len() == 64 && word.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(word)
        } else {
            Err(problem(
                url,
                format!("checksum file {url} holds no sha256 digest"),
            ))
        }
    }
}

async fn hash_file(path: &std::path::Path) -> Option<String> {
    let bytes = tokio::fs::read(path).await.ok()?;
    Some(hex::encode(Sha256::digest(&bytes)))
}
