//! `[cluster]`: the minikube cluster's settings, and the pod pool minikube gives it.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::field::{Layered, Sourced, check_label, one_of, sourced, version};
use crate::error::Result;

// Kubernetes v1.37.0: minikube v1.39.0's newest (a newer patch makes minikube ask GitHub
// first), supported upstream until 2027-10-28 (kubernetes.io/releases/1.37); minikube v1.39.0
// supports v1.28.0 to v1.37.0, default v1.37.0 (pkg/minikube/constants/constants.go
// OldestKubernetesVersion / NewestKubernetesVersion = DefaultKubernetesVersion).
pub const DEFAULT_KUBERNETES: &str = "v1.37.0";

/// The pod address pool of a minikube cluster, whatever its `--cni`: minikube renders Cilium's
/// manifest with `cluster-pool-ipv4-cidr: "{{ .PodSubnet }}"` and fills it with
/// `DefaultPodCIDR` unconditionally (kubernetes/minikube pkg/minikube/cni/cilium.go,
/// `GenerateCiliumYAML`; pkg/minikube/cni/cni.go, `DefaultPodCIDR = "10.244.0.0/16"`), and
/// every other CNI's `CIDR()` returns the same. `--extra-config=kubeadm.pod-network-cidr`
/// reaches kubeadm, not Cilium's pool. So this is the pool in effect, not a choice: Cilium's
/// own default (10.0.0.0/8, where the node resolver of cilium/cilium#16439 collides) is not
/// what minikube runs.
pub const MINIKUBE_POD_CIDR: &str = "10.244.0.0/16";

/// Why `cluster.pod_cidr` is refused: it used to be accepted and did nothing.
pub fn pod_cidr_removed() -> String {
    format!(
        "this key was removed: minikube gives every cluster the pod pool {MINIKUBE_POD_CIDR} \
         (for --cni=cilium too: kubernetes/minikube pkg/minikube/cni/cilium.go), which labprov \
         cannot change; delete the line"
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub driver: Option<Spanned<String>>,
    pub cni: Option<Spanned<String>>,
    pub cpus: Option<Spanned<RawCpus>>,
    pub memory: Option<Spanned<String>>,
    pub kubernetes_version: Option<Spanned<String>>,
    pub addons: Option<Vec<Spanned<String>>>,
    /// Removed (it never reached the cluster); still read so that a profile that sets it is
    /// told why instead of only "unknown field".
    pub pod_cidr: Option<Spanned<String>>,
}

/// `cluster.cpus` as written: a count, or a word (only `"auto"` is one).
#[derive(Debug, Clone)]
pub enum RawCpus {
    Count(u32),
    Word(String),
}

impl<'de> Deserialize<'de> for RawCpus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RawCpus;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of CPUs or \"auto\"")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> std::result::Result<RawCpus, E> {
                u32::try_from(n)
                    .map(RawCpus::Count)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> std::result::Result<RawCpus, E> {
                u32::try_from(n)
                    .map(RawCpus::Count)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(n), &self))
            }
            fn visit_str<E: serde::de::Error>(self, w: &str) -> std::result::Result<RawCpus, E> {
                Ok(RawCpus::Word(w.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A resource the profile fixes, or leaves to `auto` (decided per host from what its container
/// runtime reports: `steps::cluster::fit`). Shown, and rendered into templates, as the number
/// or as `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    Auto,
    Fixed(u64),
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Amount::Auto => s.serialize_str("auto"),
            Amount::Fixed(n) => s.serialize_u64(*n),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    pub driver: String,
    pub cni: String,
    /// CPUs of the node, or `auto`.
    pub cpus: Amount,
    /// The node's memory in MiB (minikube takes a bare number as MB, and reports MiB in its
    /// profile's `Memory`), or `auto`.
    pub memory: Amount,
    /// As the profile wrote it (`8g`), for messages.
    #[serde(skip)]
    pub memory_text: String,
    pub kubernetes_version: String,
    pub addons: Vec<String>,
    /// The pod pool in effect (minikube's, for every CNI; not set by the profile): a node
    /// resolver inside it breaks DNS (cilium/cilium#16439).
    pub pod_cidr: String,
}

pub fn section(l: &Layered<RawCluster>) -> Result<Cluster> {
    let driver = one_of(
        l.pick(|r| r.driver.as_ref()),
        "docker",
        &["docker"],
        "cluster.driver",
    )?;
    let cni = one_of(
        l.pick(|r| r.cni.as_ref()),
        "cilium",
        &["cilium", "calico", "flannel", "kindnet", "bridge", "auto"],
        "cluster.cni",
    )?;
    let cpus = match l.pick(|r| r.cpus.as_ref()) {
        None => Amount::Auto,
        Some(c) => match &c.value {
            RawCpus::Word(w) if w == "auto" => Amount::Auto,
            RawCpus::Word(w) => {
                return Err(c.invalid(
                    "cluster.cpus",
                    format!("`{w}` is not a number of CPUs or \"auto\""),
                ));
            }
            RawCpus::Count(n) if *n >= 2 => Amount::Fixed(u64::from(*n)),
            RawCpus::Count(_) => {
                return Err(c.invalid("cluster.cpus", "minikube needs at least 2 CPUs"));
            }
        },
    };
    let (memory_text, memory) = memory(l.pick(|r| r.memory.as_ref()))?;
    let kubernetes_version = version(
        l.pick(|r| r.kubernetes_version.as_ref()),
        DEFAULT_KUBERNETES,
        true,
        "cluster.kubernetes_version",
    )?;
    let addons = match l.find(|r| r.addons.as_ref()) {
        None => vec!["metrics-server".to_string(), "dashboard".to_string()],
        Some((list, source)) => list
            .iter()
            .map(|a| {
                let s = sourced(a, &source);
                check_label(&s, "cluster.addons").map(|_| s.value)
            })
            .collect::<Result<_>>()?,
    };
    // The pool is minikube's, not the profile's (see MINIKUBE_POD_CIDR). The key stays in the
    // raw schema only so that an old profile hears why, whatever its value.
    if let Some(p) = l.pick(|r| r.pod_cidr.as_ref()) {
        return Err(p.invalid("cluster.pod_cidr", pod_cidr_removed()));
    }
    Ok(Cluster {
        driver,
        cni,
        cpus,
        memory,
        memory_text,
        kubernetes_version,
        addons,
        pod_cidr: MINIKUBE_POD_CIDR.to_string(),
    })
}

fn memory(v: Option<Sourced<String>>) -> Result<(String, Amount)> {
    let Some(v) = v else {
        return Ok(("auto".into(), Amount::Auto));
    };
    let lower = v.value.to_ascii_lowercase();
    if lower == "auto" {
        return Ok((v.value.clone(), Amount::Auto));
    }
    let digits: String = lower.chars().take_while(|c| c.is_ascii_digit()).collect();
    let unit = &lower[digits.len()..];
    let not_a_size = || {
        v.invalid(
            "cluster.memory",
            format!(
                "`{}` is not a size like `8g` or `8192mb`, or \"auto\"",
                v.value
            ),
        )
    };
    let factor = match unit {
        "" | "m" | "mb" => 1,
        "g" | "gb" => 1024,
        _ => return Err(not_a_size()),
    };
    if digits.is_empty() {
        return Err(not_a_size());
    }
    // No machine has 2^64 MiB: a number that does not fit is refused, never wrapped round.
    let too_big = || v.invalid("cluster.memory", format!("`{}` is too large", v.value));
    let mib = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(too_big)?;
    if mib < 1800 {
        return Err(v.invalid("cluster.memory", "minikube needs at least 1800 MB"));
    }
    Ok((v.value.clone(), Amount::Fixed(mib)))
}
