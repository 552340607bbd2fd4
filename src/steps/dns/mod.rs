//! DNS inside the minikube node: probe, and only if it fails point the node's resolv.conf
//! at the profile's nameserver (the lab guide's manual fix, cilium/cilium#16439).
pub mod section;

use tera::Context;

use crate::config::Config;
use crate::steps::spec::Spec;
use crate::steps::step::Script;
use crate::template::template;

pub static STEP: Script = Script(&SPEC);

static SPEC: Spec = Spec {
    id: "dns",
    title: "node DNS",
    needs: &["cluster"],
    needs_root: false,
    check: template!("steps/dns.check.sh"),
    apply: Some(template!("steps/dns.apply.sh")),
    libs: &[
        template!("steps/dns.lib.sh"),
        template!("steps/cluster.lib.sh"),
    ],
    artifact: None,
    vars,
    undo: None,
};

/// The command run in the node: back up once, then rewrite in place.
fn vars(cfg: &Config, ctx: &mut Context) {
    let ns = &cfg.dns.nameserver;
    ctx.insert(
        "node_fix",
        &format!(
            "[ -e /etc/resolv.conf.labprov.bak ] || sudo cp /etc/resolv.conf /etc/resolv.conf.labprov.bak; \
             printf 'nameserver %s\\n' {ns} | sudo tee /etc/resolv.conf >/dev/null"
        ),
    );
}
