//! The lab's bundles: which objects each holds, what it needs and conflicts with, and what
//! `lab.bundles` selects by default. A leaf (it names no config), so the `[lab]` section can
//! check a selection without depending on the controller in [`crate::manifests`].

use crate::error::Error;
use crate::template::Template;

pub struct Bundle {
    pub id: &'static str,
    pub title: &'static str,
    /// Bundles whose objects this one refers to.
    pub needs: &'static [&'static str],
    /// Bundles that define the same objects (they cannot both be selected).
    pub conflicts: &'static [&'static str],
    /// labprov's own templates from `yamls/`.
    pub own: &'static [Template],
    /// Files of the unpacked Istio release, relative to its top directory (globs allowed).
    pub release: &'static [&'static str],
    pub waits: Waits,
}

pub enum Waits {
    None,
    /// Every Deployment of the bundle.
    AllDeployments,
    /// These `namespace/name` Deployments.
    Named(&'static [&'static str]),
}

macro_rules! yaml {
    ($path:literal) => {
        Template {
            name: $path,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/yamls/", $path)),
        }
    };
}

/// Every bundle, in lab order.
pub static BUNDLES: &[Bundle] = &[
    Bundle {
        id: "hello-node",
        title: "hello-node deployment, its service, the exercise namespaces (guide 2.3, 3.3, 4.6)",
        needs: &[],
        conflicts: &[],
        own: &[yaml!("namespaces.yaml"), yaml!("hello-node.yaml")],
        release: &[],
        waits: Waits::AllDeployments,
    },
    Bundle {
        id: "netpol-deny-all",
        title: "exercise 3.3: deny all ingress",
        needs: &["hello-node"],
        conflicts: &[],
        own: &[yaml!("deny-all-ingress.yaml")],
        release: &[],
        waits: Waits::None,
    },
    Bundle {
        id: "netpol-allow-specific",
        title: "exercise 3.4: allow ingress from labelled pods",
        needs: &["hello-node"],
        conflicts: &[],
        own: &[yaml!("allow-specific-ingress.yaml")],
        release: &[],
        waits: Waits::None,
    },
    Bundle {
        id: "netpol-restrict-egress",
        title: "exercise 3.5: egress to a CIDR and DNS only",
        needs: &["hello-node"],
        conflicts: &[],
        own: &[yaml!("restrict-egress.yaml")],
        release: &[],
        waits: Waits::None,
    },
    Bundle {
        id: "bookinfo",
        title: "Bookinfo and its gateway (guide 4.4)",
        needs: &[],
        conflicts: &[],
        own: &[],
        release: &[
            "samples/bookinfo/platform/kube/bookinfo.yaml",
            "samples/bookinfo/networking/bookinfo-gateway.yaml",
        ],
        waits: Waits::AllDeployments,
    },
    Bundle {
        id: "destination-rules",
        title: "Bookinfo destination rules (guide 4.5)",
        needs: &["bookinfo"],
        conflicts: &[],
        own: &[],
        release: &["samples/bookinfo/networking/destination-rule-all.yaml"],
        waits: Waits::None,
    },
    Bundle {
        id: "routing-all-v1",
        title: "exercise 4.5: all traffic to v1",
        needs: &["destination-rules"],
        conflicts: &["routing-weighted"],
        own: &[],
        release: &["samples/bookinfo/networking/virtual-service-all-v1.yaml"],
        waits: Waits::None,
    },
    Bundle {
        id: "routing-weighted",
        title: "exercise 4.5: weighted routing of reviews",
        needs: &["destination-rules"],
        conflicts: &["routing-all-v1"],
        own: &[yaml!("istio-weighted-routing.yaml")],
        release: &[],
        waits: Waits::None,
    },
    Bundle {
        id: "mtls-strict",
        title: "exercise 4.6: mesh-wide mTLS",
        needs: &[],
        conflicts: &[],
        own: &[yaml!("mTLS-strict.yaml")],
        release: &[],
        waits: Waits::None,
    },
    Bundle {
        id: "exercise-pods",
        title: "the pods the exercises create by hand: test-pod (3.2), pod1-pod4 (3.3-3.5), \
                legacy-app (4.6)",
        needs: &["hello-node"],
        conflicts: &[],
        own: &[yaml!("exercise-pods.yaml")],
        release: &[],
        waits: Waits::None,
    },
    Bundle {
        id: "addons",
        title: "Kiali, Grafana, Jaeger, Prometheus, and tracing to Jaeger turned on (guide 4.7)",
        needs: &[],
        conflicts: &[],
        own: &[yaml!("tracing.yaml")],
        release: &["samples/addons/*.yaml"],
        waits: Waits::Named(&[
            "istio-system/kiali",
            "istio-system/grafana",
            "istio-system/jaeger",
            "istio-system/prometheus",
        ]),
    },
];

/// The environment a student starts the lab with; exercise solutions only when selected.
pub const DEFAULT_BUNDLES: &[&str] = &["hello-node", "bookinfo", "destination-rules", "addons"];

pub fn bundle(id: &str) -> Option<&'static Bundle> {
    BUNDLES.iter().find(|b| b.id == id)
}

/// The message for a bundle name that does not exist, with a suggestion.
pub fn unknown_bundle(name: &str) -> String {
    let best = BUNDLES
        .iter()
        .map(|b| (strsim::jaro_winkler(name, b.id), b.id))
        .filter(|(s, _)| *s > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let all: Vec<&str> = BUNDLES.iter().map(|b| b.id).collect();
    match best {
        Some((_, b)) => format!(
            "no bundle `{name}`: did you mean `{b}`? (bundles: {})",
            all.join(", ")
        ),
        None => format!("no bundle `{name}` (bundles: {})", all.join(", ")),
    }
}

/// A selection must include what each bundle needs and no two conflicting bundles.
pub fn check_selection(names: &[String]) -> Result<(), Error> {
    for name in names {
        let b = bundle(name).ok_or_else(|| Error::plan(unknown_bundle(name)))?;
        if let Some(need) = b.needs.iter().find(|n| !names.iter().any(|x| x == *n)) {
            return Err(Error::plan(format!(
                "bundle `{name}` needs `{need}`, which is not selected"
            )));
        }
        if let Some(c) = b.conflicts.iter().find(|c| names.iter().any(|x| x == *c)) {
            return Err(Error::plan(format!(
                "bundles `{name}` and `{c}` define the same objects: select one"
            )));
        }
    }
    Ok(())
}
