//! The Istio release tarball, unpacked whole so `samples/` (Bookinfo, addons) is on the host
//! for the manifests step, with `istioctl` linked into the bin dir.
pub mod section;

use tera::Context;

use crate::config::Config;
use crate::steps::spec::{Spec, Undo, UndoWhen};
use crate::steps::step::Script;
use crate::template::template;

pub static STEP: Script = Script(&SPEC);

static SPEC: Spec = Spec {
    id: "istioctl",
    title: "Istio release and istioctl",
    needs: &["facts"],
    needs_root: true,
    check: template!("steps/istio_release.check.sh"),
    apply: Some(template!("steps/istio_release.apply.sh")),
    libs: &[template!("steps/download.lib.sh")],
    artifact: Some(|c| &c.artifacts.istio),
    vars,
    undo: Some(Undo {
        id: "remove-istioctl",
        template: template!("steps/istio_release.undo.sh"),
        when: UndoWhen::Purge,
    }),
};

/// Where the release is unpacked on the host.
pub fn istio_home(cfg: &Config) -> String {
    format!("{}/istio-{}", cfg.paths.istio_dir, cfg.versions.istio)
}

fn vars(cfg: &Config, ctx: &mut Context) {
    ctx.insert("artifact", &cfg.artifacts.istio);
    ctx.insert("istio_home", &istio_home(cfg));
}
