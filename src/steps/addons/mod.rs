//! minikube addons the lab uses (metrics-server for `kubectl top`, dashboard).
use super::{Step, StepKind, no_vars, template};

pub static STEP: Step = Step {
    id: "addons",
    kind: StepKind::Script,
    title: "minikube addons",
    needs: &["cluster"],
    needs_root: false,
    check: template!("steps/addons.check.sh"),
    apply: Some(template!("steps/addons.apply.sh")),
    libs: &[template!("steps/cluster.lib.sh")],
    artifact: None,
    vars: no_vars,
    undo: None,
};
