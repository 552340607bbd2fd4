//! The lab's Kubernetes and Istio objects: rendering, and the decision of what to apply,
//! change or prune. The bundle catalog is a leaf of its own (`steps/manifests/bundles.rs`,
//! re-exported here) so the `[lab]` section can check a selection; the manifests step
//! (`steps/manifests/`) runs what is decided here.
//!
//! Everything here is pure but the controller's cache of the Istio release's sample files
//! ([`RELEASE_HASHES`]). The host's part (the last applied state, and the sample files by
//! hash) arrives as data from the check round trip; this module turns it, with the
//! profile, into a [`ManifestPlan`]: per bundle, the objects to create or change (with a
//! unified diff) and the owned objects to prune, plus the state to record afterwards. Objects
//! are compared by the sha256 of their canonical JSON, so an unchanged object is never sent to
//! the cluster: a converged run makes no `kubectl apply` call at all.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::Error;
use crate::template::Template;

/// Labels every object labprov applies carries; pruning only ever touches objects recorded
/// in labprov's state *and* carrying these.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "labprov");
pub const BUNDLE_LABEL: &str = "labprov.io/bundle";

/// Where the state lives on the host (the user's XDG state dir).
pub const STATE_PATH: &str = "$HOME/.local/state/labprov/host/manifests.json";

pub use crate::steps::manifests::bundles::{
    BUNDLES, Bundle, DEFAULT_BUNDLES, Waits, bundle, check_selection, unknown_bundle,
};

/// The bundles that applying `named` replaces, as (named, replaced): those a named bundle
/// conflicts with (they define the same objects, so only one can be in the cluster). Two
/// named bundles that conflict with each other are no replacement but a bad selection.
pub fn replacements(named: &[String]) -> Vec<(&str, &'static str)> {
    named
        .iter()
        .filter_map(|n| bundle(n))
        .flat_map(|b| b.conflicts.iter().map(move |c| (b.id, *c)))
        .filter(|(_, c)| !named.iter().any(|n| n == c))
        .collect()
}

/// What a run works on: the bundles to converge, and the bundles whose stale objects may be
/// pruned. `up` converges the profile's bundles and prunes everything else labprov owns.
#[derive(Debug, Clone)]
pub struct Scope {
    pub converge: Vec<String>,
    pub prune: BTreeSet<String>,
}

impl Scope {
    pub fn profile(cfg: &Config) -> Scope {
        Scope {
            converge: cfg.lab.bundles.clone(),
            prune: BUNDLES.iter().map(|b| b.id.to_string()).collect(),
        }
    }

    /// The release files the check must bring back from the host.
    pub fn release_files(&self) -> Vec<&'static str> {
        let mut files: Vec<&'static str> = self
            .converge
            .iter()
            .filter_map(|b| bundle(b))
            .flat_map(|b| b.release.iter().copied())
            .collect();
        files.sort();
        files.dedup();
        files
    }
}

/// One object as labprov applies it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recorded {
    pub bundle: String,
    pub hash: String,
    pub object: Value,
}

/// labprov's state on a host: what it applied last, in which cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub cluster_uid: String,
    #[serde(default)]
    pub objects: BTreeMap<String, Recorded>,
    /// Bundles applied whose rollout was not (yet) seen to finish: the next run waits again
    /// instead of calling a half-ready bundle converged.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unconfirmed: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Change,
    Prune,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectChange {
    pub action: Action,
    pub bundle: String,
    /// `Kind namespace/name`.
    pub object: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub diff: String,
    /// Why a prune: the user may not know that `up` removes what the profile does not select.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct BundlePlan {
    pub id: String,
    pub apply: Vec<Value>,
    pub prune: Vec<Value>,
    /// `namespace/name` of Deployments to wait for once applied.
    pub waits: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ManifestPlan {
    pub changes: Vec<ObjectChange>,
    pub bundles: Vec<BundlePlan>,
    /// The state before, for recording progress bundle by bundle.
    pub before: State,
    pub after: State,
    /// Bundles with nothing to apply whose last rollout was not confirmed.
    pub rewait: Vec<String>,
}

impl ManifestPlan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.rewait.is_empty()
    }

    pub fn summary(&self) -> String {
        let n = |a: Action| self.changes.iter().filter(|c| c.action == a).count();
        let mut text = format!(
            "{} to create, {} to change, {} to prune",
            n(Action::Create),
            n(Action::Change),
            n(Action::Prune)
        );
        // Objects of a bundle pruned or taken over because a conflicting one took its place:
        // say which, so that `apply routing-weighted` tells that routing-all-v1 is gone.
        let mut replaced: Vec<(&str, &str)> = self
            .changes
            .iter()
            .filter_map(|c| match c.action {
                Action::Prune => Some((c.bundle.as_str(), c.reason.strip_prefix("replaced by ")?)),
                _ => Some((
                    c.reason.strip_prefix("replaces ")?.strip_suffix("'s")?,
                    c.bundle.as_str(),
                )),
            })
            .collect();
        replaced.sort();
        replaced.dedup();
        for (old, by) in replaced {
            text.push_str(&format!("; {old} replaced by {by}"));
        }
        if !self.rewait.is_empty() {
            text.push_str(&format!(
                "; rollout of {} to confirm",
                self.rewait.join(", ")
            ));
        }
        text
    }
}

/// Cluster-scoped kinds among what the lab applies; everything else gets a namespace.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "APIService",
    "IngressClass",
];

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or("")
}

/// `group/Kind/namespace/name`: the version is left out so an API version bump is a change,
/// not a prune and a create.
pub fn key(obj: &Value) -> String {
    let api = str_at(obj, &["apiVersion"]);
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    format!(
        "{group}/{}/{}/{}",
        str_at(obj, &["kind"]),
        str_at(obj, &["metadata", "namespace"]),
        str_at(obj, &["metadata", "name"])
    )
}

pub fn describe(obj: &Value) -> String {
    let ns = str_at(obj, &["metadata", "namespace"]);
    let name = str_at(obj, &["metadata", "name"]);
    let kind = str_at(obj, &["kind"]);
    if ns.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {ns}/{name}")
    }
}

/// sha256 of the canonical JSON (serde_json's maps are sorted).
pub fn hash(obj: &Value) -> String {
    hex::encode(Sha256::digest(obj.to_string().as_bytes()))
}

/// Render one of labprov's own templates with the profile's `lab` values.
pub fn render_own(cfg: &Config, t: &Template) -> Result<String, Error> {
    let failed = |e: tera::Error| Error::Template {
        name: format!("yamls/{}", t.name),
        message: e.to_string(),
    };
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![]);
    tera.add_raw_template(t.name, t.text).map_err(failed)?;
    let mut ctx = tera::Context::new();
    ctx.insert("lab", &cfg.lab);
    tera.render(t.name, &ctx).map_err(failed)
}

/// Parse a multi-document YAML text into objects, skipping empty documents.
pub fn parse_docs(text: &str, origin: &str) -> Result<Vec<Value>, Error> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| Error::plan(format!("{origin}: not valid YAML: {e}")))?;
    let mut out = Vec::new();
    for doc in docs {
        if doc.is_null() {
            continue;
        }
        if doc["kind"] == "List" {
            // The items of a `kind: List` are objects like any document: each is checked the
            // same way, so nothing later meets an item without metadata.
            let Some(items) = doc["items"].as_array() else {
                return Err(Error::plan(format!("{origin}: a List has no items array")));
            };
            for item in items {
                out.push(checked_object(item.clone(), origin)?);
            }
        } else {
            out.push(checked_object(doc, origin)?);
        }
    }
    Ok(out)
}

/// An object with a kind and a `metadata` map holding a name, or why it is not one.
fn checked_object(doc: Value, origin: &str) -> Result<Value, Error> {
    if !doc.is_object() {
        return Err(Error::plan(format!(
            "{origin}: a document is not an object: {doc}"
        )));
    }
    if str_at(&doc, &["kind"]).is_empty()
        || !doc["metadata"].is_object()
        || str_at(&doc, &["metadata", "name"]).is_empty()
    {
        return Err(Error::plan(format!(
            "{origin}: a document has no kind or metadata.name"
        )));
    }
    Ok(doc)
}

/// Give the object its namespace (if namespaced and missing) and labprov's labels.
fn normalize(mut obj: Value, bundle: &str, default_ns: &str) -> Value {
    let kind = str_at(&obj, &["kind"]).to_string();
    // parse_docs lets only objects with a metadata map through.
    let Some(meta) = obj["metadata"].as_object_mut() else {
        return obj;
    };
    if !CLUSTER_SCOPED.contains(&kind.as_str())
        && meta.get("namespace").and_then(Value::as_str).is_none()
    {
        meta.insert("namespace".into(), Value::String(default_ns.to_string()));
    }
    let labels = meta
        .entry("labels")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(l) = labels.as_object_mut() {
        l.insert(MANAGED_BY.0.into(), Value::String(MANAGED_BY.1.into()));
        l.insert(BUNDLE_LABEL.into(), Value::String(bundle.into()));
    }
    obj
}

/// The objects of a bundle as labprov would apply them. `release` maps a release file path
/// to its content, as the host reported it.
pub fn objects(
    cfg: &Config,
    b: &Bundle,
    release: &BTreeMap<String, String>,
) -> Result<Vec<Value>, Error> {
    let mut docs = Vec::new();
    for t in b.own {
        let text = render_own(cfg, t)?;
        docs.extend(parse_docs(&text, &format!("yamls/{}", t.name))?);
    }
    for pattern in b.release {
        let matching: Vec<(&String, &String)> = release
            .iter()
            .filter(|(path, _)| glob_match(pattern, path))
            .collect();
        if matching.is_empty() {
            return Err(Error::plan(format!(
                "the Istio release on the host has no {pattern}"
            )));
        }
        for (path, text) in matching {
            docs.extend(parse_docs(text, path)?);
        }
    }
    // Release files that name no namespace are Bookinfo's; labprov's own name theirs.
    let ns = if b.release.is_empty() {
        &cfg.lab.namespace
    } else {
        &cfg.lab.bookinfo_namespace
    };
    let mut out: Vec<Value> = docs.into_iter().map(|d| normalize(d, b.id, ns)).collect();
    // Namespaces first, so one apply can create a namespace and what lives in it.
    out.sort_by_key(|o| o["kind"] != "Namespace");
    Ok(out)
}

/// `samples/addons/*.yaml` style matching: `*` within one path segment.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == path,
        Some((pre, post)) => {
            path.len() >= pre.len() + post.len()
                && path.starts_with(pre)
                && path.ends_with(post)
                && !path[pre.len()..path.len() - post.len()].contains('/')
        }
    }
}

fn pretty(obj: &Value) -> String {
    serde_saphyr::to_string(obj).unwrap_or_else(|_| obj.to_string())
}

fn waits_of(b: &Bundle, objs: &[Value]) -> Vec<String> {
    match b.waits {
        Waits::None => Vec::new(),
        Waits::Named(list) => list.iter().map(|s| s.to_string()).collect(),
        Waits::AllDeployments => objs
            .iter()
            .filter(|o| o["kind"] == "Deployment")
            .map(|o| {
                format!(
                    "{}/{}",
                    str_at(o, &["metadata", "namespace"]),
                    str_at(o, &["metadata", "name"])
                )
            })
            .collect(),
    }
}

/// Decide what to do. `cluster_uid` identifies the cluster: state recorded for another
/// cluster (deleted and recreated since) counts as nothing applied.
pub fn plan(
    cfg: &Config,
    scope: &Scope,
    state: State,
    cluster_uid: &str,
    release: &BTreeMap<String, String>,
) -> Result<ManifestPlan, Error> {
    let before = if state.cluster_uid == cluster_uid {
        state
    } else {
        State::default()
    };
    let mut after = State {
        cluster_uid: cluster_uid.to_string(),
        objects: before.objects.clone(),
        unconfirmed: BTreeSet::new(),
    };
    let mut changes = Vec::new();
    let mut bundles = Vec::new();
    let mut rendered_keys = BTreeSet::new();
    let mut rewait = Vec::new();
    for b in BUNDLES {
        let converge = scope.converge.iter().any(|c| c == b.id);
        let prunable = scope.prune.contains(b.id);
        if !converge && !prunable {
            continue;
        }
        let objs = if converge {
            objects(cfg, b, release)?
        } else {
            Vec::new()
        };
        let mut bp = BundlePlan {
            id: b.id.to_string(),
            apply: Vec::new(),
            prune: Vec::new(),
            waits: Vec::new(),
        };
        for obj in &objs {
            let k = key(obj);
            if !rendered_keys.insert(k.clone()) {
                return Err(Error::plan(format!(
                    "{} is defined twice (bundle {})",
                    describe(obj),
                    b.id
                )));
            }
            let h = hash(obj);
            let old = before.objects.get(&k);
            let action = match old {
                None => Some((Action::Create, String::new())),
                Some(r) if r.hash != h => {
                    let diff = similar::TextDiff::from_lines(pretty(&r.object), pretty(obj))
                        .unified_diff()
                        .context_radius(3)
                        .header(
                            &format!("{} (applied)", describe(obj)),
                            &format!("{} (profile)", describe(obj)),
                        )
                        .to_string();
                    Some((Action::Change, diff))
                }
                Some(r) if r.bundle != b.id => Some((Action::Change, String::new())),
                Some(_) => None,
            };
            if let Some((action, diff)) = action {
                // An object the other routing exercise applied, now this bundle's.
                let reason = old
                    .filter(|r| b.conflicts.contains(&r.bundle.as_str()))
                    .map(|r| format!("replaces {}'s", r.bundle))
                    .unwrap_or_default();
                changes.push(ObjectChange {
                    action,
                    bundle: b.id.to_string(),
                    object: describe(obj),
                    diff,
                    reason,
                });
                bp.apply.push(obj.clone());
            }
            after.objects.insert(
                k,
                Recorded {
                    bundle: b.id.to_string(),
                    hash: h,
                    object: obj.clone(),
                },
            );
        }
        if !bp.apply.is_empty() {
            bp.waits = waits_of(b, &objs);
        } else if converge && before.unconfirmed.contains(b.id) {
            bp.waits = waits_of(b, &objs);
            rewait.push(b.id.to_string());
        }
        bundles.push(bp);
    }
    // Prune: owned objects of bundles in the prune scope that nothing renders any more.
    for (k, r) in &before.objects {
        if rendered_keys.contains(k) || !scope.prune.contains(&r.bundle) {
            continue;
        }
        let replacer = scope
            .converge
            .iter()
            .find(|c| bundle(c).is_some_and(|b| b.conflicts.contains(&r.bundle.as_str())));
        let reason = if scope.converge.contains(&r.bundle) {
            "no longer rendered from the profile".to_string()
        } else if let Some(by) = replacer {
            format!("replaced by {by}")
        } else if !cfg.lab.bundles.contains(&r.bundle) {
            "not selected in lab.bundles".to_string()
        } else {
            "removed on request".to_string()
        };
        changes.push(ObjectChange {
            action: Action::Prune,
            bundle: r.bundle.clone(),
            object: describe(&r.object),
            diff: String::new(),
            reason,
        });
        after.objects.remove(k);
        if let Some(bp) = bundles.iter_mut().find(|bp| bp.id == r.bundle) {
            bp.prune.push(r.object.clone());
        }
    }
    // Changes first, then prunes: the order the run will show them in.
    changes.sort_by_key(|c| c.action == Action::Prune);
    bundles.retain(|bp| !bp.apply.is_empty() || !bp.prune.is_empty() || !bp.waits.is_empty());
    Ok(ManifestPlan {
        changes,
        bundles,
        before,
        after,
        rewait,
    })
}

/// The state once `done` bundles are applied: their objects as planned, the rest as before;
/// `unconfirmed` are the bundles whose rollout is not seen to finish yet.
pub fn state_after(plan: &ManifestPlan, done: &[String], unconfirmed: &BTreeSet<String>) -> State {
    let mut s = State {
        cluster_uid: plan.after.cluster_uid.clone(),
        objects: plan.before.objects.clone(),
        unconfirmed: unconfirmed.clone(),
    };
    s.objects.retain(|_, r| !done.contains(&r.bundle));
    for (k, r) in &plan.after.objects {
        if done.contains(&r.bundle) {
            s.objects.insert(k.clone(), r.clone());
        }
    }
    s
}

/// Objects reduced to what `kubectl delete -f -` needs.
pub fn identities(objs: &[Value]) -> Vec<Value> {
    objs.iter()
        .map(|o| {
            let mut meta = serde_json::Map::new();
            meta.insert("name".into(), o["metadata"]["name"].clone());
            if let Some(ns) = o["metadata"].get("namespace") {
                meta.insert("namespace".into(), ns.clone());
            }
            serde_json::json!({"apiVersion": o["apiVersion"], "kind": o["kind"], "metadata": meta})
        })
        .collect()
}

/// A YAML stream of JSON documents (JSON is YAML), as kubectl reads it from stdin.
pub fn stream(objs: &[Value]) -> Vec<u8> {
    let mut out = String::new();
    for o in objs {
        out.push_str("---\n");
        out.push_str(&o.to_string());
        out.push('\n');
    }
    out.into_bytes()
}

/// The manifests check names the Istio release's sample files by content: `::data`
/// [`RELEASE_HASHES`] is `{"home": DIR, "files": {PATH: SHA256}}`. Those files do not change on
/// a converged host, so the controller keeps each one under `<cache>/istio-files/<sha256>`
/// (0600 files in a 0700 dir) and asks the host, in one more round trip, only for the ones it
/// does not hold: a converged host costs the hashes, whatever the size of the release.
pub const RELEASE_HASHES: &str = "release_sha256";

#[derive(Deserialize)]
struct ReleaseHashes {
    home: String,
    files: BTreeMap<String, String>,
}

fn release_dir(cache: &std::path::Path) -> std::path::PathBuf {
    cache.join("istio-files")
}

/// A cached file whose content still has its name's hash (a damaged entry is fetched again).
fn cached(dir: &std::path::Path, hash: &str) -> Option<String> {
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let text = std::fs::read_to_string(dir.join(hash)).ok()?;
    (hex::encode(Sha256::digest(text.as_bytes())) == hash).then_some(text)
}

/// Put the release files the cache holds into `data` as `file:PATH` (what [`objects`] reads);
/// returns the script that prints the others (`::data file:PATH BASE64`), if any are missing.
pub fn release_from_cache(
    cache: &std::path::Path,
    data: &mut BTreeMap<String, String>,
) -> Result<Option<String>, Error> {
    let Some(json) = data.get(RELEASE_HASHES) else {
        return Ok(None);
    };
    let sent: ReleaseHashes = serde_json::from_str(json).map_err(|e| {
        Error::plan(format!(
            "the manifests check sent unreadable release hashes: {e}"
        ))
    })?;
    let dir = release_dir(cache);
    let mut missing = Vec::new();
    for (path, hash) in sent.files {
        match cached(&dir, &hash) {
            Some(text) => {
                data.insert(format!("file:{path}"), text);
            }
            None => missing.push(path),
        }
    }
    if missing.is_empty() {
        return Ok(None);
    }
    let q = |s: &str| {
        shlex::try_quote(s)
            .map(|c| c.into_owned())
            .map_err(|_| Error::plan(format!("unusable release path {s:?}")))
    };
    let mut script = format!("home={}\n", q(&sent.home)?);
    for path in missing {
        let p = q(&path)?;
        script.push_str(&format!(
            "printf '::data file:%s %s\\n' {p} \"$(base64 -w0 \"$home\"/{p})\"\n"
        ));
    }
    Ok(Some(script))
}

/// Files the host sent (`file:PATH` keys of `fetched`) into `data` and the cache. A cache that
/// cannot be written only costs the same round trip next time.
pub fn release_fetched(
    cache: &std::path::Path,
    data: &mut BTreeMap<String, String>,
    fetched: BTreeMap<String, String>,
) {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = release_dir(cache);
    let made = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .is_ok();
    for (key, text) in fetched {
        if !key.starts_with("file:") {
            continue;
        }
        if made {
            let hash = hex::encode(Sha256::digest(text.as_bytes()));
            let tmp = dir.join(format!(".{hash}.{}", std::process::id()));
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .and_then(|mut f| f.write_all(text.as_bytes()));
            if written.is_err() || std::fs::rename(&tmp, dir.join(&hash)).is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
        data.insert(key, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_files_are_asked_for_only_when_the_cache_lacks_their_hash() {
        use std::os::unix::fs::PermissionsExt;
        let cache = tempfile::tempdir().unwrap();
        let (a, b) = ("kind: A\n", "kind: B\n");
        let sha = |t: &str| hex::encode(Sha256::digest(t.as_bytes()));
        let sent = serde_json::json!({"home": "/opt/istio",
            "files": {"samples/a.yaml": sha(a), "samples/b.yaml": sha(b)}});
        let fresh = || BTreeMap::from([(RELEASE_HASHES.to_string(), sent.to_string())]);

        // Nothing cached: both are asked for, by path under the release's home.
        let mut data = fresh();
        let script = release_from_cache(cache.path(), &mut data)
            .unwrap()
            .unwrap();
        assert!(script.contains("home=/opt/istio"), "{script}");
        assert!(script.contains("file:%s %s") && script.contains("samples/a.yaml"));
        assert!(script.contains("samples/b.yaml"), "{script}");
        let fetched = BTreeMap::from([
            ("file:samples/a.yaml".to_string(), a.to_string()),
            ("file:samples/b.yaml".to_string(), b.to_string()),
        ]);
        release_fetched(cache.path(), &mut data, fetched);
        assert_eq!(data["file:samples/a.yaml"], a);
        let dir = cache.path().join("istio-files");
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(sha(a))), 0o600);

        // Cached: nothing is asked for, the files come from the cache.
        let mut data = fresh();
        assert_eq!(release_from_cache(cache.path(), &mut data).unwrap(), None);
        assert_eq!(data["file:samples/b.yaml"], b);

        // A damaged entry is asked for again, and only that one.
        std::fs::write(dir.join(sha(b)), "kind: C\n").unwrap();
        let mut data = fresh();
        let script = release_from_cache(cache.path(), &mut data)
            .unwrap()
            .unwrap();
        assert!(
            script.contains("samples/b.yaml") && !script.contains("samples/a.yaml"),
            "{script}"
        );
    }

    #[test]
    fn globs_stay_in_one_directory() {
        assert!(glob_match(
            "samples/addons/*.yaml",
            "samples/addons/kiali.yaml"
        ));
        assert!(!glob_match(
            "samples/addons/*.yaml",
            "samples/addons/extras/zipkin.yaml"
        ));
        assert!(glob_match("a/b.yaml", "a/b.yaml"));
    }

    #[test]
    fn list_items_are_checked_like_documents() {
        let ok = "kind: List\nitems:\n- kind: ConfigMap\n  metadata: {name: a}\n";
        assert_eq!(parse_docs(ok, "x.yaml").unwrap().len(), 1);
        for bad in [
            "kind: List\nitems:\n- 42\n",
            "kind: List\nitems:\n- kind: ConfigMap\n",
            "kind: List\nitems:\n- kind: ConfigMap\n  metadata: 7\n",
            "kind: List\nitems: 3\n",
        ] {
            let e = parse_docs(bad, "x.yaml").unwrap_err().to_string();
            assert!(e.starts_with("x.yaml: a "), "{bad:?}: {e}");
        }
    }

    #[test]
    fn selection_rules() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(check_selection(&s(DEFAULT_BUNDLES)).is_ok());
        assert_eq!(
            check_selection(&s(&[
                "bookinfo",
                "destination-rules",
                "routing-all-v1",
                "routing-weighted"
            ]))
            .unwrap_err()
            .to_string(),
            "bundles `routing-all-v1` and `routing-weighted` define the same objects: select one"
        );
        assert_eq!(
            check_selection(&s(&["routing-weighted"]))
                .unwrap_err()
                .to_string(),
            "bundle `routing-weighted` needs `destination-rules`, which is not selected"
        );
        assert_eq!(
            unknown_bundle("adons"),
            "no bundle `adons`: did you mean `addons`? (bundles: hello-node, netpol-deny-all, netpol-allow-specific, \
             netpol-restrict-egress, bookinfo, destination-rules, routing-all-v1, routing-weighted, mtls-strict, \
             exercise-pods, addons)"
        );
    }

    #[test]
    fn key_ignores_version_and_hash_is_canonical() {
        let a: Value = serde_json::json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "reviews", "namespace": "default"}});
        let b: Value = serde_json::from_str(
            r#"{"metadata": {"namespace": "default", "name": "reviews"}, "kind": "VirtualService", "apiVersion": "networking.istio.io/v1"}"#,
        )
        .unwrap();
        assert_eq!(
            key(&a),
            "networking.istio.io/VirtualService/default/reviews"
        );
        assert_eq!(hash(&a), hash(&b));
    }
}
