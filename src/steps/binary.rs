//! minikube and kubectl: single binaries, downloaded, checked against their sha256, and
//! renamed into place. Converged means the installed binary reports the pinned version.
use tera::Context;

use super::{Step, StepKind, Undo, UndoWhen, template};
use crate::config::Config;

pub static MINIKUBE: Step = Step {
    id: "minikube",
    kind: StepKind::Script,
    title: "minikube binary",
    needs: &["facts"],
    needs_root: true,
    check: template!("steps/binary.check.sh"),
    apply: Some(template!("steps/binary.apply.sh")),
    libs: &[template!("steps/download.lib.sh")],
    artifact: Some(|c| &c.artifacts.minikube),
    vars: minikube_vars,
    undo: Some(Undo {
        id: "remove-minikube",
        template: template!("steps/binary.undo.sh"),
        when: UndoWhen::Purge,
    }),
};

pub static KUBECTL: Step = Step {
    id: "kubectl",
    kind: StepKind::Script,
    title: "kubectl binary",
    needs: &["facts"],
    needs_root: true,
    check: template!("steps/binary.check.sh"),
    apply: Some(template!("steps/binary.apply.sh")),
    libs: &[template!("steps/download.lib.sh")],
    artifact: Some(|c| &c.artifacts.kubectl),
    vars: kubectl_vars,
    undo: Some(Undo {
        id: "remove-kubectl",
        template: template!("steps/binary.undo.sh"),
        when: UndoWhen::Purge,
    }),
};

fn minikube_vars(cfg: &Config, ctx: &mut Context) {
    ctx.insert("artifact", &cfg.artifacts.minikube);
    ctx.insert("dest", &format!("{}/minikube", cfg.paths.bin_dir));
    ctx.insert("version_cmd", r#""$bin" version --short"#);
}

fn kubectl_vars(cfg: &Config, ctx: &mut Context) {
    ctx.insert("artifact", &cfg.artifacts.kubectl);
    ctx.insert("dest", &format!("{}/kubectl", cfg.paths.bin_dir));
    ctx.insert(
        "version_cmd",
        r#""$bin" version --client -o json | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -n 1"#,
    );
}
