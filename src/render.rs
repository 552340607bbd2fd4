//! Scripts from templates. Pure: the same config gives the same bytes, nothing is contacted,
//! and what `labprov render` writes is exactly what a host would be sent (all but `down`'s
//! undo scripts, which it does not write).
//!
//! Profile values reach shell only through the `q` filter (POSIX single-quote quoting), so
//! a value can never become shell syntax.

use std::collections::HashMap;

use tera::{Context, Tera, Value};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::steps::spec::Spec;
use crate::template::{Template, template};

const PRELUDE: Template = template!("prelude.sh");
const CHECK: Template = template!("check.sh");
const CHECK_LIB: Template = template!("steps/check.lib.sh");
const APPLY: Template = template!("apply.sh");
const MANIFESTS_APPLY: Template = template!("manifests/apply.sh");
const MANIFESTS_WAIT: Template = template!("manifests/wait.sh");
const MANIFESTS_STATE: Template = template!("manifests/state.sh");
/// The scripts of `labprov tunnel`.
const TUNNEL: &[Template] = &[
    template!("tunnel/lib.sh"),
    template!("tunnel/ensure.sh"),
    template!("tunnel/gateway.sh"),
    template!("tunnel/stop.sh"),
];

pub struct Renderer {
    tera: Tera,
}

pub(crate) fn quote(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => return Err(tera::Error::msg(format!("q: cannot quote {other}"))),
    };
    shlex::try_quote(&text)
        .map(|q| Value::String(q.into_owned()))
        .map_err(|e| tera::Error::msg(format!("q: {e}")))
}

impl Renderer {
    /// A renderer of labprov's own scripts (manifests, tunnel).
    pub fn new() -> Result<Renderer> {
        Renderer::for_steps(&[])
    }

    /// A renderer of labprov's own scripts and of these steps' templates.
    pub fn for_steps(steps: &[&Spec]) -> Result<Renderer> {
        let mut tera = Tera::default();
        let mut all = vec![
            PRELUDE,
            CHECK,
            CHECK_LIB,
            APPLY,
            MANIFESTS_APPLY,
            MANIFESTS_WAIT,
            MANIFESTS_STATE,
        ];
        all.extend(TUNNEL.iter().copied());
        for step in steps {
            all.extend(step.templates());
        }
        all.sort_by_key(|t| t.name);
        all.dedup_by_key(|t| t.name);
        tera.add_raw_templates(all.iter().map(|t| (t.name, t.text)))
            .map_err(|e| template_error("templates", e))?;
        tera.autoescape_on(vec![]);
        tera.register_filter("q", quote);
        Ok(Renderer { tera })
    }

    fn context(
        cfg: &Config,
        step: &Spec,
        pushed_sha: Option<&str>,
        release_files: Option<&[&str]>,
    ) -> Context {
        let mut ctx = Context::new();
        ctx.insert("cfg", cfg);
        if let Some(files) = release_files {
            ctx.insert("release_files", files);
        }
        ctx.insert("pushed_sha", &pushed_sha);
        (step.vars)(cfg, &mut ctx);
        ctx
    }

    fn render(&self, name: &str, ctx: &Context) -> Result<String> {
        self.tera
            .render(name, ctx)
            .map_err(|e| template_error(name, e))
    }

    /// The one script that checks every given step. `release_files` are the Istio release
    /// files the manifests check brings back (default: those of the profile's bundles).
    pub fn check_script(
        &self,
        cfg: &Config,
        steps: &[&Spec],
        release_files: Option<&[&str]>,
    ) -> Result<String> {
        let mut rendered = Vec::new();
        for step in steps {
            let body = self.render(
                step.check.name,
                &Self::context(cfg, step, None, release_files),
            )?;
            rendered.push(serde_json::json!({"id": step.id, "check": body.trim_end()}));
        }
        let mut ctx = Context::new();
        ctx.insert("steps", &rendered);
        // For the helpers every step's check shares (steps/check.lib.sh).
        ctx.insert("cfg", cfg);
        Ok(tidy(&self.render(CHECK.name, &ctx)?))
    }

    /// The apply script of one step. `pushed_sha` is set in push mode: the artifact then
    /// arrives on stdin, already verified by the controller against this digest.
    pub fn apply_script(
        &self,
        cfg: &Config,
        step: &Spec,
        pushed_sha: Option<&str>,
    ) -> Result<Option<String>> {
        let Some(apply) = step.apply else {
            return Ok(None);
        };
        let body = self.render(apply.name, &Self::context(cfg, step, pushed_sha, None))?;
        let mut ctx = Context::new();
        ctx.insert(
            "step",
            &serde_json::json!({"id": step.id, "title": step.title, "apply": body.trim_end()}),
        );
        Ok(Some(tidy(&self.render(APPLY.name, &ctx)?)))
    }
}

impl Renderer {
    /// The script `down` runs for a step.
    pub fn undo_script(&self, cfg: &Config, step: &Spec) -> Result<Option<String>> {
        let Some(undo) = step.undo else {
            return Ok(None);
        };
        let mut ctx = Self::context(cfg, step, None, None);
        ctx.insert("state_path", crate::manifests::STATE_PATH);
        let body = self.render(undo.template.name, &ctx)?;
        let mut ctx = Context::new();
        ctx.insert(
            "step",
            &serde_json::json!({"id": undo.id, "title": format!("undo of {}", step.title), "apply": body.trim_end()}),
        );
        Ok(Some(tidy(&self.render(APPLY.name, &ctx)?)))
    }

    /// Apply (or, with `apply` false, prune) a bundle's objects, streamed on stdin.
    pub fn manifests_apply(&self, cfg: &Config, bundle: &str, apply: bool) -> Result<String> {
        let mut ctx = Context::new();
        ctx.insert("cfg", cfg);
        ctx.insert("bundle", bundle);
        ctx.insert("apply", &apply);
        self.render(MANIFESTS_APPLY.name, &ctx).map(|s| tidy(&s))
    }

    /// Wait for `namespace/name` Deployments to roll out.
    pub fn manifests_wait(&self, cfg: &Config, bundle: &str, waits: &[String]) -> Result<String> {
        let waits: Vec<serde_json::Value> = waits
            .iter()
            .map(|w| {
                let (ns, name) = w.split_once('/').unwrap_or(("default", w));
                serde_json::json!({"namespace": ns, "name": name})
            })
            .collect();
        let mut ctx = Context::new();
        ctx.insert("cfg", cfg);
        ctx.insert("bundle", bundle);
        ctx.insert("waits", &waits);
        self.render(MANIFESTS_WAIT.name, &ctx).map(|s| tidy(&s))
    }

    /// One of the `tunnel/` scripts.
    pub fn tunnel(&self, name: &str, ctx: &Context) -> Result<String> {
        self.render(name, ctx).map(|s| tidy(&s))
    }

    /// Record the state (on stdin) on the host.
    pub fn manifests_state(&self) -> Result<String> {
        let mut ctx = Context::new();
        ctx.insert("state_path", crate::manifests::STATE_PATH);
        self.render(MANIFESTS_STATE.name, &ctx).map(|s| tidy(&s))
    }
}

/// Collapse the blank lines template control flow leaves behind.
pub(crate) fn tidy(script: &str) -> String {
    let mut out = String::with_capacity(script.len());
    let mut blank = 0;
    for line in script.lines() {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(crate) fn template_error(name: &str, e: tera::Error) -> Error {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    Error::Template {
        name: name.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_filter_neutralises_shell() {
        // Whatever the quoting style, bash must read back exactly the original text.
        for nasty in [
            "a'b; rm -rf /",
            "$(id) `id` \\ \"q\"",
            "line\nbreak",
            "*?[x]{a,b} ~ #",
        ] {
            let Value::String(q) = quote(&Value::String(nasty.into()), &HashMap::new()).unwrap()
            else {
                panic!("not a string")
            };
            let out = std::process::Command::new("bash")
                .args(["-c", &format!("printf %s {q}")])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), nasty, "quoted as {q}");
        }
    }
}
