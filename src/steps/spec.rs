//! What a step is as data: its id, what it needs, the templates of its read-only *check*, its
//! *apply* and its *undo*, the artifact it downloads and the template variables it adds. The
//! renderer needs no more than this, so it does not depend on how steps behave
//! ([`super::step`]) or on the registry.

use tera::Context;

use crate::config::{Artifact, Config};
use crate::template::Template;

pub struct Spec {
    pub id: &'static str,
    pub title: &'static str,
    /// Steps that must be converged (or applied successfully) before this one applies.
    pub needs: &'static [&'static str],
    /// Whether apply needs root (through `sudo -n` for a non-root user).
    pub needs_root: bool,
    pub check: Template,
    /// The script its apply runs; `None` for a step that is read-only (facts) or applies
    /// otherwise (manifests: object by object).
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

impl Spec {
    /// Every template of the step, for the renderer to register.
    pub fn templates(&self) -> impl Iterator<Item = Template> + '_ {
        std::iter::once(self.check)
            .chain(self.apply)
            .chain(self.undo.map(|u| u.template))
            .chain(self.libs.iter().copied())
    }
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

impl UndoWhen {
    /// Whether a `down` with these flags runs it.
    pub fn wanted(self, purge: bool, purge_docker: bool) -> bool {
        match self {
            UndoWhen::Always => true,
            UndoWhen::Purge => purge,
            UndoWhen::PurgeDocker => purge_docker,
        }
    }
}

/// A step's undo: its own name in reports, its script, and when it runs.
#[derive(Debug, Clone, Copy)]
pub struct Undo {
    pub id: &'static str,
    pub template: Template,
    pub when: UndoWhen,
}

pub fn no_vars(_: &Config, _: &mut Context) {}
