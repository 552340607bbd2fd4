//! Istio in the cluster (`istioctl install --set profile=...`) and sidecar injection
//! for the lab's namespace.
pub mod section;

use crate::steps::spec::{Spec, Undo, UndoWhen, no_vars};
use crate::steps::step::Script;
use crate::template::template;

pub static STEP: Script = Script(&SPEC);

static SPEC: Spec = Spec {
    id: "istio",
    title: "Istio control plane",
    needs: &["cluster", "dns", "istioctl", "kubectl"],
    needs_root: false,
    check: template!("steps/istio.check.sh"),
    apply: Some(template!("steps/istio.apply.sh")),
    libs: &[template!("steps/cluster.lib.sh")],
    artifact: None,
    vars: no_vars,
    undo: Some(Undo {
        id: "uninstall-istio",
        template: template!("steps/istio.undo.sh"),
        when: UndoWhen::Always,
    }),
};
