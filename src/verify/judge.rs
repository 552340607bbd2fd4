//! What each check decides: from the first round trip (the host's answers and the cluster's
//! objects) either a verdict at once, or the probe it needs from pods; then, from the
//! probe's answers, the verdict with its evidence. Pure functions of what the host said.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Serialize;
use serde_json::{Value, json};

use super::checks::Check;
use super::cluster::{self, ALLOWED, EGRESS, Exercise, Objects, WEB};
use super::stats;
use crate::config::Config;

/// Where verify's own probe pods live when they need no particular namespace.
pub const VERIFY_NS: &str = "labprov-verify";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Pass,
    Fail,
    Skip,
    /// Ctrl-C or SIGTERM came before the check could finish.
    Interrupted,
}

/// What one command of the first round trip said.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub code: i32,
    pub out: String,
    pub err: String,
}

impl Answer {
    /// The first line that says something, for evidence.
    pub fn why(&self) -> String {
        let text = if self.err.trim().is_empty() {
            &self.out
        } else {
            &self.err
        };
        let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let line: String = line.trim().chars().take(200).collect();
        if line.is_empty() {
            format!("exit {}", self.code)
        } else {
            line
        }
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// `::NAME KEY... CODE B64OUT B64ERR` lines of a script's stdout, by their leading words.
/// `prefix` is `::env` (key: one word) or `::probe` (key: check and probe).
pub fn answers(stdout: &str, prefix: &str, key_words: usize) -> BTreeMap<Vec<String>, Answer> {
    let mut out = BTreeMap::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix(prefix).and_then(|r| r.strip_prefix(' ')) else {
            continue;
        };
        let words: Vec<&str> = rest.split(' ').collect();
        if words.len() != key_words + 3 {
            continue;
        }
        let key = words[..key_words].iter().map(|w| w.to_string()).collect();
        out.insert(
            key,
            Answer {
                code: words[key_words].parse().unwrap_or(-1),
                out: b64(words[key_words + 1]),
                err: b64(words[key_words + 2]),
            },
        );
    }
    out
}

/// What the first round trip brought back.
#[derive(Debug, Clone)]
pub struct Gather {
    pub env: BTreeMap<String, Answer>,
    pub objects: Result<Objects, String>,
}

impl Gather {
    pub fn parse(stdout: &str) -> Gather {
        let env: BTreeMap<String, Answer> = answers(stdout, "::env", 1)
            .into_iter()
            .map(|(k, v)| (k.concat(), v))
            .collect();
        let objects = match env.get("objects") {
            None => Err("the cluster's objects were not read".to_string()),
            Some(a) if a.code != 0 => Err(format!("kubectl get exited {}: {}", a.code, a.why())),
            Some(a) => {
                // Istio's kinds are read apart: without its CRDs (Istio not installed)
                // kubectl refuses the whole command, and there are simply none.
                let mut lists = vec![a.out.as_str()];
                if let Some(i) = env.get("istio").filter(|i| i.code == 0) {
                    lists.push(i.out.as_str());
                }
                Objects::from_lists(&lists)
            }
        };
        Gather { env, objects }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Image {
    /// agnhost serving `netexec` on 8080 (the image hello-node already runs): a server to
    /// reach, and `/agnhost connect` to reach others with.
    Agnhost,
    /// Istio's curl sample (`samples/curl`, image curlimages/curl): an HTTP client.
    Curl,
}

/// A probe pod verify creates (and deletes when it is done).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pod {
    pub namespace: String,
    pub name: &'static str,
    pub image: Image,
    pub labels: BTreeMap<String, String>,
}

impl Pod {
    fn new(ns: &str, name: &'static str, image: Image, extra: &[(&str, &str)]) -> Pod {
        Pod {
            namespace: ns.to_string(),
            name,
            image,
            labels: cluster::probe_labels(extra),
        }
    }
    fn server() -> Pod {
        Pod::new(VERIFY_NS, "labprov-server", Image::Agnhost, &[])
    }
    fn curl() -> Pod {
        Pod::new(VERIFY_NS, "labprov-curl", Image::Curl, &[])
    }
}

/// The probe a check needs: the values its template reads (`p`), the pods it runs from,
/// and what its judgement needs to know besides the answers.
#[derive(Debug, Clone)]
pub struct Probe {
    pub check: &'static Check,
    pub vars: Value,
    pub pods: Vec<Pod>,
}

#[derive(Debug, Clone)]
pub enum Plan {
    Done(Kind, String),
    Probe(Probe),
}

fn fail(why: impl Into<String>) -> Plan {
    Plan::Done(Kind::Fail, why.into())
}
fn skip(why: impl Into<String>) -> Plan {
    Plan::Done(Kind::Skip, why.into())
}
fn pass(why: impl Into<String>) -> Plan {
    Plan::Done(Kind::Pass, why.into())
}

/// Decide a check from the first round trip, or say which probe it needs.
pub fn plan(cfg: &Config, check: &'static Check, g: &Gather) -> Plan {
    let env = |k: &str| g.env.get(k).cloned().unwrap_or_default();
    match check.name {
        "docker-usable" => {
            let a = env("docker");
            if g.env.contains_key("docker") && a.code == 0 {
                pass("docker info works for the login user without sudo")
            } else {
                fail(format!(
                    "docker info as the login user failed (exit {}): {}",
                    a.code,
                    a.why()
                ))
            }
        }
        "node-dns" => {
            let a = env("node-dns");
            let host = &cfg.dns.probe_host;
            if g.env.contains_key("node-dns") && a.code == 0 {
                pass(format!(
                    "the minikube node resolves {host}: {}",
                    a.out.split_whitespace().next().unwrap_or("?")
                ))
            } else {
                fail(format!(
                    "the minikube node cannot resolve {host} (getent hosts exit {}): {}",
                    a.code,
                    a.why()
                ))
            }
        }
        "minikube-cilium" => {
            let a = env("minikube");
            let status: Value = serde_json::from_str(&a.out).unwrap_or(Value::Null);
            let parts: Vec<String> = ["Host", "Kubelet", "APIServer"]
                .iter()
                .map(|k| format!("{k} {}", status[k].as_str().unwrap_or("?")))
                .collect();
            if a.code != 0
                || ["Host", "Kubelet", "APIServer"]
                    .iter()
                    .any(|k| status[k] != "Running")
            {
                return fail(format!(
                    "minikube is not running (minikube status exit {}: {})",
                    a.code,
                    if status.is_null() {
                        a.why()
                    } else {
                        parts.join(", ")
                    }
                ));
            }
            let objects = match &g.objects {
                Ok(o) => o,
                Err(e) => return fail(format!("cannot read the cluster: {e}")),
            };
            match objects.get("DaemonSet", "kube-system", "cilium") {
                None => fail(format!(
                    "minikube runs ({}) but there is no Cilium DaemonSet in kube-system: \
                     the cluster runs another CNI",
                    parts.join(", ")
                )),
                Some(ds) if ds["status"]["numberReady"].as_u64().unwrap_or(0) == 0 => {
                    fail("minikube runs but Cilium has no ready pod (DaemonSet kube-system/cilium)")
                }
                Some(ds) => pass(format!(
                    "minikube running ({}); Cilium ready on {} node(s)",
                    parts.join(", "),
                    ds["status"]["numberReady"]
                )),
            }
        }
        _ => {
            let objects = match &g.objects {
                Ok(o) => o,
                Err(e) => return fail(format!("cannot read the cluster: {e}")),
            };
            plan_cluster(cfg, check, objects)
        }
    }
}

fn plan_cluster(cfg: &Config, check: &'static Check, o: &Objects) -> Plan {
    let lab = &cfg.lab;
    let probe = |vars: Value, pods: Vec<Pod>| Plan::Probe(Probe { check, vars, pods });
    let ratings = || {
        let pods: Vec<&Value> = o
            .in_ns("Pod", &lab.bookinfo_namespace)
            .filter(|p| cluster::labels(p).get("app").map(String::as_str) == Some("ratings"))
            .filter(|p| cluster::running(p))
            .collect();
        pods.iter()
            .find(|p| cluster::has_sidecar(p))
            .or(pods.first())
            .map(|p| cluster::name(p).to_string())
    };
    match check.name {
        "cluster-addons" => {
            let mut missing = Vec::new();
            for (ns, name) in [
                ("kube-system", "metrics-server"),
                ("kubernetes-dashboard", "kubernetes-dashboard"),
            ] {
                match o.get("Deployment", ns, name) {
                    None => missing.push(format!("{ns}/{name} does not exist")),
                    Some(d) if !cluster::available(d) => {
                        missing.push(format!("{ns}/{name} has no available replica"))
                    }
                    Some(_) => {}
                }
            }
            if missing.is_empty() {
                pass("metrics-server and kubernetes-dashboard are available")
            } else {
                fail(missing.join("; "))
            }
        }
        "hello-node" => {
            let ns = &lab.namespace;
            match o.get("Deployment", ns, "hello-node") {
                None => return fail(format!("deployment {ns}/hello-node does not exist")),
                Some(d) if !cluster::available(d) => {
                    return fail(format!("deployment {ns}/hello-node has no ready replica"));
                }
                Some(_) => {}
            }
            if o.get("Service", ns, "hello-node").is_none() {
                return fail(format!("service {ns}/hello-node does not exist"));
            }
            probe(
                json!({"url": format!("http://hello-node.{ns}:8080/")}),
                vec![Pod::curl()],
            )
        }
        "netpol-deny-all" | "netpol-allow-specific" | "netpol-restrict-egress" => {
            let ns = &lab.netpol_namespace;
            let (exercise, file, bundle) = match check.name {
                "netpol-deny-all" => (
                    Exercise::DenyAll,
                    "deny-all-ingress.yaml",
                    "netpol-deny-all",
                ),
                "netpol-allow-specific" => (
                    Exercise::AllowSpecific,
                    "allow-specific-ingress.yaml",
                    "netpol-allow-specific",
                ),
                _ => (
                    Exercise::RestrictEgress,
                    "restrict-egress.yaml",
                    "netpol-restrict-egress",
                ),
            };
            if o.namespace(ns).is_none() {
                return skip(format!(
                    "namespace {ns} does not exist: no exercise of part 1 is applied"
                ));
            }
            let policies = cluster::policies_of(o, ns, exercise);
            if policies.is_empty() {
                let whose = match exercise {
                    Exercise::DenyAll => "every pod".to_string(),
                    Exercise::AllowSpecific => format!("pods labelled {}={}", WEB.0, WEB.1),
                    Exercise::RestrictEgress => format!("pods labelled {}={}", EGRESS.0, EGRESS.1),
                };
                return skip(format!(
                    "no NetworkPolicy in {ns} selects {whose}: the exercise is not applied \
                     (kubectl apply -f {file}, or labprov apply {bundle})"
                ));
            }
            let names: Vec<&str> = policies.iter().map(|p| cluster::name(p)).collect();
            let source = Pod::new(ns, "labprov-source", Image::Agnhost, &[]);
            match exercise {
                Exercise::DenyAll => probe(
                    json!({"ns": ns, "policies": names}),
                    vec![
                        Pod::server(),
                        source,
                        Pod::new(ns, "labprov-target", Image::Agnhost, &[]),
                    ],
                ),
                Exercise::AllowSpecific => probe(
                    json!({"ns": ns, "policies": names}),
                    vec![
                        source,
                        Pod::new(ns, "labprov-web", Image::Agnhost, &[WEB]),
                        Pod::new(ns, "labprov-allowed", Image::Agnhost, &[ALLOWED]),
                    ],
                ),
                Exercise::RestrictEgress => {
                    let allowed = cluster::allowed_address(&policies);
                    probe(
                        json!({"ns": ns, "policies": names,
                               "cidr": allowed.as_ref().map(|a| &a.0),
                               "addr": allowed.as_ref().map(|a| &a.1)}),
                        vec![
                            Pod::server(),
                            Pod::new(ns, "labprov-egress", Image::Agnhost, &[EGRESS]),
                        ],
                    )
                }
            }
        }
        "istio-sidecars" => {
            let mut wrong = Vec::new();
            let version = &cfg.versions.istio;
            match o.get("Deployment", "istio-system", "istiod") {
                None => return fail("Istio is not installed: no deployment istio-system/istiod"),
                Some(d) => {
                    let image = d["spec"]["template"]["spec"]["containers"][0]["image"]
                        .as_str()
                        .unwrap_or("?");
                    let tag = image.rsplit_once(':').map_or("", |(_, t)| t);
                    if tag != version && !tag.starts_with(&format!("{version}-")) {
                        wrong.push(format!("istiod runs {image}, Istio {version} is pinned"));
                    }
                    if !cluster::available(d) {
                        wrong.push("istiod has no available replica".into());
                    }
                }
            }
            let bns = &lab.bookinfo_namespace;
            let injected = o.namespace(bns).is_some_and(|n| {
                cluster::labels(n)
                    .get("istio-injection")
                    .map(String::as_str)
                    == Some("enabled")
            });
            if !injected {
                wrong.push(format!(
                    "namespace {bns} is not labelled istio-injection=enabled"
                ));
            }
            let apps = ["productpage", "details", "reviews", "ratings"];
            let pods: Vec<&Value> = o
                .in_ns("Pod", bns)
                .filter(|p| {
                    cluster::labels(p)
                        .get("app")
                        .is_some_and(|a| apps.contains(&a.as_str()))
                })
                .collect();
            if pods.is_empty() {
                wrong.push(format!("no Bookinfo pod in {bns}"));
            }
            let bare: Vec<&str> = pods
                .iter()
                .filter(|p| !cluster::has_sidecar(p))
                .map(|p| cluster::name(p))
                .collect();
            if !bare.is_empty() {
                wrong.push(format!(
                    "without an istio-proxy sidecar: {}",
                    bare.join(", ")
                ));
            }
            if wrong.is_empty() {
                pass(format!(
                    "istiod {version}; {bns} labelled istio-injection=enabled; all {} Bookinfo \
                     pods have their sidecar",
                    pods.len()
                ))
            } else {
                fail(wrong.join("; "))
            }
        }
        "gateway" | "observability" => {
            if check.name == "gateway"
                && o.get("Service", "istio-system", "istio-ingressgateway")
                    .is_none()
            {
                return fail("service istio-system/istio-ingressgateway does not exist");
            }
            probe(
                json!({"gateway": "http://istio-ingressgateway.istio-system/productpage"}),
                vec![Pod::curl()],
            )
        }
        "routing-all-v1" | "routing-weighted" => {
            let bns = &lab.bookinfo_namespace;
            let Some((vs, routes)) = cluster::reviews_routes(o, bns) else {
                return skip(format!(
                    "no VirtualService for reviews in {bns}: the routing exercise (4.5) is not \
                     applied"
                ));
            };
            let weighted = routes.len() > 1;
            if check.name == "routing-all-v1" && weighted {
                return skip(format!(
                    "VirtualService {vs} splits reviews traffic ({}): that is weighted routing",
                    split(&routes)
                ));
            }
            if check.name == "routing-weighted" && !weighted {
                return skip(format!(
                    "VirtualService {vs} sends all reviews traffic to {}: that is the all-v1 \
                     routing",
                    routes.first().map_or("?", |r| r.0.as_str())
                ));
            }
            let Some(pod) = ratings() else {
                return fail(format!(
                    "no running ratings pod in {bns} to send requests from inside the mesh"
                ));
            };
            let n = if weighted {
                stats::WEIGHTED_N
            } else {
                stats::ALL_V1_N
            };
            let w = &lab.weights;
            probe(
                json!({"ns": bns, "pod": pod, "n": n, "vs": vs, "routes": routes,
                       "asked": [w.v1, w.v2, w.v3],
                       "url": "http://productpage:9080/productpage"}),
                vec![],
            )
        }
        "mtls-strict" => {
            let bns = &lab.bookinfo_namespace;
            let pas = cluster::peer_authentications(o, &lab.mesh_namespace, bns);
            if pas.is_empty() {
                return skip(format!(
                    "no PeerAuthentication in {} or {bns}: the mTLS exercise (4.6) is not applied",
                    lab.mesh_namespace
                ));
            }
            let legacy = &lab.legacy_namespace;
            if o.namespace(legacy).is_none() {
                return fail(format!(
                    "namespace {legacy} does not exist: nothing to send plaintext from"
                ));
            }
            let Some(pod) = ratings() else {
                return fail(format!(
                    "no running ratings pod in {bns} to send requests from inside the mesh"
                ));
            };
            probe(
                json!({"ns": bns, "pod": pod, "legacy": legacy, "pas": pas,
                       "url": format!("http://productpage.{bns}:9080/productpage")}),
                vec![Pod::new(legacy, "labprov-legacy", Image::Curl, &[])],
            )
        }
        other => fail(format!(
            "internal error: no judgement for check {other}; please report it"
        )),
    }
}

fn split(routes: &[(String, u32)]) -> String {
    routes
        .iter()
        .map(|(v, w)| format!("{v} {w}%"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An `/agnhost connect` answer: `connected`, or its error word (TIMEOUT: dropped, as
/// Cilium drops what a policy denies; REFUSED: reached, nothing listens; DNS: the name did
/// not resolve; OTHER), or why the probe itself failed.
fn connect_word(a: &Answer) -> String {
    if a.code == 0 {
        return "connected".into();
    }
    let text = format!("{}\n{}", a.out, a.err);
    for w in ["TIMEOUT", "REFUSED", "DNS", "OTHER"] {
        if text.lines().any(|l| l.trim_start().starts_with(w)) {
            return w.into();
        }
    }
    format!("probe failed: {}", a.why())
}

/// A curl answer (`-w '\n%{http_code}'`): the status, the body, and curl's own error.
struct Http {
    code: Option<u16>,
    body: String,
    error: Option<String>,
}

fn http(a: &Answer) -> Http {
    let (body, last) = a.out.rsplit_once('\n').unwrap_or(("", a.out.as_str()));
    let code = last.trim().parse::<u16>().ok().filter(|c| *c != 0);
    let error = (a.code != 0).then(|| {
        a.err
            .lines()
            .find(|l| l.starts_with("curl:"))
            .map(|l| l.trim().to_string())
            .unwrap_or_else(|| format!("exit {}: {}", a.code, a.why()))
    });
    Http {
        code,
        body: body.to_string(),
        error,
    }
}

fn title(body: &str) -> Option<&str> {
    let start = body.find("<title>")? + "<title>".len();
    let end = body[start..].find("</title>")? + start;
    Some(body[start..end].trim())
}

fn http_says(h: &Http) -> String {
    match (&h.error, h.code) {
        (Some(e), _) => e.clone(),
        (None, Some(c)) => format!("HTTP {c}"),
        (None, None) => "no HTTP status".into(),
    }
}

/// The verdict of a probed check, from its answers (`key` → answer).
pub fn judge(probe: &Probe, got: &BTreeMap<String, Answer>) -> (Kind, String) {
    let missing = |k: &str| {
        (
            Kind::Fail,
            format!("the probe did not answer `{k}` (it was cut short)"),
        )
    };
    let p = &probe.vars;
    let get = |k: &str| got.get(k);
    match probe.check.name {
        "hello-node" => {
            let Some(a) = get("http") else {
                return missing("http");
            };
            let h = http(a);
            let url = p["url"].as_str().unwrap_or("?");
            if h.code == Some(200) && h.error.is_none() {
                (Kind::Pass, format!("GET {url} from a pod: HTTP 200"))
            } else {
                (
                    Kind::Fail,
                    format!("GET {url} from a pod: {}", http_says(&h)),
                )
            }
        }
        "netpol-deny-all" => {
            let (Some(b), Some(c)) = (get("blocked"), get("control")) else {
                return missing("blocked/control");
            };
            let ns = p["ns"].as_str().unwrap_or("?");
            let (blocked, control) = (connect_word(b), connect_word(c));
            if control != "connected" {
                return (
                    Kind::Fail,
                    format!(
                        "inconclusive: the source pod in {ns} cannot reach a pod outside any \
                         policy either ({control}), so a block proves nothing"
                    ),
                );
            }
            match blocked.as_str() {
                "TIMEOUT" => (
                    Kind::Pass,
                    format!(
                        "pod to pod in {ns}: TIMEOUT (dropped); the same source reaches a pod outside it"
                    ),
                ),
                "connected" => (
                    Kind::Fail,
                    format!(
                        "a pod in {ns} connected to another pod's port 8080 (policy {} does not \
                         deny ingress, or the CNI does not enforce policies)",
                        list(&p["policies"])
                    ),
                ),
                other => (
                    Kind::Fail,
                    format!("pod to pod in {ns}: {other}, not dropped by a policy"),
                ),
            }
        }
        "netpol-allow-specific" => {
            let (Some(a), Some(o)) = (get("allowed"), get("other")) else {
                return missing("allowed/other");
            };
            let (allowed, other) = (connect_word(a), connect_word(o));
            let mut wrong = Vec::new();
            if allowed != "connected" {
                wrong.push(format!(
                    "a pod labelled {}={} cannot reach a pod labelled {}={} ({allowed})",
                    ALLOWED.0, ALLOWED.1, WEB.0, WEB.1
                ));
            }
            if other != "TIMEOUT" {
                wrong.push(format!(
                    "a pod without {}={} {} a pod labelled {}={}",
                    ALLOWED.0,
                    ALLOWED.1,
                    if other == "connected" {
                        "connected to".to_string()
                    } else {
                        format!("got {other} from")
                    },
                    WEB.0,
                    WEB.1
                ));
            }
            if wrong.is_empty() {
                (
                    Kind::Pass,
                    "access=allowed reaches app=web; an unlabelled pod: TIMEOUT (dropped)".into(),
                )
            } else {
                (Kind::Fail, wrong.join("; "))
            }
        }
        "netpol-restrict-egress" => {
            let Some(a) = get("pod") else {
                return missing("pod");
            };
            let to_pod = connect_word(a);
            let mut wrong = Vec::new();
            let mut fine = Vec::new();
            match to_pod.as_str() {
                "TIMEOUT" => fine.push(format!(
                    "{VERIFY_NS}/labprov-server resolved and dropped (TIMEOUT)"
                )),
                "connected" => wrong.push(format!(
                    "a pod labelled {}={} connected to another pod ({VERIFY_NS}/labprov-server:8080)",
                    EGRESS.0, EGRESS.1
                )),
                "DNS" => wrong.push(format!(
                    "a pod labelled {}={} cannot resolve names (DNS)",
                    EGRESS.0, EGRESS.1
                )),
                other => wrong.push(format!("to another pod: {other}, not dropped by a policy")),
            }
            match (p["addr"].as_str(), get("cidr")) {
                (None, _) => wrong.push("the policy allows no ipBlock".into()),
                (Some(addr), Some(c)) => {
                    let w = connect_word(c);
                    if w == "TIMEOUT" {
                        wrong.push(format!(
                            "{addr}:22, in the allowed {}, is dropped (TIMEOUT)",
                            p["cidr"].as_str().unwrap_or("?")
                        ));
                    } else {
                        fine.push(format!("{addr}:22 in the allowed CIDR: {w}"));
                    }
                }
                (Some(_), None) => return missing("cidr"),
            }
            if wrong.is_empty() {
                (Kind::Pass, fine.join("; "))
            } else {
                (Kind::Fail, wrong.join("; "))
            }
        }
        "gateway" => {
            let Some(a) = get("page") else {
                return missing("page");
            };
            let h = http(a);
            let t = title(&h.body);
            if h.code == Some(200) && t == Some("Simple Bookstore App") {
                (
                    Kind::Pass,
                    "GET /productpage through the ingress gateway: HTTP 200, Simple Bookstore App"
                        .into(),
                )
            } else {
                (
                    Kind::Fail,
                    format!(
                        "GET /productpage through the ingress gateway: {}{}",
                        http_says(&h),
                        t.map(|t| format!(", title {t:?}")).unwrap_or_default()
                    ),
                )
            }
        }
        "routing-all-v1" | "routing-weighted" => {
            let Some(a) = get("versions") else {
                return missing("versions");
            };
            let seen = a.out.trim();
            let count = |c: char| seen.chars().filter(|x| *x == c).count() as u64;
            let (v1, v2, v3, errors) = (count('1'), count('2'), count('3'), count('e'));
            let n = p["n"].as_u64().unwrap_or(0);
            let vs = p["vs"].as_str().unwrap_or("?");
            let observed = format!("v1 {v1}, v2 {v2}, v3 {v3}, failed {errors} of {n} requests");
            if (seen.len() as u64) < n || errors > 0 {
                return (
                    Kind::Fail,
                    format!(
                        "requests to productpage failed: {observed}{}",
                        if a.code != 0 {
                            format!(" ({})", a.why())
                        } else {
                            String::new()
                        }
                    ),
                );
            }
            if probe.check.name == "routing-all-v1" {
                return if v1 == n {
                    (Kind::Pass, format!("{n} of {n} requests on reviews-v1"))
                } else {
                    (
                        Kind::Fail,
                        format!("observed {observed}; all should be on v1 (VirtualService {vs})"),
                    )
                };
            }
            let routes: Vec<(String, u32)> =
                serde_json::from_value(p["routes"].clone()).unwrap_or_default();
            let weight = |v: &str| routes.iter().find(|r| r.0 == v).map_or(0, |r| r.1);
            let configured = [weight("v1"), weight("v2"), weight("v3")];
            let asked: Vec<u32> = p["asked"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|w| w.as_u64())
                        .map(|w| w as u32)
                        .collect()
                })
                .unwrap_or_default();
            let observed = [v1, v2, v3];
            let shown = |w: &[u32]| format!("{}/{}/{}", w[0], w[1], w[2]);
            // Two tests of the same requests: the mesh follows the VirtualService, and the
            // traffic is split as the exercise asks (lab.weights). Each at α; together at
            // most 2α.
            let mut wrong = Vec::new();
            let mut fine = Vec::new();
            for (weights, whose) in [
                (
                    configured.as_slice(),
                    format!("the weights of VirtualService {vs}"),
                ),
                (
                    asked.as_slice(),
                    "the exercise's split (lab.weights)".to_string(),
                ),
            ] {
                if weights.len() != 3 {
                    continue;
                }
                match stats::chi_square(&observed, weights) {
                    None => wrong.push(format!(
                        "{whose} ({}) leave nothing to test",
                        shown(weights)
                    )),
                    Some(t) if t.rejects => wrong.push(format!(
                        "observed {} (v1/v2/v3) of {n} is not consistent with {whose}, {}: \
                         chi-square {:.1} > {:.2} (df {}, false-alarm rate {})",
                        shown_u64(&observed),
                        shown(weights),
                        t.statistic,
                        t.critical,
                        t.df,
                        stats::ALPHA
                    )),
                    Some(t) => fine.push(format!(
                        "{whose}, {}: chi-square {:.1} <= {:.2}",
                        shown(weights),
                        t.statistic,
                        t.critical
                    )),
                }
            }
            if wrong.is_empty() {
                (
                    Kind::Pass,
                    format!(
                        "observed {} (v1/v2/v3) of {n}, consistent with {} (false-alarm rate {} \
                         each)",
                        shown_u64(&observed),
                        fine.join(" and with "),
                        stats::ALPHA
                    ),
                )
            } else {
                (Kind::Fail, wrong.join("; "))
            }
        }
        "mtls-strict" => {
            let (Some(l), Some(m)) = (get("legacy"), get("mesh")) else {
                return missing("legacy/mesh");
            };
            let (legacy, mesh) = (http(l), http(m));
            let legacy_ns = p["legacy"].as_str().unwrap_or("?");
            let pas = list(&p["pas"]);
            let mut wrong = Vec::new();
            // STRICT: the server's sidecar accepts only mTLS, so a plaintext client's
            // connection is reset (curl 56, "Recv failure: Connection reset by peer"; 52,
            // an empty reply, is the same refusal seen earlier).
            let refused = matches!(l.code, 52 | 56);
            if !refused {
                wrong.push(match legacy.code {
                    Some(c) if legacy.error.is_none() => format!(
                        "a plaintext request from {legacy_ns} (no sidecar) got HTTP {c} \
                         (PeerAuthentication {pas})"
                    ),
                    _ => format!(
                        "inconclusive: plaintext from {legacy_ns} did not reach productpage at \
                         all ({})",
                        http_says(&legacy)
                    ),
                });
            }
            if mesh.code != Some(200) || mesh.error.is_some() {
                wrong.push(format!(
                    "a request from inside the mesh (ratings) failed: {}",
                    http_says(&mesh)
                ));
            }
            if wrong.is_empty() {
                (
                    Kind::Pass,
                    format!(
                        "plaintext from {legacy_ns} refused ({}); from inside the mesh: HTTP 200",
                        http_says(&legacy)
                    ),
                )
            } else {
                (Kind::Fail, wrong.join("; "))
            }
        }
        "observability" => {
            let mut wrong = Vec::new();
            for (key, what) in [
                ("kiali", "Kiali"),
                ("grafana", "Grafana"),
                ("jaeger", "Jaeger"),
                ("prometheus", "Prometheus"),
            ] {
                let Some(a) = get(key) else {
                    return missing(key);
                };
                let h = http(a);
                if h.code != Some(200) || h.error.is_some() {
                    wrong.push(format!("{what} does not answer: {}", http_says(&h)));
                }
            }
            let Some(q) = get("series") else {
                return missing("series");
            };
            let h = http(q);
            let v: Value = serde_json::from_str(&h.body).unwrap_or(Value::Null);
            let series = v["data"]["result"].as_array().map_or(0, Vec::len);
            if wrong.iter().all(|w| !w.starts_with("Prometheus")) && series == 0 {
                wrong.push(format!(
                    "Prometheus has no istio_requests_total series after requests through the \
                     gateway ({})",
                    if h.code == Some(200) {
                        "empty result".to_string()
                    } else {
                        http_says(&h)
                    }
                ));
            }
            if wrong.is_empty() {
                (
                    Kind::Pass,
                    format!(
                        "Kiali, Grafana, Jaeger and Prometheus answer; {series} istio_requests_total series"
                    ),
                )
            } else {
                (Kind::Fail, wrong.join("; "))
            }
        }
        other => (
            Kind::Fail,
            format!("internal error: no judgement for check {other}; please report it"),
        ),
    }
}

fn shown_u64(c: &[u64; 3]) -> String {
    format!("{}/{}/{}", c[0], c[1], c[2])
}

fn list(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::checks::{CHECKS, find};
    use crate::verify::example;

    fn cfg() -> Config {
        let layers = crate::profile::load("local").unwrap();
        Config::from_layers(&layers).unwrap()
    }

    fn answer(code: i32, out: &str, err: &str) -> Answer {
        Answer {
            code,
            out: out.into(),
            err: err.into(),
        }
    }

    fn probe_of(cfg: &Config, check: &str, weighted: bool) -> Probe {
        match plan(cfg, find(check).unwrap(), &example::gather(cfg, weighted)) {
            Plan::Probe(p) => p,
            Plan::Done(k, d) => panic!("{check}: decided {k:?}: {d}"),
        }
    }

    #[test]
    fn a_converged_lab_passes_what_is_decided_at_once() {
        let cfg = cfg();
        let g = example::gather(&cfg, true);
        for c in CHECKS {
            match plan(&cfg, c, &g) {
                Plan::Done(Kind::Pass, _) => assert!(c.probe.is_none(), "{}", c.name),
                Plan::Done(Kind::Skip, why) => {
                    assert_eq!(c.name, "routing-all-v1", "{why}");
                    assert!(why.contains("weighted routing"), "{why}");
                }
                Plan::Done(k, why) => panic!("{}: {k:?}: {why}", c.name),
                Plan::Probe(p) => assert!(c.probe.is_some() && p.check.name == c.name),
            }
        }
    }

    #[test]
    fn the_round_trip_lines_are_read_back() {
        let out = "noise\n::env docker 1 aGk= cGVybWlzc2lvbiBkZW5pZWQ=\n::probe gateway page 0 Ym9keQoyMDA= \n";
        let env = answers(out, "::env", 1);
        let a = &env[&vec!["docker".to_string()]];
        assert_eq!(
            (a.code, a.out.as_str(), a.why()),
            (1, "hi", "permission denied".to_string())
        );
        let probes = answers(out, "::probe", 2);
        let p = &probes[&vec!["gateway".to_string(), "page".to_string()]];
        assert_eq!((p.out.as_str(), p.err.as_str()), ("body\n200", ""));
        let g = Gather::parse(out);
        assert!(g.objects.is_err());
        let docker = plan(&cfg(), find("docker-usable").unwrap(), &g);
        assert!(
            matches!(&docker, Plan::Done(Kind::Fail, d) if d.contains("permission denied")),
            "{docker:?}"
        );
    }

    #[test]
    fn an_exercise_without_its_policy_is_skipped_with_the_reason() {
        let cfg = cfg();
        let mut objects = example::objects(&cfg, true);
        objects.retain(|o| o["kind"] != "NetworkPolicy" && o["kind"] != "PeerAuthentication");
        let list = json!({"items": objects}).to_string();
        let mut g = example::gather(&cfg, true);
        g.objects = Objects::from_lists(&[&list]);
        for c in [
            "netpol-deny-all",
            "netpol-allow-specific",
            "netpol-restrict-egress",
            "mtls-strict",
        ] {
            match plan(&cfg, find(c).unwrap(), &g) {
                Plan::Done(Kind::Skip, why) => assert!(why.contains("not applied"), "{c}: {why}"),
                other => panic!("{c}: {other:?}"),
            }
        }
    }

    #[test]
    fn network_policy_verdicts_come_from_agnhost_connect() {
        let cfg = cfg();
        let p = probe_of(&cfg, "netpol-deny-all", true);
        let got = |blocked: Answer| {
            BTreeMap::from([
                ("blocked".to_string(), blocked),
                ("control".to_string(), answer(0, "", "")),
            ])
        };
        assert_eq!(judge(&p, &got(answer(1, "", "TIMEOUT\n"))).0, Kind::Pass);
        let (k, why) = judge(&p, &got(answer(0, "", "")));
        assert_eq!(k, Kind::Fail);
        assert!(why.contains("connected to another pod"), "{why}");
        let (k, why) = judge(&p, &got(answer(1, "", "REFUSED\n")));
        assert!(k == Kind::Fail && why.contains("REFUSED"), "{why}");
        // The control must connect, or a block proves nothing.
        let mut g = got(answer(1, "", "TIMEOUT\n"));
        g.insert("control".into(), answer(1, "", "TIMEOUT\n"));
        let (k, why) = judge(&p, &g);
        assert!(k == Kind::Fail && why.starts_with("inconclusive"), "{why}");
        assert_eq!(judge(&p, &BTreeMap::new()).0, Kind::Fail);

        let e = probe_of(&cfg, "netpol-restrict-egress", true);
        let dns = BTreeMap::from([
            (
                "pod".to_string(),
                answer(
                    1,
                    "",
                    "DNS: lookup labprov-server.labprov-verify on 10.96.0.10:53: i/o timeout",
                ),
            ),
            ("cidr".to_string(), answer(0, "", "")),
        ]);
        let (k, why) = judge(&e, &dns);
        assert!(
            k == Kind::Fail && why.contains("cannot resolve names"),
            "{why}"
        );
    }

    #[test]
    fn weighted_routing_is_judged_by_chi_square() {
        let cfg = cfg();
        let p = probe_of(&cfg, "routing-weighted", true);
        let letters = |v1: usize, v2: usize, v3: usize| {
            BTreeMap::from([(
                "versions".to_string(),
                answer(
                    0,
                    &format!("{}{}{}", "1".repeat(v1), "2".repeat(v2), "3".repeat(v3)),
                    "",
                ),
            )])
        };
        let (k, why) = judge(&p, &letters(104, 57, 39));
        assert_eq!(k, Kind::Pass, "{why}");
        let (k, why) = judge(&p, &letters(180, 10, 10));
        assert_eq!(k, Kind::Fail, "{why}");
        assert!(
            why.contains("180/10/10") && why.contains("chi-square 128.2 > 13.82"),
            "{why}"
        );
        // Fewer answers than requests: some requests failed to come back at all.
        let (k, why) = judge(&p, &letters(100, 60, 30));
        assert!(
            k == Kind::Fail && why.starts_with("requests to productpage failed"),
            "{why}"
        );
    }

    #[test]
    fn strict_mtls_needs_a_reset_for_plaintext_and_200_inside() {
        let cfg = cfg();
        let p = probe_of(&cfg, "mtls-strict", true);
        let got = |legacy: Answer| {
            BTreeMap::from([
                ("legacy".to_string(), legacy),
                ("mesh".to_string(), answer(0, "<html>\n200", "")),
            ])
        };
        let reset = answer(
            56,
            "\n000",
            "curl: (56) Recv failure: Connection reset by peer\ncommand terminated with exit code 56",
        );
        let (k, why) = judge(&p, &got(reset));
        assert_eq!(k, Kind::Pass, "{why}");
        assert!(why.contains("Connection reset by peer"), "{why}");
        let (k, why) = judge(&p, &got(answer(0, "<html>\n200", "")));
        assert!(k == Kind::Fail && why.contains("got HTTP 200"), "{why}");
        let (k, why) = judge(&p, &got(answer(7, "\n000", "curl: (7) Failed to connect")));
        assert!(k == Kind::Fail && why.starts_with("inconclusive"), "{why}");
    }
}
