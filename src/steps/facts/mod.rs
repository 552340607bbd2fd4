//! Facts: OS, architecture, resources, sudo. Read-only; the engine checks them against
//! what labprov supports before any other step applies.
use super::{Step, StepKind, no_vars, template};

pub static STEP: Step = Step {
    id: "facts",
    kind: StepKind::Script,
    title: "host facts",
    needs: &[],
    needs_root: false,
    check: template!("steps/facts.check.sh"),
    apply: None,
    libs: &[],
    artifact: None,
    vars: no_vars,
    undo: None,
};
