//! `minikube start` with the docker driver and the Cilium CNI. A running cluster whose
//! settings differ from the profile is *blocked*, never recreated behind the user's back; a
//! new cluster that cannot fit the host (or `auto` below what the lab needs) is blocked in the
//! check phase, before any step installs anything ([`fit`]).
pub mod fit;
pub mod section;

use crate::config::Config;
use crate::error::Error;
use crate::manifests::Scope;
use crate::outcome::{CheckState, HostPlan, StepCheck};
use crate::steps::spec::{Spec, Undo, UndoWhen, no_vars};
use crate::steps::step::{Applied, BoxFuture, Cx, Step, apply_script};
use crate::template::template;
use section::Amount;

pub struct ClusterStep;

pub static STEP: ClusterStep = ClusterStep;

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

impl Step for ClusterStep {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    /// A cluster to start is measured against the host ([`fit::fit`]): one that cannot fit is
    /// blocked with both numbers; otherwise the plan says what `auto` chose. A running cluster
    /// started by `auto` says what it runs with.
    fn decide(&self, cfg: &Config, _: &Scope, plan: &mut HostPlan) {
        let verdict = fit::fit(&cfg.cluster, &plan.facts);
        let running = running_with(plan);
        let Some(check) = plan.steps.iter_mut().find(|s| s.step == SPEC.id) else {
            return;
        };
        match (check.state, verdict) {
            (CheckState::NeedsChange, Err(why)) => {
                check.state = CheckState::Blocked;
                check.reasons.push(why.to_string());
                check.error = Some(why);
            }
            (CheckState::NeedsChange, Ok(Some(f))) => check.reasons.push(format!(
                "will start it with {} CPUs and {} MB{}",
                f.cpus,
                f.memory_mb,
                if f.how.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", f.how)
                }
            )),
            (CheckState::Converged, _)
                if cfg.cluster.cpus == Amount::Auto || cfg.cluster.memory == Amount::Auto =>
            {
                if let Some(r) = running {
                    check.reasons.push(r);
                }
            }
            _ => {}
        }
    }

    /// `minikube start` with the values decided for this host (`auto` resolved).
    fn apply<'a>(
        &'a self,
        cx: &'a Cx<'a>,
        check: &'a StepCheck,
    ) -> BoxFuture<'a, Result<Applied, Error>> {
        Box::pin(async move {
            let mut cfg = cx.cfg.clone();
            match fit::fit(&cx.cfg.cluster, &cx.plan.facts)? {
                Some(f) => {
                    cfg.cluster.cpus = Amount::Fixed(f.cpus);
                    cfg.cluster.memory = Amount::Fixed(f.memory_mb);
                }
                // Not measured: the check found a cluster (its API server did not answer), and
                // minikube start restarts it with its own settings; `auto` asks for those.
                None => {
                    let num = |k: &str| cx.plan.facts.get(k).and_then(|v| v.parse().ok());
                    if let (Amount::Auto, Some(n)) = (cfg.cluster.cpus, num("cluster_cpus")) {
                        cfg.cluster.cpus = Amount::Fixed(n);
                    }
                    if let (Amount::Auto, Some(n)) = (cfg.cluster.memory, num("cluster_memory_mb"))
                    {
                        cfg.cluster.memory = Amount::Fixed(n);
                    }
                }
            }
            let cx = Cx { cfg: &cfg, ..*cx };
            apply_script(&cx, &SPEC, check).await
        })
    }
}

/// What a running cluster was started with (`cluster_cpus` / `cluster_memory_mb`, read by the
/// check from minikube's profile), as a line for `status`.
fn running_with(plan: &HostPlan) -> Option<String> {
    let cpus = plan.facts.get("cluster_cpus")?;
    let mb = plan.facts.get("cluster_memory_mb")?;
    Some(format!("running with {cpus} CPUs and {mb} MB"))
}
