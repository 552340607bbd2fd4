//! The provisioning steps, in lab order.
//!
//! Each step is one folder here: its `mod.rs` says what it is ([`Spec`]: id, needs, the
//! templates of its check, apply and undo under `templates/steps/`) and how it behaves
//! ([`Step`]: the defaults run its scripts; a step overrides `decide`, `apply` or `undo` when
//! it does more), and its `section.rs`, if it has one, owns its profile section or its pin.
//! The engine never knows what a step does. Adding a step is one folder here plus one line
//! in [`REGISTRY`].

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
pub mod spec;
pub mod step;

pub use crate::template::Template;
pub use spec::{Spec, Undo, UndoWhen, no_vars};
pub use step::{Applied, Cx, Script, Step};

/// Every step, in the order `up` applies them.
pub static REGISTRY: &[&dyn Step] = &[
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

/// What the renderer and the check protocol need of every step, in registry order.
pub fn specs() -> Vec<&'static Spec> {
    REGISTRY.iter().map(|s| s.spec()).collect()
}

pub fn find(id: &str) -> Option<&'static dyn Step> {
    REGISTRY.iter().copied().find(|s| s.spec().id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_point_backwards() {
        for (i, step) in REGISTRY.iter().enumerate() {
            let step = step.spec();
            for need in step.needs {
                let j = REGISTRY.iter().position(|s| s.spec().id == *need);
                assert!(j.is_some_and(|j| j < i), "{} needs {need}", step.id);
            }
        }
    }
}
