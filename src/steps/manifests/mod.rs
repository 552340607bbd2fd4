//! The lab's Kubernetes and Istio objects. The check brings back the host's part (last
//! applied state, the cluster's identity, the Istio release's sample files by sha256, whose
//! content `gather` takes from the controller's cache or, for new ones, in one more round
//! trip); this step decides object by object what to create, change or prune (with the
//! pure planning of [`crate::manifests`]) and applies bundle by bundle. `down` deletes every
//! object labprov owns, and with `--purge` its state on the host.
pub mod bundles;
pub mod section;

use std::collections::BTreeMap;

use tera::Context;

use crate::config::Config;
use crate::error::{Error, tail};
use crate::manifests::{self, ManifestPlan, Scope};
use crate::outcome::{CheckState, HostPlan, StepCheck};
use crate::steps::spec::{Spec, Undo, UndoWhen};
use crate::steps::step::{Applied, BoxFuture, Cx, Step, parse_checks, undo_script};
use crate::template::template;
use crate::transport::{Payload, Transport};

pub struct Manifests;

pub static STEP: Manifests = Manifests;

static SPEC: Spec = Spec {
    id: "manifests",
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

impl Step for Manifests {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn in_apply(&self) -> bool {
        true
    }

    fn gather<'a>(
        &'a self,
        cfg: &'a Config,
        host: &'a str,
        transport: &'a Transport,
        plan: &'a mut HostPlan,
    ) -> BoxFuture<'a, ()> {
        Box::pin(release_files(cfg, host, transport, plan))
    }

    fn decide(&self, cfg: &Config, scope: &Scope, plan: &mut HostPlan) {
        decide(cfg, scope, plan);
    }

    fn apply<'a>(
        &'a self,
        cx: &'a Cx<'a>,
        _check: &'a StepCheck,
    ) -> BoxFuture<'a, Result<Applied, Error>> {
        Box::pin(apply(cx))
    }

    fn undo<'a>(&'a self, cx: &'a Cx<'a>, purge: bool) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(undo(cx, purge))
    }
}

fn vars(cfg: &Config, ctx: &mut Context) {
    ctx.insert("istio_home", &crate::steps::istio_release::istio_home(cfg));
    ctx.insert("state_path", crate::manifests::STATE_PATH);
    // The engine inserts `release_files` for the run's scope; default to the profile's.
    if !ctx.contains_key("release_files") {
        ctx.insert(
            "release_files",
            &crate::manifests::Scope::profile(cfg).release_files(),
        );
    }
}

/// The manifests check names the Istio release's files by hash: take them from the
/// controller's cache, and those it lacks from the host in one more round trip.
async fn release_files(cfg: &Config, host: &str, transport: &Transport, plan: &mut HostPlan) {
    let cache = &cfg.artifacts.cache_dir;
    let done = match crate::manifests::release_from_cache(cache, &mut plan.data) {
        Ok(None) => Ok(()),
        Ok(Some(script)) => transport.run(&script, None).await.map(|out| {
            let fetched = parse_checks(host, &out, &[]).data;
            crate::manifests::release_fetched(cache, &mut plan.data, fetched);
        }),
        Err(e) => Err(e),
    };
    if let Err(why) = done
        && let Some(check) = plan
            .steps
            .iter_mut()
            .find(|s| s.step == SPEC.id && s.state == CheckState::Converged)
    {
        check.state = CheckState::Error;
        check.reasons = vec![why.to_string()];
        check.error = Some(why);
    }
}

/// Turn the manifests check's data into a decision, and the step's state with it.
fn decide(cfg: &Config, scope: &Scope, plan: &mut HostPlan) {
    let decided = match plan.get(SPEC.id) {
        Some(c) if c.state == CheckState::Converged => manifest_plan(cfg, scope, &plan.data),
        _ => return,
    };
    let Some(check) = plan.steps.iter_mut().find(|s| s.step == SPEC.id) else {
        return;
    };
    match decided {
        Ok(mp) => {
            if !mp.is_empty() {
                check.state = CheckState::NeedsChange;
                check.reasons = vec![mp.summary()];
            }
            plan.manifests = Some(mp);
        }
        Err(why) => {
            check.state = CheckState::Error;
            check.reasons = vec![why.to_string()];
            check.error = Some(why);
        }
    }
}

fn manifest_plan(
    cfg: &Config,
    scope: &Scope,
    data: &BTreeMap<String, String>,
) -> Result<ManifestPlan, Error> {
    let state = match data.get("state") {
        None => manifests::State::default(),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            Error::plan(format!(
                "labprov's state on the host ({}) is unreadable: {e}; remove it to start over",
                manifests::STATE_PATH
            ))
        })?,
    };
    let uid = data.get("cluster_uid").cloned().unwrap_or_default();
    let release: BTreeMap<String, String> = data
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("file:").map(|p| (p.to_string(), v.clone())))
        .collect();
    manifests::plan(cfg, scope, state, &uid, &release)
}

/// Apply the manifest plan bundle by bundle: changed objects in one server-side apply, then
/// prunes, then the state, then the rollout waits. State is recorded after each bundle, so a
/// failure later on does not forget what was applied.
async fn apply(cx: &Cx<'_>) -> Result<Applied, Error> {
    let mplan = match &cx.plan.manifests {
        Some(p) => p.clone(),
        None => gather(cx).await?,
    };
    execute(cx, &mplan).await?;
    // Only waiting again for a rollout (and seeing it finish) changes nothing.
    if mplan.changes.is_empty() {
        return Ok(Applied {
            changed: None,
            relogin: false,
        });
    }
    Ok(Applied {
        changed: Some(mplan.summary()),
        relogin: false,
    })
}

/// Run the manifests check alone and decide: for when the first check came too early
/// (before the cluster or the Istio release existed).
async fn gather(cx: &Cx<'_>) -> Result<ManifestPlan, Error> {
    let script = cx
        .renderer
        .check_script(cx.cfg, &[&SPEC], Some(&cx.scope.release_files()))?;
    let out = cx.transport.run(&script, None).await?;
    let mut again = parse_checks(&cx.host.name, &out, &[&SPEC]);
    release_files(cx.cfg, &cx.host.name, cx.transport, &mut again).await;
    decide(cx.cfg, cx.scope, &mut again);
    again.manifests.take().ok_or_else(|| {
        again
            .get(SPEC.id)
            .map(StepCheck::failure)
            .unwrap_or_else(|| Error::internal("the manifests check did not report"))
    })
}

/// Carry out a manifest plan bundle by bundle.
async fn execute(cx: &Cx<'_>, mplan: &ManifestPlan) -> Result<(), Error> {
    let transport = cx.transport;
    if mplan.is_empty() {
        return Ok(());
    }
    let run = |script: String, input: Vec<u8>, what: String| async move {
        let input = (!input.is_empty()).then_some(input);
        let out = transport
            .run(&script, input.as_deref().map(Payload::Bytes))
            .await?;
        if out.code != 0 {
            return Err(Error::Remote {
                what,
                code: out.code,
                stderr_tail: tail(&out.stderr, 3),
            });
        }
        Ok(())
    };
    let state_bytes = |s: &manifests::State| {
        serde_json::to_vec(s).map_err(|e| Error::internal(format!("state does not serialize: {e}")))
    };
    let mut done: Vec<String> = Vec::new();
    let mut unconfirmed = mplan.before.unconfirmed.clone();
    for bp in &mplan.bundles {
        cx.report
            .phase(&cx.host.name, &format!("applying bundle {}", bp.id));
        if !bp.apply.is_empty() {
            let script = cx.renderer.manifests_apply(cx.cfg, &bp.id, true)?;
            run(
                script,
                manifests::stream(&bp.apply),
                format!("kubectl apply of bundle {}", bp.id),
            )
            .await?;
        }
        if !bp.prune.is_empty() {
            let script = cx.renderer.manifests_apply(cx.cfg, &bp.id, false)?;
            let ids = manifests::identities(&bp.prune);
            run(
                script,
                manifests::stream(&ids),
                format!("kubectl delete (prune) of bundle {}", bp.id),
            )
            .await?;
        }
        done.push(bp.id.clone());
        // Record what is applied before waiting, with the bundle marked unconfirmed until
        // its rollout is seen to finish: a timeout must not make the next run call it done.
        let waits = !bp.waits.is_empty();
        if waits {
            unconfirmed.insert(bp.id.clone());
        }
        let state = state_bytes(&manifests::state_after(mplan, &done, &unconfirmed))?;
        let script = cx.renderer.manifests_state()?;
        run(script.clone(), state, "recording labprov's state".into()).await?;
        if waits {
            cx.report
                .phase(&cx.host.name, &format!("waiting for bundle {}", bp.id));
            let wait = cx.renderer.manifests_wait(cx.cfg, &bp.id, &bp.waits)?;
            run(wait, Vec::new(), format!("rollout of bundle {}", bp.id)).await?;
            unconfirmed.remove(&bp.id);
            let state = state_bytes(&manifests::state_after(mplan, &done, &unconfirmed))?;
            run(script, state, "recording labprov's state".into()).await?;
        }
    }
    Ok(())
}

/// Delete every object labprov owns on the host (when its cluster still runs), then, with
/// `purge`, forget labprov's state there.
async fn undo(cx: &Cx<'_>, purge: bool) -> Result<bool, Error> {
    let everything = Scope {
        converge: Vec::new(),
        prune: manifests::BUNDLES
            .iter()
            .map(|b| b.id.to_string())
            .collect(),
    };
    let mut changed = false;
    // The check reports the cluster's identity only when the cluster answers.
    if cx.plan.data.contains_key("cluster_uid") {
        let mplan = manifest_plan(cx.cfg, &everything, &cx.plan.data)?;
        changed |= !mplan.is_empty();
        execute(cx, &mplan).await?;
    }
    if purge {
        changed |= undo_script(cx, &SPEC).await?;
    }
    Ok(changed)
}
