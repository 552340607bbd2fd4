//! Facts: OS, architecture, resources, sudo. Read-only; a host labprov does not support is
//! blocked here, before any other step applies (every other step needs facts).
use crate::config::Config;
use crate::error::Error;
use crate::manifests::Scope;
use crate::outcome::{CheckState, HostPlan};
use crate::steps::spec::{Spec, no_vars};
use crate::steps::step::Step;
use crate::template::template;

pub struct Facts;

pub static STEP: Facts = Facts;

static SPEC: Spec = Spec {
    id: "facts",
    title: "host facts",
    needs: &[],
    needs_root: false,
    check: template!("steps/facts.check.sh"),
    apply: None,
    libs: &[],
    artifact: None,
    vars: no_vars,
    undo: None,
};

impl Step for Facts {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    /// `labprov apply` also refuses a host labprov does not support.
    fn in_apply(&self) -> bool {
        true
    }

    /// A host `up` would refuse is blocked, with the reason, so `plan` and `status` show it
    /// as `up` refuses it instead of "converged"; so is one that `labprov doctor` fails on a
    /// blocking check (disk, CPUs, memory for a cluster still to be made:
    /// `doctor::judge::blocking`, the same functions), so `plan` and `doctor` never disagree.
    /// Without sudo, each step that needs root and has something to change is blocked with
    /// the reason `up` refuses it for (`doctor::judge::sudo_refusal`).
    fn decide(&self, cfg: &Config, _: &Scope, plan: &mut HostPlan) {
        if let Some(why) = crate::doctor::judge::sudo_refusal(plan) {
            for s in plan.steps.iter_mut().filter(|s| {
                s.state == CheckState::NeedsChange
                    && crate::steps::find(s.step).is_some_and(|st| st.spec().needs_root)
            }) {
                s.state = CheckState::Blocked;
                s.reasons = vec![why.clone()];
                s.error = Some(Error::plan(why.clone()));
            }
        }
        let why = match judge_facts(plan) {
            Err(why) => why,
            Ok(()) => {
                let found = crate::doctor::judge::blocking(cfg, plan);
                if found.is_empty() {
                    return;
                }
                Error::plan(
                    found
                        .iter()
                        .map(|f| format!("{} (fix: {})", f.detail, f.fix))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            }
        };
        if let Some(facts) = plan
            .steps
            .iter_mut()
            .find(|s| s.step == SPEC.id && s.state == CheckState::Converged)
        {
            facts.state = CheckState::Blocked;
            facts.reasons = vec![why.to_string()];
            facts.error = Some(why);
        }
    }
}

/// Whether the facts allow provisioning at all.
pub fn judge_facts(plan: &HostPlan) -> Result<(), Error> {
    let f = |k: &str| plan.facts.get(k).map(String::as_str).unwrap_or("");
    let version_ok = f("os_version")
        .split_once('.')
        .and_then(|(maj, min)| Some((maj.parse::<u32>().ok()?, min.parse::<u32>().ok()?)))
        .is_some_and(|v| v >= (22, 4));
    if f("os") != "ubuntu" || !version_ok {
        return Err(Error::plan(format!(
            "unsupported OS {} {}: labprov supports Ubuntu 22.04 and 24.04 (and newer releases)",
            f("os"),
            f("os_version")
        )));
    }
    if !matches!(f("arch"), "amd64" | "arm64") {
        return Err(Error::plan(format!(
            "unsupported architecture {}",
            f("arch")
        )));
    }
    Ok(())
}
