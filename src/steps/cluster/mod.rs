//! `minikube start` with the docker driver and the Cilium CNI. A running cluster whose
//! settings differ from the profile is *blocked*, never recreated behind the user's back.
pub mod section;

use crate::steps::spec::{Spec, Undo, UndoWhen, no_vars};
use crate::steps::step::Script;
use crate::template::template;

pub static STEP: Script = Script(&SPEC);

static SPEC: Spec = Spec {
    id: "cluster",
    title: "minikube cluster",
    needs: &["docker", "minikube"],
    needs_root: false,
    check: template!("steps/cluster.check.sh"),
    apply: Some(template!("steps/cluster.apply.sh")),
    libs: &[template!("steps/cluster.lib.sh")],
    artifact: None,
    vars: no_vars,
    undo: Some(Undo {
        id: "delete-cluster",
        template: template!("steps/cluster.undo.sh"),
        when: UndoWhen::Always,
    }),
};
