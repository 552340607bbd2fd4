//! The minikube binary, at the pinned version (see `section.rs`).
pub mod section;

use tera::Context;

use crate::config::Config;
use crate::steps::spec::{Spec, Undo, UndoWhen};
use crate::steps::step::Script;
use crate::template::template;

pub static STEP: Script = Script(&SPEC);

static SPEC: Spec = Spec {
    id: "minikube",
    title: "minikube binary",
    needs: &["facts"],
    needs_root: true,
    check: template!("steps/binary.check.sh"),
    apply: Some(template!("steps/binary.apply.sh")),
    libs: &[template!("steps/download.lib.sh")],
    artifact: Some(|c| &c.artifacts.minikube),
    vars,
    undo: Some(Undo {
        id: "remove-minikube",
        template: template!("steps/binary.undo.sh"),
        when: UndoWhen::Purge,
    }),
};

fn vars(cfg: &Config, ctx: &mut Context) {
    crate::steps::binary::vars(
        cfg,
        ctx,
        &cfg.artifacts.minikube,
        r#""$bin" version --short"#,
    );
}
