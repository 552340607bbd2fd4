//! The kubectl binary, at the pinned version (see `section.rs`).
pub mod section;

use tera::Context;

use crate::config::Config;
use crate::steps::spec::{Spec, Undo, UndoWhen};
use crate::steps::step::Script;
use crate::template::template;

pub static STEP: Script = Script(&SPEC);

static SPEC: Spec = Spec {
    id: "kubectl",
    title: "kubectl binary",
    needs: &["facts"],
    needs_root: true,
    check: template!("steps/binary.check.sh"),
    apply: Some(template!("steps/binary.apply.sh")),
    libs: &[template!("steps/download.lib.sh")],
    artifact: Some(|c| &c.artifacts.kubectl),
    vars,
    undo: Some(Undo {
        id: "remove-kubectl",
        template: template!("steps/binary.undo.sh"),
        when: UndoWhen::Purge,
    }),
};

fn vars(cfg: &Config, ctx: &mut Context) {
    crate::steps::binary::vars(
        cfg,
        ctx,
        &cfg.artifacts.kubectl,
        r#""$bin" version --client -o json | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -n 1"#,
    );
}
