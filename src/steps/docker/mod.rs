//! Docker Engine from Docker's own apt repository, its service, and the user in group
//! `docker`. Adding the group asks the engine to reconnect: the open session keeps its old
//! groups, which is the trap `newgrp` works around interactively.
pub mod section;

use crate::steps::spec::{Spec, Undo, UndoWhen, no_vars};
use crate::steps::step::Script;
use crate::template::template;

pub static STEP: Script = Script(&SPEC);

static SPEC: Spec = Spec {
    id: "docker",
    title: "Docker Engine",
    needs: &["facts"],
    needs_root: true,
    check: template!("steps/docker.check.sh"),
    apply: Some(template!("steps/docker.apply.sh")),
    libs: &[
        template!("steps/docker.lib.sh"),
        template!("steps/apt.lib.sh"),
    ],
    artifact: None,
    vars: no_vars,
    undo: Some(Undo {
        id: "remove-docker",
        template: template!("steps/docker.undo.sh"),
        when: UndoWhen::PurgeDocker,
    }),
};
