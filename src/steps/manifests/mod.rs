//! The lab's Kubernetes and Istio objects. The check brings back the host's part (last
//! applied state, the cluster's identity, the Istio release's sample files); the controller
//! decides object by object what to create, change or prune (see `crate::manifests`).
pub mod section;

pub mod bundles;
use tera::Context;

use super::{Step, StepKind, Undo, UndoWhen, template};
use crate::config::Config;

pub static STEP: Step = Step {
    id: "manifests",
    kind: StepKind::Manifests,
    title: "lab manifests",
    needs: &["istio", "kubectl", "istioctl"],
    needs_root: false,
    check: template!("steps/manifests.check.sh"),
    apply: None,
    libs: &[template!("steps/cluster.lib.sh")],
    artifact: None,
    vars,
    undo: Some(Undo {
        id: "delete-objects",
        template: template!("steps/manifests.undo.sh"),
        when: UndoWhen::Always,
    }),
};

fn vars(cfg: &Config, ctx: &mut Context) {
    ctx.insert("istio_home", &super::istio_release::istio_home(cfg));
    ctx.insert("state_path", crate::manifests::STATE_PATH);
    // The engine inserts `release_files` for the run's scope; default to the profile's.
    if !ctx.contains_key("release_files") {
        ctx.insert(
            "release_files",
            &crate::manifests::Scope::profile(cfg).release_files(),
        );
    }
}
