//! What every command that works host by host shares (`up`/`plan`/`down`, `verify`, ...):
//! the run's one connection to the jump host, and the fan-out over the hosts, at most
//! `parallel` at a time (mini-redis's `Semaphore`), where a host whose task panics fails alone
//! and the others go on, so the run still ends with its journal and its summary.

use std::future::Future;

use tokio::sync::Semaphore;

use crate::config::{Config, Host};
use crate::error::Error;
use crate::transport::Bastion;

/// The run's one master connection to the jump host, when some host is remote and the profile
/// names one; `Err` is the cause every remote host then fails with.
pub async fn bastion(cfg: &Config, hosts: &[Host]) -> Result<Option<Bastion>, Error> {
    if hosts.iter().any(|h| !h.is_local()) {
        Bastion::connect(cfg).await
    } else {
        Ok(None)
    }
}

/// Run `job` for every host, at most `parallel` at once, and return the results in the hosts'
/// order. A job that panics (a bug in labprov) becomes `failed(host, why)`: that host's result.
pub async fn fan_out<T, J, F>(
    hosts: Vec<Host>,
    parallel: usize,
    job: J,
    failed: impl Fn(&str, String) -> T,
) -> Vec<T>
where
    T: Send + 'static,
    J: Fn(Host) -> F,
    F: Future<Output = T> + Send + 'static,
{
    let limit = std::sync::Arc::new(Semaphore::new(parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut names = std::collections::HashMap::new();
    for (i, host) in hosts.into_iter().enumerate() {
        let limit = limit.clone();
        let name = host.name.clone();
        let run = job(host);
        let handle = tasks.spawn(async move {
            // The semaphore is never closed; if it were, the host would just run unlimited.
            let _permit = limit.acquire_owned().await.ok();
            (i, run.await)
        });
        names.insert(handle.id(), (i, name));
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, r)) => results.push(r),
            Err(e) => {
                let Some((i, name)) = names.get(&e.id()).cloned() else {
                    continue;
                };
                let why = if e.is_panic() {
                    panic_message(e.into_panic())
                } else {
                    "the host's task was cancelled".to_string()
                };
                results.push((i, failed(&name, why)));
            }
        }
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// The text a panic was raised with.
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => match p.downcast::<&'static str>() {
            Ok(s) => s.to_string(),
            Err(_) => "a panic without a message".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str) -> Host {
        Host {
            name: name.to_string(),
            address: None,
            user: None,
            port: None,
        }
    }

    #[tokio::test]
    async fn results_keep_the_hosts_order_and_a_panic_fails_its_host_alone() {
        let hosts = vec![host("a"), host("b"), host("c")];
        let out = fan_out(
            hosts,
            2,
            |h| async move {
                if h.name == "b" {
                    panic!("boom on b");
                }
                // The first host finishes last: order comes from the roster, not the clock.
                if h.name == "a" {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                format!("{} ok", h.name)
            },
            |name, why| format!("{name} failed: {why}"),
        )
        .await;
        assert_eq!(out, ["a ok", "b failed: boom on b", "c ok"]);
    }

    #[tokio::test]
    async fn never_more_than_parallel_at_once() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let hosts = (0..8).map(|i| host(&format!("h{i}"))).collect();
        fan_out(
            hosts,
            3,
            |_| {
                let (now, peak) = (now.clone(), peak.clone());
                async move {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                }
            },
            |_, _| (),
        )
        .await;
        assert_eq!(peak.load(Ordering::SeqCst), 3, "three at once, not more");
    }
}
