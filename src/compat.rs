//! What the upstream tools labprov drives do and support, as data, with where it was read.
//!
//! Kept apart from [`crate::config`] so that a change of upstream's tables is one edit here,
//! next to its source. The pins themselves are stated by the steps that install them
//! (`steps/<step>/section.rs`).

// The pod pool minikube gives a cluster is upstream fact too; the cluster step, which owns
// it, states it (crate::steps::cluster::section::MINIKUBE_POD_CIDR).

/// The Kubernetes minors each Istio minor supports, from Istio's own table: istio.io "Supported
/// Releases" (https://istio.io/latest/docs/releases/supported-releases/), generated from
/// istio/istio.io data/compatibility/supportStatus.yml, as of its 2026-09-30 edit ("update
/// support k8s versions", #17638, which added 1.37 to 1.31). End of life there: 1.26 Dec 22,
/// 2025; 1.27 Apr 7, 2026; 1.28 Jul 1, 2026; 1.29 Oct 12, 2026; 1.30 ~Nov 2026; 1.31 ~Feb 2027
/// (expected). Older minors are not listed: labprov does not vouch for them.
pub const ISTIO_SUPPORT: &[IstioSupport] = &[
    IstioSupport::new(31, 32, 37),
    IstioSupport::new(30, 32, 36),
    IstioSupport::new(29, 31, 35),
    IstioSupport::new(28, 30, 34),
    IstioSupport::new(27, 29, 33),
    IstioSupport::new(26, 29, 33),
];

/// Where [`ISTIO_SUPPORT`] comes from, as the refusal names it.
pub const ISTIO_SOURCE: &str = "Istio's supported releases, \
    https://istio.io/latest/docs/releases/supported-releases/ \
    (istio/istio.io data/compatibility/supportStatus.yml)";

/// kubectl is supported within one minor version (older or newer) of the API server.
pub const KUBECTL_SKEW: u32 = 1;
pub const KUBECTL_SOURCE: &str = "Kubernetes' version skew policy, \
    https://kubernetes.io/releases/version-skew-policy/#kubectl";

/// One row of Istio's table: Istio 1.`istio` supports Kubernetes 1.`k8s.0` to 1.`k8s.1`.
#[derive(Debug, Clone, Copy)]
pub struct IstioSupport {
    pub istio: u32,
    pub k8s: (u32, u32),
}

impl IstioSupport {
    const fn new(istio: u32, oldest: u32, newest: u32) -> IstioSupport {
        IstioSupport {
            istio,
            k8s: (oldest, newest),
        }
    }
}

/// (major, minor) of `1.31.1` or `v1.37.0`; validation already checked the shape.
fn minor(version: &str) -> (u32, u32) {
    let mut parts = version.trim_start_matches('v').split('.');
    let mut next = || parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (next(), next())
}

/// What is wrong with the pairing of versions in `cfg`, if anything: the field to blame (the
/// one set closest to the profile the user named), and why. `None` when supported.
pub fn unsupported(
    cfg: &crate::config::Config,
    layers: &[crate::profile::Layer],
) -> Option<crate::error::Error> {
    use crate::profile::Sourced;
    // Where a version is set: (how far from the named profile, the value with its place).
    type Get = fn(&crate::profile::RawProfile) -> Option<&toml::Spanned<String>>;
    let at = |get: Get| -> Option<(usize, Sourced<String>)> {
        layers.iter().enumerate().find_map(|(i, l)| {
            get(&l.raw).map(|s| {
                (
                    i,
                    Sourced {
                        value: s.get_ref().clone(),
                        span: s.span(),
                        source: l.source.clone(),
                    },
                )
            })
        })
    };
    let istio_at = at(|r| r.versions.as_ref()?.istio.as_ref());
    let kubectl_at = at(|r| r.versions.as_ref()?.kubectl.as_ref());
    let k8s_at = at(|r| r.cluster.as_ref()?.kubernetes_version.as_ref());
    let place = |a: &Option<(usize, Sourced<String>)>| match a {
        Some((_, s)) => {
            let sn = s.source.snippet(s.span.clone());
            format!("at {}:{}:{}", sn.file.display(), sn.line, sn.col)
        }
        None => "labprov's default".to_string(),
    };
    // Blame the value set nearest the named profile (the user's edit); on a tie, `first`.
    let blame = |first: (&str, &Option<(usize, Sourced<String>)>),
                 second: (&str, &Option<(usize, Sourced<String>)>),
                 reason: String|
     -> crate::error::Error {
        let depth =
            |a: &Option<(usize, Sourced<String>)>| a.as_ref().map_or(usize::MAX, |(i, _)| *i);
        let (field, a) = if depth(second.1) < depth(first.1) {
            second
        } else {
            first
        };
        match a {
            Some((_, s)) => s.invalid(field, reason),
            None => crate::error::Error::ProfileInvalid {
                path: cfg.path.clone(),
                message: reason,
            },
        }
    };

    let (im, i) = minor(&cfg.versions.istio);
    let (km, k) = minor(&cfg.cluster.kubernetes_version);
    let (cm, c) = minor(&cfg.versions.kubectl);
    let k8s_desc = format!(
        "cluster.kubernetes_version = {} ({})",
        cfg.cluster.kubernetes_version,
        place(&k8s_at)
    );
    let advice = "pick a supported pair, or pass --allow-unsupported to go ahead anyway";
    if im != 1 || km != 1 {
        return Some(blame(
            ("versions.istio", &istio_at),
            ("cluster.kubernetes_version", &k8s_at),
            format!("only Istio 1.x on Kubernetes 1.x is known; {advice}"),
        ));
    }
    match ISTIO_SUPPORT.iter().find(|r| r.istio == i) {
        None => {
            let known: Vec<String> = ISTIO_SUPPORT
                .iter()
                .map(|r| format!("1.{}", r.istio))
                .collect();
            return Some(blame(
                ("versions.istio", &istio_at),
                ("versions.istio", &istio_at),
                format!(
                    "Istio 1.{i} is not in labprov's table of supported pairs (Istio {}; from \
                     {ISTIO_SOURCE}); {advice}",
                    known.join(", ")
                ),
            ));
        }
        Some(row) if k < row.k8s.0 || k > row.k8s.1 => {
            return Some(blame(
                ("versions.istio", &istio_at),
                ("cluster.kubernetes_version", &k8s_at),
                format!(
                    "Istio 1.{i} supports Kubernetes 1.{} to 1.{}, not 1.{k} ({k8s_desc}; \
                     versions.istio = {} ({})); per {ISTIO_SOURCE}; {advice}",
                    row.k8s.0,
                    row.k8s.1,
                    cfg.versions.istio,
                    place(&istio_at)
                ),
            ));
        }
        Some(_) => {}
    }
    if cm != km || c.abs_diff(k) > KUBECTL_SKEW {
        return Some(blame(
            ("versions.kubectl", &kubectl_at),
            ("cluster.kubernetes_version", &k8s_at),
            format!(
                "kubectl {} is more than {KUBECTL_SKEW} minor version away from Kubernetes {} \
                 ({k8s_desc}; versions.kubectl = {} ({})); per {KUBECTL_SOURCE}; {advice}",
                cfg.versions.kubectl,
                cfg.cluster.kubernetes_version,
                cfg.versions.kubectl,
                place(&kubectl_at)
            ),
        ));
    }
    None
}
