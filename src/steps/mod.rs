//! The provisioning steps, in lab order.
//!
//! A step is data: its id, what it needs, and the templates of its read-only *check* and of
//! its *apply*. The engine never knows what a step does; it renders the check, asks the host
//! once for every check, and applies what is not converged. Adding a step is one file here
//! plus one line in [`REGISTRY`].

use tera::Context;

use crate::config::{Artifact, Config};

pub mod addons;
pub mod binary;
pub mod cluster;
pub mod dns;
pub mod docker;
pub mod facts;
pub mod istio;
pub mod istio_release;
pub mod kubectl;
pub mod manifests;
pub mod minikube;

pub use crate::template::Template;
pub(crate) use crate::template::template;

/// How a step applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// Its apply template is run on the host.
    Script,
    /// The lab's manifests: the controller decides object by object (see `manifests`).
    Manifests,
}

pub struct Step {
    pub id: &'static str,
    pub kind: StepKind,
    pub title: &'static str,
    /// Steps that must be converged (or applied successfully) before this one applies.
    pub needs: &'static [&'static str],
    /// Whether apply needs root (through `sudo -n` for a non-root user).
    pub needs_root: bool,
    pub check: Template,
    /// `None` for read-only steps such as facts.
    pub apply: Option<Template>,
    /// Templates the step's templates include.
    pub libs: &'static [Template],
    /// The artifact the apply downloads, so push mode can stream it from the controller.
    pub artifact: Option<fn(&Config) -> &Artifact>,
    /// Extra template variables beyond the profile (`cfg`).
    pub vars: fn(&Config, &mut Context),
    /// What `down` runs for this step, if anything.
    pub undo: Option<Undo>,
}

/// When `down` undoes a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndoWhen {
    /// Every `down` (the cluster and what is in it).
    Always,
    /// `down --purge` (binaries, the Istio release, labprov's state).
    Purge,
    /// `down --purge-docker` only.
    PurgeDocker,
}

/// A step's undo: its own name in reports, its script, and when it runs.
#[derive(Debug, Clone, Copy)]
pub struct Undo {
    pub id: &'static str,
    pub template: Template,
    pub when: UndoWhen,
}

pub fn no_vars(_: &Config, _: &mut Context) {}

/// Every step, in the order `up` applies them.
pub static REGISTRY: &[&Step] = &[
    &facts::STEP,
    &docker::STEP,
    &minikube::STEP,
    &kubectl::STEP,
    &istio_release::STEP,
    &cluster::STEP,
    &addons::STEP,
    &dns::STEP,
    &istio::STEP,
    &manifests::STEP,
];

pub fn find(id: &str) -> Option<&'static Step> {
    REGISTRY.iter().copied().find(|s| s.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_point_backwards() {
        for (i, step) in REGISTRY.iter().enumerate() {
            for need in step.needs {
                let j = REGISTRY.iter().position(|s| s.id == *need);
                assert!(j.is_some_and(|j| j < i), "{} needs {need}", step.id);
            }
        }
    }
}
