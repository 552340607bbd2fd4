//! The lab world's kubectl, minikube and docker stand-ins refuse what the real tools refuse
//! (tests/world/standins/ headers say what each models and from which source): labprov's own
//! happy path must still converge against them, and each strictness is seen here as a user
//! of the host would see it.

mod common;

use std::process::Output;

use common::World;
use serde_json::Value;

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A shell command on h1 as the world's login user (whose ~/.kube/config labprov's cluster
/// wrote), with `stdin` fed to it.
fn sh(world: &World, script: &str, stdin: &str) -> Output {
    let wrapped = format!("cat >/tmp/stdin.yaml <<'LABPROV_EOF'\n{stdin}LABPROV_EOF\n{script}");
    world.exec("h1", Some(&world.user), &["bash", "-c", &wrapped])
}

/// `kubectl get` of one field on h1.
fn get(world: &World, what: &[&str], jsonpath: &str) -> String {
    let mut cmd = vec!["kubectl", "get"];
    cmd.extend_from_slice(what);
    let jp = format!("jsonpath={jsonpath}");
    cmd.extend_from_slice(&["-o", &jp]);
    let out = world.exec("h1", Some(&world.user), &cmd);
    assert!(out.status.success(), "kubectl get {what:?}: {}", text(&out));
    stdout(&out)
}

const SSA: &str =
    "kubectl apply --server-side --field-manager=t --force-conflicts -f /tmp/stdin.yaml";
const CSA: &str = "kubectl apply -f /tmp/stdin.yaml";

fn web(extra_spec: &str, extra_container: &str, app: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n\
         {extra_spec}  selector:\n    matchLabels:\n      app: {app}\n  template:\n    metadata:\n      \
         labels:\n        app: {app}\n    spec:\n      containers:\n      - name: web\n        \
         image: registry.k8s.io/e2e-test-images/agnhost:2.39\n{extra_container}"
    )
}

#[test]
fn kubectl_refuses_what_the_api_server_refuses() {
    let world = World::start(1);
    // labprov's own objects (its manifests, Bookinfo, the addons) pass the strict checks.
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert_eq!(
        up.step("h1", "manifests")["kind"],
        "changed",
        "{}",
        up.explain()
    );

    // Positive control: a valid object is applied, server-side and client-side.
    let ok = sh(&world, SSA, &web("  replicas: 2\n", "", "web"));
    assert!(ok.status.success(), "{}", text(&ok));
    assert_eq!(get(&world, &["deployment", "web"], "{.spec.replicas}"), "2");

    // Unknown fields, server-side apply: the patch cannot be typed (HTTP 500, no reason).
    let bad = sh(
        &world,
        SSA,
        &web("  replicas: 3\n  foo: 1\n", "        bar: 2\n", "web"),
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert_eq!(
        stderr(&bad),
        "Error from server: failed to create typed patch object (default/web; apps/v1, \
         Kind=Deployment): .spec.foo: field not declared in schema\n"
    );
    assert_eq!(
        get(&world, &["deployment", "web"], "{.spec.replicas}"),
        "2",
        "the refused object is not written"
    );
    // ... also deep in a keyed list.
    let bad = sh(&world, SSA, &web("", "        bar: 2\n", "web"));
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        stderr(&bad).contains(
            ".spec.template.spec.containers[name=\"web\"].bar: field not declared in schema"
        ),
        "{}",
        text(&bad)
    );

    // Unknown fields, create: strict decoding names every one, as paths of the object.
    let create = "kubectl create -f /tmp/stdin.yaml";
    let bad = sh(
        &world,
        create,
        &web("  foo: 1\n", "        bar: 2\n", "web2")
            .replace("name: web\n  namespace", "name: web2\n  namespace"),
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert_eq!(
        stderr(&bad),
        "Error from server (BadRequest): error when creating \"/tmp/stdin.yaml\": Deployment in \
         version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \
         \"spec.foo\", unknown field \"spec.template.spec.containers[0].bar\"\n"
    );
    let gone = world.exec(
        "h1",
        Some(&world.user),
        &["kubectl", "get", "deployment", "web2"],
    );
    assert_eq!(gone.status.code(), Some(1), "{}", text(&gone));

    // --validate=warn: applied, the unknown field dropped, the server's warning printed.
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\n  namespace: default\n\
              data:\n  a: \"1\"\nfoo: bar\n";
    let warn = sh(&world, &format!("{CSA} --validate=warn"), cm);
    assert!(warn.status.success(), "{}", text(&warn));
    assert_eq!(stderr(&warn), "Warning: unknown field \"foo\"\n");
    assert_eq!(get(&world, &["configmap", "c1"], "{.data.a}"), "1");
    assert_eq!(get(&world, &["configmap", "c1"], "{.foo}"), "");
    // ... and by default (strict) the same object is refused.
    let strict = sh(&world, CSA, &cm.replace("name: c1", "name: c2"));
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict));
    assert!(
        stderr(&strict).contains("strict decoding error: unknown field \"foo\""),
        "{}",
        text(&strict)
    );

    // Duplicate fields are not refused: kubectl itself decodes the YAML (the last value
    // wins) and sends no duplicate to the server (kubernetes/kubernetes#125885).
    let dup = sh(
        &world,
        CSA,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\n  namespace: default\n\
         data:\n  a: \"1\"\n  a: \"2\"\n",
    );
    assert!(dup.status.success(), "{}", text(&dup));
    assert_eq!(get(&world, &["configmap", "dup"], "{.data.a}"), "2");

    // Immutable: labprov's hello-node Deployment cannot change its selector...
    let hello = |app: &str, replicas: u32| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello-node\n  \
             namespace: default\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      \
             app: {app}\n  template:\n    metadata:\n      labels:\n        app: {app}\n    \
             spec:\n      containers:\n      - name: agnhost\n        \
             image: registry.k8s.io/e2e-test-images/agnhost:2.39\n"
        )
    };
    let selector = get(&world, &["deployment", "hello-node"], "{.spec.selector}");
    assert_eq!(selector, r#"{"matchLabels":{"app":"hello-node"}}"#);
    let moved = sh(
        &world,
        "kubectl apply --server-side --field-manager=labprov --force-conflicts -f /tmp/stdin.yaml",
        &hello("hello-node-v2", 1),
    );
    assert_eq!(moved.status.code(), Some(1), "{}", text(&moved));
    assert_eq!(
        stderr(&moved),
        "The Deployment \"hello-node\" is invalid: spec.selector: Invalid value: \
         v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"hello-node-v2\"}, \
         MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable\n"
    );
    assert_eq!(
        get(&world, &["deployment", "hello-node"], "{.spec.selector}"),
        selector
    );
    // ... while a mutable field of the same object, sent the same way, changes.
    let scaled = sh(
        &world,
        "kubectl apply --server-side --field-manager=labprov --force-conflicts -f /tmp/stdin.yaml",
        &hello("hello-node", 2),
    );
    assert!(scaled.status.success(), "{}", text(&scaled));
    assert_eq!(
        get(&world, &["deployment", "hello-node"], "{.spec.replicas}"),
        "2"
    );

    // Istio kinds are checked against their CRD's fields.
    let vs = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: vs1\n  \
              namespace: default\nspec:\n  hosts: [reviews]\n  htp: []\n";
    let bad = sh(&world, CSA, vs);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        stderr(&bad).contains(
            "VirtualService in version \"v1\" cannot be handled as a VirtualService: strict \
             decoding error: unknown field \"spec.htp\""
        ),
        "{}",
        text(&bad)
    );
    let good = sh(&world, CSA, &vs.replace("htp", "http"));
    assert!(good.status.success(), "{}", text(&good));
}

fn starts(world: &World) -> Vec<Value> {
    let path = world.host_file(
        "h1",
        &format!("/home/{}/.minikube/standin/cluster.json", world.user),
    );
    let cluster: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cluster["Starts"].as_array().cloned().unwrap_or_default()
}

#[test]
fn minikube_docker_and_the_node_hold_to_the_machine_they_run_on() {
    // A VM of 2 CPUs and 8 GiB: its kernel reports 7940 MB.
    let world = World::start_with(1, &["--runtime-cpus", "2", "--runtime-mem-mb", "7940"]);

    // The world's own profile (2 CPUs, 4g) fits and converges; then the cluster goes, so that
    // minikube's own refusals below meet a host with Docker and no cluster.
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    let delete = world.exec("h1", Some(&world.user), &["minikube", "delete"]);
    assert!(delete.status.success(), "{}", text(&delete));

    // What docker reports is where the limits come from.
    let info = world.exec(
        "h1",
        Some(&world.user),
        &[
            "docker",
            "system",
            "info",
            "--format",
            "{{.NCPU}} {{.MemTotal}}",
        ],
    );
    assert!(info.status.success(), "{}", text(&info));
    assert_eq!(stdout(&info), format!("2 {}\n", 7940u64 * 1024 * 1024));

    // 8g does not fit: minikube refuses at start, naming both (asked directly: labprov's own
    // check refuses it before anything is installed, tests/fit.rs).
    let big = world.exec(
        "h1",
        Some(&world.user),
        &[
            "minikube",
            "start",
            "--driver=docker",
            "--cpus=2",
            "--memory=8g",
        ],
    );
    assert_eq!(big.status.code(), Some(10), "{}", text(&big));
    assert!(
        stderr(&big).contains(
            "Exiting due to RSRC_OVER_ALLOC_MEM: Requested memory allocation 8192MB is more \
             than your system limit 7940MB."
        ),
        "{}",
        text(&big)
    );
    // More CPUs than the runtime has: refused too.
    let wide = world.exec(
        "h1",
        Some(&world.user),
        &[
            "minikube",
            "start",
            "--driver=docker",
            "--cpus=4",
            "--memory=4g",
        ],
    );
    assert_eq!(wide.status.code(), Some(29), "{}", text(&wide));
    assert!(
        stderr(&wide).contains(
            "Exiting due to RSRC_INSUFFICIENT_CORES: Requested cpu count 4 is greater than the \
             available cpus of 2"
        ),
        "{}",
        text(&wide)
    );
    assert!(
        starts_file_absent(&world),
        "no refused start left a cluster"
    );

    // Up again: a new cluster.
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());

    // Every start is recorded with its flags: a second start with other settings is
    // visible, and the cluster keeps the settings it was created with (as real minikube does).
    let first = starts(&world);
    assert_eq!(first.len(), 1, "{first:?}");
    // labprov passes the profile's 4g in MB, as it measured it against the runtime.
    assert_eq!(first[0]["Requested"]["memory"], "4096mb");
    let again = world.exec(
        "h1",
        Some(&world.user),
        &["minikube", "start", "--memory=3g"],
    );
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        stderr(&again)
            .contains("You cannot change the memory size for an existing minikube cluster"),
        "{}",
        text(&again)
    );
    let all = starts(&world);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1]["Argv"], serde_json::json!(["start", "--memory=3g"]));
    assert_eq!(all[1]["Requested"]["memory"], "3g");
    assert_eq!(all[1]["Effective"]["Memory"], 4096);

    // Kubernetes versions this minikube (v1.39.0) does not support.
    let old = world.exec(
        "h1",
        Some(&world.user),
        &["minikube", "start", "--kubernetes-version=v1.27.0"],
    );
    assert_eq!(old.status.code(), Some(106), "{}", text(&old));
    assert!(
        stderr(&old).contains(
            "Exiting due to K8S_OLD_UNSUPPORTED: Kubernetes 1.27.0 is not supported by this \
             release of minikube"
        ),
        "{}",
        text(&old)
    );
    // Newer than its newest: it asks GitHub whether that release exists, and the world's
    // hosts have no internet.
    let new = world.exec(
        "h1",
        Some(&world.user),
        &["minikube", "start", "--kubernetes-version=v1.38.0"],
    );
    assert_eq!(new.status.code(), Some(40), "{}", text(&new));
    assert!(
        stderr(&new).contains("Exiting due to K8S_FAIL_CONNECT"),
        "{}",
        text(&new)
    );
    assert_eq!(starts(&world).len(), 2, "refused starts are not recorded");

    // The node's resolv.conf is a bind mount: written in place it changes...
    let tee = world.exec(
        "h1",
        Some(&world.user),
        &[
            "minikube",
            "ssh",
            "--",
            "printf 'nameserver 192.0.2.53\\n' | sudo tee /etc/resolv.conf >/dev/null",
        ],
    );
    assert!(tee.status.success(), "{}", text(&tee));
    let resolv = world.host_file(
        "h1",
        &format!(
            "/home/{}/.minikube/standin/node/etc/resolv.conf",
            world.user
        ),
    );
    assert_eq!(
        std::fs::read_to_string(&resolv).unwrap(),
        "nameserver 192.0.2.53\n"
    );
    // ... but it can be neither replaced by rename nor removed.
    for cmd in [
        "echo 'nameserver 198.51.100.53' >/etc/resolv.new && sudo mv /etc/resolv.new /etc/resolv.conf",
        "sudo rm /etc/resolv.conf",
    ] {
        let out = world.exec("h1", Some(&world.user), &["minikube", "ssh", "--", cmd]);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {}", text(&out));
        assert!(
            stderr(&out).contains("Device or resource busy"),
            "{cmd}: {}",
            text(&out)
        );
        assert_eq!(
            std::fs::read_to_string(&resolv).unwrap(),
            "nameserver 192.0.2.53\n"
        );
    }

    // docker: a command it does not have fails naming it; one it has that the stand-in does
    // not model fails too (never a silent success).
    let version = world.exec("h1", Some(&world.user), &["docker", "version"]);
    assert!(version.status.success(), "{}", text(&version));
    let frob = world.exec("h1", Some(&world.user), &["docker", "frobnicate"]);
    assert_eq!(frob.status.code(), Some(1), "{}", text(&frob));
    assert_eq!(
        stderr(&frob),
        "docker: unknown command: docker frobnicate\n\nRun 'docker --help' for more information\n"
    );
    let pull = world.exec("h1", Some(&world.user), &["docker", "pull", "nginx"]);
    assert_eq!(pull.status.code(), Some(1), "{}", text(&pull));
    assert!(
        stderr(&pull).contains("'docker pull' is not modelled"),
        "{}",
        text(&pull)
    );
}

fn starts_file_absent(world: &World) -> bool {
    !world
        .host_file(
            "h1",
            &format!("/home/{}/.minikube/standin/cluster.json", world.user),
        )
        .exists()
}

#[test]
fn a_call_that_cannot_be_logged_fails_loudly() {
    let world = World::start(1);
    let log = world.host_file("h1", "/var/lib/labprov-world/calls.log");
    // minikube from the mirror, installed as labprov installs it; no cluster needed.
    let install = world.exec(
        "h1",
        None,
        &[
            "bash",
            "-c",
            &format!(
                "curl -fsS -o /usr/local/bin/minikube {}/minikube/releases/download/v1.39.0/\
                 minikube-linux-amd64 && chmod 0755 /usr/local/bin/minikube",
                mirror_url(&world)
            ),
        ],
    );
    assert!(install.status.success(), "{}", text(&install));

    // Positive control: a call is logged.
    let before = world.calls("h1").len();
    let ok = world.exec("h1", Some(&world.user), &["minikube", "version", "--short"]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert_eq!(world.calls("h1").len(), before + 1);

    // The log read-only for the user: the call fails with 125 and says why.
    let ro = world.exec(
        "h1",
        None,
        &["chmod", "0444", "/var/lib/labprov-world/calls.log"],
    );
    assert!(ro.status.success(), "{}", text(&ro));
    let lost = world.exec("h1", Some(&world.user), &["minikube", "version", "--short"]);
    assert_eq!(lost.status.code(), Some(125), "{}", text(&lost));
    assert!(
        stderr(&lost)
            .contains("labprov-world: minikube: cannot append to /var/lib/labprov-world/calls.log"),
        "{}",
        text(&lost)
    );
    assert_eq!(world.calls("h1").len(), before + 1);
    assert!(log.exists());
}

fn mirror_url(world: &World) -> String {
    let env = std::fs::read_to_string(world.dir.join("world.env")).unwrap();
    env.lines()
        .find_map(|l| l.strip_prefix("MIRROR_URL="))
        .expect("world.env has MIRROR_URL")
        .to_string()
}
