//! minikube addons the lab uses (metrics-server for `kubectl top`, dashboard).
use crate::steps::spec::{Spec, no_vars};
use crate::steps::step::Script;
use crate::template::template;

pub static STEP: Script = Script(&SPEC);

static SPEC: Spec = Spec {
    id: "addons",
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
