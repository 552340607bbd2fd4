//! The lab's own manifests (`yamls/`), as `labprov render` writes them with the local profile:
//! every core Kubernetes object passes `kubernetes-validate --strict` for the profile's
//! Kubernetes version, every Istio object fits the fields of its CRD
//! (`tests/fixtures/istio-crd-fields.json`, from Istio's own CRD file), and the values the
//! guide's exercises rely on are the ones the guide means.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::{Value, json};

use common::{labprov, root};

const PROFILE: &str = "profiles/local.toml";
const CRD_FIXTURE: &str = "tests/fixtures/istio-crd-fields.json";
/// Kinds without a namespace; every other object must name its namespace.
const CLUSTER_SCOPED: &[&str] = &["Namespace"];

/// One YAML document of a rendered file: its own text and what it parses to.
struct Doc {
    file: String,
    index: usize,
    text: String,
    value: Value,
}

impl Doc {
    fn str(&self, pointer: &str) -> &str {
        self.value
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{}#{}: no string at {pointer}", self.file, self.index))
    }
    fn api_version(&self) -> &str {
        self.str("/apiVersion")
    }
    fn kind(&self) -> &str {
        self.str("/kind")
    }
    fn name(&self) -> &str {
        self.str("/metadata/name")
    }
    fn is_istio(&self) -> bool {
        self.api_version().contains("istio.io")
    }
}

/// The rendered manifests, file name → text, in file name order (rendered once per run).
fn rendered() -> &'static [(String, String)] {
    static RENDERED: OnceLock<Vec<(String, String)>> = OnceLock::new();
    RENDERED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = labprov()
            .current_dir(root())
            .args(["--profile", PROFILE, "--output", "plain", "render", "--out"])
            .arg(dir.path())
            .output()
            .expect("labprov runs");
        assert!(
            out.status.success(),
            "labprov render failed: exit {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let templates = yaml_names(&root().join("yamls"));
        let manifests = dir.path().join("manifests");
        assert!(
            manifests.is_dir(),
            "labprov render wrote no {}",
            manifests.display()
        );
        assert_eq!(
            yaml_names(&manifests),
            templates,
            "one rendered manifest per yamls/ template, under the same name"
        );
        templates
            .into_iter()
            .map(|name| {
                let text = std::fs::read_to_string(manifests.join(&name)).unwrap();
                (name, text)
            })
            .collect()
    })
}

fn yaml_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect()
}

/// A file's documents, each with its own text (split at `---` lines, so a document can be
/// validated alone) and its value as serde-saphyr parses it.
fn documents(file: &str, text: &str) -> Vec<Doc> {
    let mut chunks = vec![String::new()];
    for line in text.lines() {
        if line == "---" || line.starts_with("--- ") {
            chunks.push(String::new());
        } else {
            let last = chunks.last_mut().unwrap();
            last.push_str(line);
            last.push('\n');
        }
    }
    let mut docs = Vec::new();
    for chunk in chunks {
        let parsed: Vec<Value> = serde_saphyr::from_multiple(&chunk)
            .unwrap_or_else(|e| panic!("{file}: not YAML: {e}\n{chunk}"));
        assert!(parsed.len() <= 1, "{file}: a '---' the split missed");
        if let Some(value) = parsed.into_iter().next() {
            docs.push(Doc {
                file: file.to_string(),
                index: docs.len(),
                text: chunk,
                value,
            });
        }
    }
    // The split agrees with the parser reading the whole file.
    let whole: Vec<Value> =
        serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("{file}: not YAML: {e}"));
    assert_eq!(
        whole,
        docs.iter().map(|d| d.value.clone()).collect::<Vec<_>>(),
        "{file}: documents split at '---' differ from the parser's"
    );
    docs
}

fn all_docs() -> Vec<Doc> {
    rendered()
        .iter()
        .flat_map(|(name, text)| documents(name, text))
        .collect()
}

fn the_doc(file: &str) -> Doc {
    let mut docs: Vec<Doc> = all_docs().into_iter().filter(|d| d.file == file).collect();
    assert_eq!(docs.len(), 1, "{file}: one object");
    docs.remove(0)
}

#[test]
fn every_template_renders_to_named_objects_in_explicit_namespaces() {
    let mut objects = Vec::new();
    for (file, text) in rendered() {
        assert!(
            !text.contains("{{") && !text.contains("{%"),
            "{file}: template syntax left after rendering:\n{text}"
        );
        let docs = documents(file, text);
        assert!(!docs.is_empty(), "{file}: no object");
        for d in docs {
            let top: BTreeSet<&str> = d
                .value
                .as_object()
                .unwrap_or_else(|| panic!("{file}#{}: not a mapping", d.index))
                .keys()
                .map(String::as_str)
                .collect();
            assert!(
                top.contains("apiVersion") && top.contains("kind") && top.contains("metadata"),
                "{file}#{}: apiVersion, kind and metadata needed, found {top:?}",
                d.index
            );
            assert!(
                !d.name().is_empty(),
                "{file}#{}: empty metadata.name",
                d.index
            );
            let namespace = d
                .value
                .pointer("/metadata/namespace")
                .and_then(Value::as_str);
            if CLUSTER_SCOPED.contains(&d.kind()) {
                assert_eq!(namespace, None, "{file}: a {} has no namespace", d.kind());
            } else {
                assert!(
                    namespace.is_some_and(|n| !n.is_empty()),
                    "{file}: {} {} must say its namespace (labprov applies server-side and \
                     prunes by namespace/name)",
                    d.kind(),
                    d.name()
                );
            }
            objects.push(format!(
                "{file}: {} {} {}/{}",
                d.api_version(),
                d.kind(),
                namespace.unwrap_or("-"),
                d.name()
            ));
        }
    }
    // The objects of the guide, under its names, with the local profile's (default) values.
    assert_eq!(
        objects,
        [
            "allow-specific-ingress.yaml: networking.k8s.io/v1 NetworkPolicy network-policy-demo/allow-specific-ingress",
            "deny-all-ingress.yaml: networking.k8s.io/v1 NetworkPolicy network-policy-demo/default-deny-ingress",
            "exercise-pods.yaml: v1 Pod default/test-pod",
            "exercise-pods.yaml: v1 Pod network-policy-demo/pod1",
            "exercise-pods.yaml: v1 Pod network-policy-demo/pod2",
            "exercise-pods.yaml: v1 Pod network-policy-demo/pod3",
            "exercise-pods.yaml: v1 Pod network-policy-demo/pod4",
            "exercise-pods.yaml: v1 Pod legacy/legacy-app",
            "hello-node.yaml: apps/v1 Deployment default/hello-node",
            "hello-node.yaml: v1 Service default/hello-node",
            "istio-weighted-routing.yaml: networking.istio.io/v1 VirtualService default/reviews",
            "mTLS-strict.yaml: security.istio.io/v1 PeerAuthentication istio-system/default",
            "namespaces.yaml: v1 Namespace -/network-policy-demo",
            "namespaces.yaml: v1 Namespace -/legacy",
            "restrict-egress.yaml: networking.k8s.io/v1 NetworkPolicy network-policy-demo/restrict-egress",
            "tracing.yaml: telemetry.istio.io/v1 Telemetry istio-system/mesh-default",
        ]
    );
}

// ---- core Kubernetes objects: kubernetes-validate --strict ----

fn kubernetes_validate(args: &[&str], files: &[PathBuf]) -> Output {
    match Command::new("kubernetes-validate")
        .args(args)
        .args(files)
        .env("COLUMNS", "200")
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "kubernetes-validate is not installed (not on PATH). It comes from PyPI and \
             tests/run installs it (python3 -m pip install kubernetes-validate); run the \
             suite with `sudo tests/run`, or install it by hand"
        ),
        Err(e) => panic!("kubernetes-validate could not run: {e}"),
    }
}

/// (major, minor) of a version like `v1.37.0` or `1.37`.
fn major_minor(v: &str) -> (u32, u32) {
    let mut parts = v.trim_start_matches('v').split('.');
    let mut next = || {
        parts
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("not a version: {v}"))
    };
    (next(), next())
}

/// The Kubernetes version the profile's cluster runs (`cluster.kubernetes_version`).
fn profile_kubernetes_version() -> String {
    let text = std::fs::read_to_string(root().join(PROFILE)).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    table
        .get("cluster")
        .and_then(|c| c.get("kubernetes_version"))
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("{PROFILE}: no cluster.kubernetes_version"))
        .trim_start_matches('v')
        .to_string()
}

/// The newest Kubernetes version the installed kubernetes-validate has schemas for (its
/// default, which `--help` names).
fn newest_supported() -> String {
    let out = kubernetes_validate(&["--help"], &[]);
    let help = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    help.split_once("Defaults to ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .map(|v| v.trim_end_matches('.').to_string())
        .unwrap_or_else(|| panic!("kubernetes-validate --help names no default version:\n{help}"))
}

#[test]
fn core_objects_pass_kubernetes_validate_strict() {
    // The profile's Kubernetes version (v1.37.0 by default); should kubernetes-validate not
    // have schemas that new, its newest, said on stderr (it picks the newest schema not newer
    // than what it is asked for, so the minor it reports is checked below).
    let wanted = profile_kubernetes_version();
    let newest = newest_supported();
    let version = if major_minor(&wanted) > major_minor(&newest) {
        eprintln!(
            "note: kubernetes-validate has no schemas for Kubernetes {wanted}; validating \
             against its newest, {newest}"
        );
        newest
    } else {
        wanted
    };
    let (major, minor) = major_minor(&version);

    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut expected = Vec::new();
    for d in all_docs().iter().filter(|d| !d.is_istio()) {
        let path = dir.path().join(format!(
            "{}-{}.yaml",
            d.file.trim_end_matches(".yaml"),
            d.index
        ));
        std::fs::write(&path, &d.text).unwrap();
        // What kubernetes-validate prints for an object it checked against a schema; an
        // object it has no schema for is only a WARN with exit 0, so each line is required.
        expected.push(format!(
            "INFO {} passed for resource {}/{} against version {major}.{minor}",
            path.display(),
            d.kind().to_lowercase(),
            d.name()
        ));
        files.push(path);
    }
    assert!(files.len() >= 7, "core objects found: {}", files.len());

    let out = kubernetes_validate(&["--strict", "--kubernetes-version", &version], &files);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = format!(
        "kubernetes-validate --strict --kubernetes-version {version}: exit {:?}\n{stdout}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
    for line in stdout.lines() {
        assert!(line.starts_with("INFO "), "{report}");
    }
    for line in &expected {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing `{line}`\n{report}"
        );
    }
}

// ---- Istio objects: the fields of their CRDs ----

fn crd_fixture() -> Value {
    let path = root().join(CRD_FIXTURE);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{CRD_FIXTURE}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{CRD_FIXTURE}: {e}"))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Check `v` against a (reduced) structural schema of a CRD: unknown properties, types,
/// enums and required properties, everywhere under `path`.
fn walk(schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !(v.is_string() || v.is_i64() || v.is_u64()) {
            errors.push(format!(
                "{path}: expected integer or string, found {}",
                json_type(v)
            ));
        }
        return;
    }
    let ty = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{CRD_FIXTURE}: no type for {path}"));
    let fits = match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        other => panic!("{CRD_FIXTURE}: unknown type {other} for {path}"),
    };
    if !fits {
        errors.push(format!("{path}: expected {ty}, found {} {v}", json_type(v)));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        errors.push(format!(
            "{path}: {v} is not one of {}",
            Value::from(allowed.clone())
        ));
    }
    match v {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (key, child) in map {
                    match props.get(key) {
                        Some(s) => walk(s, child, &format!("{path}.{key}"), errors),
                        None => errors.push(format!(
                            "{path}.{key}: unknown field (the CRD has: {})",
                            props.keys().cloned().collect::<Vec<_>>().join(", ")
                        )),
                    }
                }
            } else if let Some(values) = schema.get("additionalProperties") {
                for (key, child) in map {
                    walk(values, child, &format!("{path}.{key}"), errors);
                }
            } else if schema.get("x-kubernetes-preserve-unknown-fields") != Some(&Value::Bool(true))
                && !map.is_empty()
            {
                errors.push(format!("{path}: the CRD allows no fields here"));
            }
            for key in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let key = key.as_str().unwrap();
                if !map.contains_key(key) {
                    errors.push(format!("{path}: missing required field {key}"));
                }
            }
        }
        Value::Array(items) => {
            let item_schema = schema
                .get("items")
                .unwrap_or_else(|| panic!("{CRD_FIXTURE}: no items for {path}"));
            for (i, item) in items.iter().enumerate() {
                walk(item_schema, item, &format!("{path}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

/// Everything wrong with an Istio object by its CRD's fields; empty when it fits.
fn crd_errors(fixture: &Value, obj: &Value) -> Vec<String> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    let key = format!("{api_version}/{kind}");
    let Some(schema) = fixture.get(&key) else {
        let known: Vec<&String> = fixture
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !k.starts_with('_'))
            .collect();
        return vec![format!("{key}: no CRD schema for it (known: {known:?})")];
    };
    let mut errors = Vec::new();
    for key in obj.as_object().unwrap().keys() {
        if !["apiVersion", "kind", "metadata", "spec"].contains(&key.as_str()) {
            errors.push(format!("{key}: unknown top-level field"));
        }
    }
    match obj.get("spec") {
        Some(spec) => walk(schema, spec, "spec", &mut errors),
        None => errors.push("spec: missing".to_string()),
    }
    errors
}

#[test]
fn istio_objects_fit_the_fields_of_their_crds() {
    let fixture = crd_fixture();
    let istio: Vec<Doc> = all_docs().into_iter().filter(Doc::is_istio).collect();
    assert!(istio.len() >= 2, "Istio objects found: {}", istio.len());
    for d in &istio {
        let errors = crd_errors(&fixture, &d.value);
        assert!(
            errors.is_empty(),
            "{}: {} {} does not fit its CRD:\n  {}\n{}",
            d.file,
            d.kind(),
            d.name(),
            errors.join("\n  "),
            d.text
        );
    }
}

#[test]
fn the_crd_check_rejects_what_istio_would_reject() {
    let fixture = crd_fixture();
    for key in [
        "networking.istio.io/v1/DestinationRule",
        "networking.istio.io/v1/Gateway",
        "networking.istio.io/v1/VirtualService",
        "security.istio.io/v1/PeerAuthentication",
        "telemetry.istio.io/v1/Telemetry",
    ] {
        assert!(fixture.get(key).is_some(), "{CRD_FIXTURE}: no {key}");
    }
    let source = &fixture["_source"];
    assert_eq!(
        source["repository"], "istio/istio",
        "{CRD_FIXTURE}: _source"
    );

    let vs = |route: Value| {
        json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "reviews", "namespace": "default"},
            "spec": {"hosts": ["reviews"], "http": [{"route": route}]}
        })
    };
    let good = vs(json!([
        {"destination": {"host": "reviews", "subset": "v1"}, "weight": 80},
        {"destination": {"host": "reviews", "subset": "v2"}, "weight": 20}
    ]));
    assert_eq!(crd_errors(&fixture, &good), Vec::<String>::new());

    let cases = [
        (
            vs(json!([{"destination": {"host": "reviews", "subset": "v1"}, "wieght": 50}])),
            "spec.http[0].route[0].wieght: unknown field",
        ),
        (
            vs(json!([{"destination": {"host": "reviews", "subset": "v1"}, "weight": "50"}])),
            "spec.http[0].route[0].weight: expected integer, found string",
        ),
        (
            vs(json!([{"destination": {"subset": "v1"}, "weight": 50}])),
            "spec.http[0].route[0].destination: missing required field host",
        ),
        (
            // The PDF's shape: 'route' directly under 'http', not in a list item.
            json!({
                "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                "metadata": {"name": "reviews", "namespace": "default"},
                "spec": {"hosts": ["reviews"], "http": {"route": []}}
            }),
            "spec.http: expected array, found object",
        ),
        (
            json!({
                "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                "metadata": {"name": "default", "namespace": "istio-system"},
                "spec": {"mtls": {"mode": "STRICTER"}}
            }),
            "spec.mtls.mode: \"STRICTER\" is not one of",
        ),
        (
            json!({
                "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                "metadata": {"name": "default", "namespace": "istio-system"},
                "spec": {"mode": "STRICT"}
            }),
            "spec.mode: unknown field",
        ),
        (
            json!({
                "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                "metadata": {"name": "reviews", "namespace": "default"},
                "spec": {"subsets": [{"name": "v1", "labels": {"version": "v1"}}]}
            }),
            "spec: missing required field host",
        ),
        (
            json!({
                "apiVersion": "networking.istio.io/v1alpha4", "kind": "VirtualService",
                "metadata": {"name": "reviews", "namespace": "default"},
                "spec": {}
            }),
            "networking.istio.io/v1alpha4/VirtualService: no CRD schema",
        ),
        (
            json!({
                "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
                "metadata": {"name": "bookinfo-gateway", "namespace": "default"},
                "spec": {"selector": {"istio": "ingressgateway"},
                         "servers": [{"port": {"number": 8080, "name": "http", "protocol": "HTTP"},
                                      "hosts": ["*"], "tls": {"mode": "SIMPLER"}}]}
            }),
            "spec.servers[0].tls.mode: \"SIMPLER\" is not one of",
        ),
        (
            // The Telemetry API's old single-provider shape is not the v1 one.
            json!({
                "apiVersion": "telemetry.istio.io/v1", "kind": "Telemetry",
                "metadata": {"name": "mesh-default", "namespace": "istio-system"},
                "spec": {"tracing": [{"provider": {"name": "jaeger"}}]}
            }),
            "spec.tracing[0].provider: unknown field",
        ),
        (
            json!({
                "apiVersion": "telemetry.istio.io/v1", "kind": "Telemetry",
                "metadata": {"name": "mesh-default", "namespace": "istio-system"},
                "spec": {"tracing": [{"providers": [{}], "randomSamplingPercentage": "100"}]}
            }),
            "spec.tracing[0].providers[0]: missing required field name",
        ),
        (
            json!({
                "apiVersion": "telemetry.istio.io/v1", "kind": "Telemetry",
                "metadata": {"name": "mesh-default", "namespace": "istio-system"},
                "spec": {"tracing": [{"providers": [{"name": "jaeger"}], "randomSamplingPercentage": "100"}]}
            }),
            "spec.tracing[0].randomSamplingPercentage: expected number, found string",
        ),
    ];
    for (obj, want) in cases {
        let errors = crd_errors(&fixture, &obj);
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "expected an error containing `{want}`, got {errors:?} for {obj}"
        );
    }

    // And it accepts the shapes of the release samples the lab applies (bookinfo gateway,
    // destination rules, routing all to v1).
    let samples = [
        json!({
            "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
            "metadata": {"name": "bookinfo-gateway", "namespace": "default"},
            "spec": {"selector": {"istio": "ingressgateway"},
                     "servers": [{"port": {"number": 8080, "name": "http", "protocol": "HTTP"},
                                  "hosts": ["*"]}]}
        }),
        json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "bookinfo", "namespace": "default"},
            "spec": {"hosts": ["*"], "gateways": ["bookinfo-gateway"],
                     "http": [{"match": [{"uri": {"exact": "/productpage"}},
                                         {"uri": {"prefix": "/static"}}],
                               "route": [{"destination": {"host": "productpage",
                                                          "port": {"number": 9080}}}]}]}
        }),
        json!({
            "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "reviews", "namespace": "default"},
            "spec": {"host": "reviews",
                     "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
                     "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                 {"name": "v2", "labels": {"version": "v2"}},
                                 {"name": "v3", "labels": {"version": "v3"}}]}
        }),
    ];
    for obj in samples {
        assert_eq!(crd_errors(&fixture, &obj), Vec::<String>::new(), "{obj}");
    }
}

// ---- what the exercises rely on ----

#[test]
fn weighted_routing_sends_50_30_20_to_v1_v2_v3() {
    let d = the_doc("istio-weighted-routing.yaml");
    assert_eq!(d.kind(), "VirtualService");
    assert_eq!(d.name(), "reviews");
    let spec = &d.value["spec"];
    assert_eq!(spec["hosts"], json!(["reviews"]));
    let http = spec["http"].as_array().expect("spec.http is a list");
    assert_eq!(http.len(), 1, "one http rule");
    let routes: Vec<(&str, &str, u64)> = http[0]["route"]
        .as_array()
        .expect("spec.http[0].route is a list")
        .iter()
        .map(|r| {
            match (
                r["destination"]["host"].as_str(),
                r["destination"]["subset"].as_str(),
                r["weight"].as_u64(),
            ) {
                (Some(host), Some(subset), Some(weight)) => (host, subset, weight),
                _ => panic!("route {r}: destination.host, destination.subset and weight needed"),
            }
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("reviews", "v1", 50),
            ("reviews", "v2", 30),
            ("reviews", "v3", 20)
        ]
    );
}

#[test]
fn restrict_egress_allows_the_ip_block_and_dns_to_any_namespace() {
    let d = the_doc("restrict-egress.yaml");
    assert_eq!(d.name(), "restrict-egress");
    assert_eq!(
        d.value["spec"],
        json!({
            "podSelector": {"matchLabels": {"app": "testRestrictEgress"}},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"ipBlock": {"cidr": "192.168.49.0/24"}}]},
                {"to": [{"namespaceSelector": {}}],
                 "ports": [{"protocol": "UDP", "port": 53}]}
            ]
        })
    );
}

#[test]
fn the_other_objects_are_the_guides() {
    let docs = all_docs();
    let spec = |file: &str, kind: &str| -> Value {
        docs.iter()
            .find(|d| d.file == file && d.kind() == kind)
            .unwrap_or_else(|| panic!("{file}: no {kind}"))
            .value["spec"]
            .clone()
    };
    assert_eq!(
        spec("deny-all-ingress.yaml", "NetworkPolicy"),
        json!({"podSelector": {}, "policyTypes": ["Ingress"]})
    );
    assert_eq!(
        spec("allow-specific-ingress.yaml", "NetworkPolicy"),
        json!({
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"access": "allowed"}}}]}]
        })
    );
    assert_eq!(
        spec("mTLS-strict.yaml", "PeerAuthentication"),
        json!({"mtls": {"mode": "STRICT"}})
    );
    // What `kubectl create deployment hello-node --image=... -- /agnhost netexec
    // --http-port=8080` and `kubectl expose deployment hello-node --type=LoadBalancer
    // --port=8080` create, plus the label that keeps its pod sidecar-free (see below).
    assert_eq!(
        spec("hello-node.yaml", "Deployment"),
        json!({
            "replicas": 1,
            "selector": {"matchLabels": {"app": "hello-node"}},
            "template": {
                "metadata": {"labels": {"app": "hello-node", "sidecar.istio.io/inject": "false"}},
                "spec": {"containers": [{
                    "name": "agnhost",
                    "image": "registry.k8s.io/e2e-test-images/agnhost:2.39",
                    "command": ["/agnhost", "netexec", "--http-port=8080"]
                }]}
            }
        })
    );
    assert_eq!(
        spec("hello-node.yaml", "Service"),
        json!({
            "type": "LoadBalancer",
            "selector": {"app": "hello-node"},
            "ports": [{"protocol": "TCP", "port": 8080, "targetPort": 8080}]
        })
    );
    let deployment = docs
        .iter()
        .find(|d| d.file == "hello-node.yaml" && d.kind() == "Deployment")
        .unwrap();
    assert_eq!(
        deployment.value["metadata"]["labels"]["app"], "hello-node",
        "the deployment carries app=hello-node, as kubectl create deployment sets it"
    );
}

/// In the guide hello-node (2.3) exists before Istio is installed (4.3), so it never gets a
/// sidecar; labprov installs Istio first, so the pod template must opt out of injection the
/// way Istio's injector reads it: the `sidecar.istio.io/inject` pod label, `"false"` (a
/// string: a YAML boolean there is not a label value), preferred over the older annotation.
#[test]
fn hello_node_pods_opt_out_of_sidecar_injection() {
    let docs = all_docs();
    let deployment = docs
        .iter()
        .find(|d| d.file == "hello-node.yaml" && d.kind() == "Deployment")
        .expect("hello-node.yaml has a Deployment");
    let template = &deployment.value["spec"]["template"]["metadata"];
    assert_eq!(
        template["labels"]["sidecar.istio.io/inject"],
        json!("false"),
        "hello-node's pod template: {template}"
    );
    assert!(
        template.get("annotations").is_none(),
        "no annotation that could say otherwise: {template}"
    );
    // And the selector does not carry it: the Deployment still selects on app alone, as
    // `kubectl create deployment` made it.
    assert_eq!(
        deployment.value["spec"]["selector"],
        json!({"matchLabels": {"app": "hello-node"}})
    );
}

/// Guide 4.7 step 5 finds no traces in Jaeger: the demo profile declares a tracing provider
/// named `jaeger` (OpenTelemetry to the addon's jaeger-collector) and nothing enables it. The
/// addons bundle carries what Istio's Jaeger task applies to enable it: one mesh-wide
/// Telemetry in the root namespace that names that provider, sampling every request.
#[test]
fn tracing_is_enabled_mesh_wide_to_the_demo_profiles_jaeger_provider() {
    let d = the_doc("tracing.yaml");
    assert_eq!(d.api_version(), "telemetry.istio.io/v1");
    assert_eq!(d.kind(), "Telemetry");
    // Mesh-wide: the root namespace (istio-system) and no selector or targetRef.
    assert_eq!(d.str("/metadata/namespace"), "istio-system");
    let spec = &d.value["spec"];
    for key in ["selector", "targetRef", "targetRefs"] {
        assert!(
            spec.get(key).is_none(),
            "a mesh-wide Telemetry has no {key}: {spec}"
        );
    }
    let tracing = spec["tracing"].as_array().expect("spec.tracing is a list");
    assert_eq!(tracing.len(), 1, "{spec}");
    assert_eq!(tracing[0]["providers"], json!([{"name": "jaeger"}]));
    let rate = tracing[0]["randomSamplingPercentage"]
        .as_f64()
        .expect("a sampling percentage");
    assert!(
        rate == 100.0,
        "every request traced, as the demo profile's traceSampling: {rate}"
    );
    assert!(
        tracing[0].get("disableSpanReporting").is_none(),
        "spans are reported: {spec}"
    );
}

/// The pods the guide's exercises create by hand (3.2-3.5, 4.6), as `kubectl run` makes them
/// (label run=NAME, a container named after the pod) with the guide's images and the labels
/// its policies select on; a long sleep instead of an interactive shell.
#[test]
fn exercise_pods_are_the_guides_with_the_labels_its_policies_select() {
    let docs: Vec<Doc> = all_docs()
        .into_iter()
        .filter(|d| d.file == "exercise-pods.yaml")
        .collect();
    let pod = |name: &str| -> &Doc {
        docs.iter()
            .find(|d| d.name() == name)
            .unwrap_or_else(|| panic!("exercise-pods.yaml: no pod {name}"))
    };
    let expect = [
        (
            "test-pod",
            "busybox",
            json!({"run": "test-pod", "sidecar.istio.io/inject": "false"}),
        ),
        ("pod1", "nginx", json!({"run": "pod1", "app": "web"})),
        ("pod2", "busybox", json!({"run": "pod2"})),
        (
            "pod3",
            "busybox",
            json!({"run": "pod3", "access": "allowed"}),
        ),
        (
            "pod4",
            "busybox",
            json!({"run": "pod4", "app": "testRestrictEgress"}),
        ),
        ("legacy-app", "busybox", json!({"run": "legacy-app"})),
    ];
    assert_eq!(docs.len(), expect.len());
    for (name, image, labels) in expect {
        let d = pod(name);
        assert_eq!(d.kind(), "Pod");
        assert_eq!(d.value["metadata"]["labels"], labels, "{name}");
        let containers = d.value["spec"]["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 1, "{name}");
        assert_eq!(containers[0]["name"], name);
        assert_eq!(containers[0]["image"], image, "{name}");
        if image == "busybox" {
            // Runs until deleted (a year), with no terminal attached.
            assert_eq!(
                containers[0]["command"],
                json!(["sleep", "31536000"]),
                "{name}"
            );
        } else {
            assert!(
                containers[0].get("command").is_none(),
                "nginx serves: {name}"
            );
        }
    }
    // The policies of 3.4 and 3.5 select these pods.
    let selects = |file: &str, pointer: &str| -> Value {
        the_doc(file).value.pointer(pointer).cloned().unwrap()
    };
    assert_eq!(
        selects(
            "allow-specific-ingress.yaml",
            "/spec/podSelector/matchLabels/app"
        ),
        pod("pod1").value["metadata"]["labels"]["app"]
    );
    assert_eq!(
        selects(
            "allow-specific-ingress.yaml",
            "/spec/ingress/0/from/0/podSelector/matchLabels/access"
        ),
        pod("pod3").value["metadata"]["labels"]["access"]
    );
    assert_eq!(
        selects("restrict-egress.yaml", "/spec/podSelector/matchLabels/app"),
        pod("pod4").value["metadata"]["labels"]["app"]
    );
}
