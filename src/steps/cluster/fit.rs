//! Whether the profile's cluster fits the host, and what `auto` picks: decided from the facts
//! of the check alone (pure), so `plan`, `status`, `up` (and `doctor`) give the same verdict
//! before anything is installed.
//!
//! The check reports what a new cluster would be measured against (`runtime_*` facts, only
//! when no cluster runs: a running one fits by definition): the container runtime's CPUs and
//! memory as minikube reads them, `docker info` `NCPU` and `MemTotal` in bytes / 2^20
//! (kubernetes/minikube cmd/minikube/cmd/start.go `memoryLimits`: `containerLimit =
//! util.ConvertBytesToMB(s.TotalMemory)`; `validateCPUCount`: `si.CPUs`). Before Docker is
//! installed the host's own figures stand in: dockerd reports the kernel's `MemTotal` and CPU
//! count, which is what minikube's `sysLimit` (gopsutil, /proc/meminfo) also reads.
use std::collections::BTreeMap;

use super::section::{Amount, Cluster};
use crate::error::Error;

/// What `auto` leaves to the VM itself (Docker, sshd, the node's own overhead beside its
/// limit): minikube's own advice, which warns above `sysLimit - 1024` ("Recommend 1GB to
/// handle OS/VM overhead", start.go `validateRequestedMemorySize`).
pub const HEADROOM_MB: u64 = 1024;
/// `auto` never asks more memory than this: Istio's minikube setup names 16384 MB as
/// sufficient for Istio and Bookinfo (istio.io docs/setup/platform-setup/minikube).
pub const MAX_AUTO_MEMORY_MB: u64 = 16384;
/// `auto` never asks more CPUs than this: a single-node lab gains nothing past it (Istio's
/// minikube setup runs on 4), and a big VM keeps the rest for itself.
pub const MAX_AUTO_CPUS: u64 = 8;
/// The least a container runtime must report for `auto`: Istio's Docker Desktop setup asks
/// "8.0 GB of memory and 4 CPUs" for the Docker that runs Istio and Bookinfo
/// (istio.io docs/setup/platform-setup/docker: "8 GB is sufficient to run Istio and
/// Bookinfo"). A VM sold as 8 GB reports less (its kernel keeps some: 7940 MB on CrownLabs'),
/// so the floor is 7.5 GiB of what the runtime reports.
pub const MIN_RUNTIME_MEMORY_MB: u64 = 7680;
pub const MIN_CPUS: u64 = 4;

/// What the cluster will be started with on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fit {
    pub cpus: u64,
    pub memory_mb: u64,
    /// How it was decided, for `plan` and `status` (e.g. `memory auto: 7940 MB less 1024, at
    /// most 16384; cpus auto: all 4, at most 8`).
    pub how: String,
}

/// The container runtime's CPUs and memory (MB) as the check reported them, and whether they
/// are Docker's own answer or the host's figures (Docker not usable yet). `None` when the
/// check did not measure them: a cluster runs, or the check did not get that far.
pub fn runtime(facts: &BTreeMap<String, String>) -> Option<(u64, u64, bool)> {
    let num = |k: &str| facts.get(k).and_then(|v| v.trim().parse::<u64>().ok());
    Some((
        num("runtime_cpus")?,
        num("runtime_mem_mb")?,
        facts.get("runtime_from").is_some_and(|f| f == "docker"),
    ))
}

/// The cluster this profile asks for on a host with these facts: `Ok(None)` when there is
/// nothing to decide (a cluster runs already), `Err` (a plan error naming both numbers) when
/// it cannot fit, or when `auto` would go below what Istio's demo profile needs.
pub fn fit(cluster: &Cluster, facts: &BTreeMap<String, String>) -> Result<Option<Fit>, Error> {
    let (Some((memory_mb, memory_how)), Some((cpus, cpus_how))) =
        (memory(cluster, facts)?, cpus(cluster, facts)?)
    else {
        return Ok(None);
    };
    Ok(Some(Fit {
        cpus,
        memory_mb,
        how: [memory_how, cpus_how]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; "),
    }))
}

/// Whose figures the runtime's are, for a refusal.
fn whose(from_docker: bool) -> &'static str {
    if from_docker {
        "the container runtime reports (docker info, as minikube reads it)"
    } else {
        "this host has (Docker is not usable yet; it will report the same)"
    }
}

/// The memory (MB) a new cluster gets, and how `auto` chose it: [`fit`]'s memory half (doctor
/// reports it on its own line).
pub fn memory(
    cluster: &Cluster,
    facts: &BTreeMap<String, String>,
) -> Result<Option<(u64, Option<String>)>, Error> {
    let Some((_, have_mb, from_docker)) = runtime(facts) else {
        return Ok(None);
    };
    let whose = whose(from_docker);
    Ok(Some(match cluster.memory {
        Amount::Fixed(mb) if mb > have_mb => {
            return Err(Error::plan(format!(
                "cluster.memory = {} ({mb} MB) is more than the {have_mb} MB {whose}: \
                 minikube would refuse it (RSRC_OVER_ALLOC_MEM); set cluster.memory = \"auto\" \
                 or at most {}",
                cluster.memory_text,
                have_mb.saturating_sub(HEADROOM_MB)
            )));
        }
        Amount::Fixed(mb) => (mb, None),
        Amount::Auto if have_mb < MIN_RUNTIME_MEMORY_MB => {
            return Err(Error::plan(format!(
                "cluster.memory = \"auto\": the {have_mb} MB {whose} is less than the \
                 {MIN_RUNTIME_MEMORY_MB} MB Istio's demo profile with Bookinfo needs (istio.io \
                 platform setup for Docker: 8 GB); give the VM more memory, or set \
                 cluster.memory to what you accept"
            )));
        }
        Amount::Auto => (
            (have_mb - HEADROOM_MB).min(MAX_AUTO_MEMORY_MB),
            Some(format!(
                "memory auto: {have_mb} MB less {HEADROOM_MB}, at most {MAX_AUTO_MEMORY_MB}"
            )),
        ),
    }))
}

/// The CPUs a new cluster gets, and how `auto` chose them: [`fit`]'s CPU half.
pub fn cpus(
    cluster: &Cluster,
    facts: &BTreeMap<String, String>,
) -> Result<Option<(u64, Option<String>)>, Error> {
    let Some((have_cpus, _, from_docker)) = runtime(facts) else {
        return Ok(None);
    };
    let whose = whose(from_docker);
    Ok(Some(match cluster.cpus {
        Amount::Fixed(n) if n > have_cpus => {
            return Err(Error::plan(format!(
                "cluster.cpus = {n} is more than the {have_cpus} CPUs {whose}: minikube would \
                 refuse it (RSRC_INSUFFICIENT_CORES); set cluster.cpus = \"auto\" or at most \
                 {have_cpus}"
            )));
        }
        Amount::Fixed(n) => (n, None),
        Amount::Auto if have_cpus < MIN_CPUS => {
            return Err(Error::plan(format!(
                "cluster.cpus = \"auto\": the {have_cpus} CPUs {whose} are fewer than the \
                 {MIN_CPUS} Istio's demo profile with Bookinfo needs (istio.io platform setup \
                 for Docker and minikube: 4 CPUs); give the VM more CPUs, or set cluster.cpus \
                 to what you accept"
            )));
        }
        Amount::Auto => (
            have_cpus.min(MAX_AUTO_CPUS),
            Some(format!(
                "cpus auto: all {have_cpus}, at most {MAX_AUTO_CPUS}"
            )),
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(cpus: Amount, memory: Amount, text: &str) -> Cluster {
        let source = std::sync::Arc::new(crate::config::field::Source {
            path: "empty.toml".into(),
            text: String::new(),
        });
        let raw = crate::profile::parse(&source).expect("an empty profile parses");
        let layers = [crate::profile::Layer { source, raw }];
        let mut c = crate::config::Config::from_layers(&layers).unwrap().cluster;
        c.cpus = cpus;
        c.memory = memory;
        c.memory_text = text.into();
        c
    }

    fn facts(cpus: u64, mb: u64, from: &str) -> BTreeMap<String, String> {
        [
            ("runtime_cpus", cpus.to_string()),
            ("runtime_mem_mb", mb.to_string()),
            ("runtime_from", from.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    #[test]
    fn auto_takes_what_the_runtime_reports_less_the_headroom() {
        let auto = cluster(Amount::Auto, Amount::Auto, "auto");
        let f = fit(&auto, &facts(4, 7940, "docker")).unwrap().unwrap();
        assert_eq!((f.cpus, f.memory_mb), (4, 6916));
        let big = fit(&auto, &facts(32, 128_000, "docker")).unwrap().unwrap();
        assert_eq!((big.cpus, big.memory_mb), (8, 16384));
        // A running cluster (no runtime facts): nothing to decide.
        assert_eq!(fit(&auto, &BTreeMap::new()).unwrap(), None);
    }

    #[test]
    fn auto_below_istios_needs_and_explicit_values_that_cannot_fit_are_refused() {
        let auto = cluster(Amount::Auto, Amount::Auto, "auto");
        let small = fit(&auto, &facts(4, 5940, "host")).unwrap_err().to_string();
        assert!(
            small.contains("5940 MB") && small.contains("7680"),
            "{small}"
        );
        let few = fit(&auto, &facts(2, 7940, "docker"))
            .unwrap_err()
            .to_string();
        assert!(
            few.contains("2 CPUs") && few.contains("fewer than the 4"),
            "{few}"
        );
        let eight = cluster(Amount::Auto, Amount::Fixed(8192), "8g");
        let e = fit(&eight, &facts(4, 7940, "docker"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cluster.memory = 8g (8192 MB) is more than the 7940 MB"),
            "{e}"
        );
        let six = cluster(Amount::Fixed(6), Amount::Fixed(4096), "4g");
        let e = fit(&six, &facts(4, 7940, "docker"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cluster.cpus = 6 is more than the 4 CPUs"),
            "{e}"
        );
        // Explicit values below Istio's floor are the user's choice.
        let two = cluster(Amount::Fixed(2), Amount::Fixed(4096), "4g");
        let f = fit(&two, &facts(2, 5940, "docker")).unwrap().unwrap();
        assert_eq!((f.cpus, f.memory_mb), (2, 4096));
    }
}
