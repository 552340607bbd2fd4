# Shared code of the minikube, kubectl and istioctl stand-ins of the lab world.
#
# Not a stand-in itself: it holds what the three have in common, so that they agree
# on one "cluster":
#   * where the cluster lives: minikube's MiniPath() rule (pkg/minikube/localpath:
#     $MINIKUBE_HOME, or $MINIKUBE_HOME/.minikube when that exists, else ~/.minikube),
#     here under <minipath>/standin/ (cluster.json, objects.json, node/);
#   * a small object store (what the API server would hold), keyed by
#     (API group, kind, namespace, name), with kubectl's resource names, short names and
#     the `resource.group` forms, plus resources defined by stored CRDs;
#   * a YAML reader for a restricted block-YAML subset (mappings, sequences, plain and
#     quoted scalars, |/> block scalars, flow [..]/{..}, comments, ---), YAML 1.1 scalar
#     typing as go-yaml v2 (used by sigs.k8s.io/yaml) does, and a YAML writer shaped like
#     kubectl's -o yaml (sorted keys, sequences not indented under their key);
#   * kubectl's JSONPath dialect (k8s.io/client-go/util/jsonpath: fields, escaped dots,
#     [n], [a:b], [*], .., ?(@.x=="y") filters, {range}..{end}, "literals"), written from
#     the Kubernetes JSONPath reference page (kubernetes.io/docs/reference/kubectl/jsonpath);
#   * label selectors (=, ==, !=, in, notin, exists, !exists);
#   * the calls log (/var/lib/labprov-world/calls.log, one JSON line per invocation; a
#     long-running call also logs a line with "exit": null when it starts; a line that
#     cannot be written makes the stand-in exit 125, as _world.py's do) and the signal
#     behaviour of the real Go tools (an unhandled SIGTERM/SIGINT kills at once; the final
#     calls.log line, exit 128+N with "signal", is written first);
#   * "web": what answers HTTP inside the cluster, for kubectl port-forward/proxy and
#     minikube tunnel. A pod listens on a port only while Ready. Known apps on their ports:
#     kiali 20001 (GET / -> 302 /kiali/; /kiali, /kiali/... -> <title>Kiali</title>), grafana
#     3000 (<title>Grafana</title>, /api/health), jaeger 16686 (Istio's addon sets the query
#     base_path /jaeger: /jaeger... -> <title>Jaeger UI</title>, / -> 404), prometheus 9090
#     (/ -> 302 /query; /graph, /query -> <title>Prometheus Time Series Collection and
#     Processing Server</title>; /-/healthy, /-/ready), productpage 9080 (/, /productpage ->
#     <title>Simple Bookstore App</title> with the reviews of the version that answered,
#     /health, /api/v1/products), the dashboard 9090 (<title>Kubernetes Dashboard</title>).
#     Then by image and command (image_listener): agnhost `netexec` on --http-port (8080:
#     /hostname, /echo?msg=, /healthz, /clientip as netexec.go; / the generic page),
#     `serve-hostname` on --port (9376), `pause` on nothing; busybox/alpine/curl images running
#     a command (sleep) on nothing; nginx on 80 ("Welcome to nginx!"). Any other app answers a
#     page titled NS/NAME on the containerPorts it declares (any port if it declares none). The Istio ingress
#     gateway pod answers /healthz/ready on 15021 and listens on 8080 only while a Gateway
#     selecting it has an HTTP server on 8080 (or 80); it routes by the VirtualServices bound
#     to that Gateway (hosts, uri exact/prefix/regex, method, headers, weights, subsets via
#     DestinationRules, rewrite, redirect, directResponse) to the destination Service's ready
#     pods: no route -> 404 with an empty body, no ready endpoint -> 503 "no healthy
#     upstream"; responses carry "server: istio-envoy". Each page names (HTML comment) the
#     namespace/service, pod and port that answered. Wording from the apps' public docs
#     and memory; real bodies are far bigger.
#   * "pod network" and "pod tools": what a pod sees (kubectl exec probes), see there.
# Left out: YAML anchors/aliases/tags, complex keys; strategic-merge-patch list merging
# (lists are replaced as a whole), managedFields, watch, real HTTP API; TLS, non-HTTP
# protocols and the apps' real content.
#
# The stand-ins import this file from their own directory; build-mirror inlines it
# into each shipped single-file artifact.

import contextlib
import datetime
import fcntl
import hashlib
import ipaddress as _ip
import json
import os
import random as _random
import re
import tempfile
import time

CALLS_LOG = "/var/lib/labprov-world/calls.log"
WORLD_CONF = "/etc/labprov-world.conf"
CLUSTER_IP = "192.168.49.2"
API_PORT = 8443
SERVER_URL = "https://%s:%d" % (CLUSTER_IP, API_PORT)


# ----------------------------------------------------------------------------- misc

def log_call(tool, argv, code, **extra):
    """Append one JSON line to the world's calls log.

    code None marks the start of a long-running call (see run_tool); extra keys (signal)
    are added after "exit". A stand-in that cannot append its line says so on stderr and
    exits 125 at once (tests/world/README.md), as _world.py's stand-ins do: a missing line
    must never read as "was not called"."""
    rec = {"tool": tool, "argv": list(argv), "uid": os.getuid(), "exit": code}
    rec.update(extra)
    data = (json.dumps(rec) + "\n").encode()
    try:
        # the world's boot creates the log (mode 0666); without its dir this is no world host
        created = not os.path.exists(CALLS_LOG)
        fd = os.open(CALLS_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            if created:
                with contextlib.suppress(OSError):
                    os.fchmod(fd, 0o666)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.write(fd, data) != len(data):
                raise OSError("short write")
        finally:
            os.close(fd)
    except OSError as e:
        import sys
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        with contextlib.suppress(OSError):
            os.write(2, ("labprov-world: %s: cannot append to %s: %s\n" % (tool, CALLS_LOG, e)).encode())
        os._exit(125)


# The call being run (tool, argv) and whether its final line is written, for the signal
# handlers of long-running calls.
_CALL = {"tool": None, "argv": [], "ended": False, "extra": {}}


def _log_end(code, **extra):
    if _CALL["tool"] is None or _CALL["ended"]:
        return
    _CALL["ended"] = True
    log_call(_CALL["tool"], _CALL["argv"], code, **dict(_CALL["extra"], **extra))


def die_by_signal(signum, _frame=None):
    """What a Go program does on a signal it does not handle: die of it at once (no cleanup).
    The calls log gets the final line first (exit 128+N, "signal": "SIGTERM")."""
    import signal
    import sys
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    _log_end(128 + signum, signal=signal.Signals(signum).name)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)


def sigint_like_go_default():
    """SIGINT for a Go program that never calls signal.Notify for it: the disposition it
    inherited stays (ignored when started with `&` by a non-interactive shell), else it kills."""
    import signal
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, die_by_signal)


def run_tool(tool, main, argv, long_running=False):
    """Run main(argv) -> int, log the call, and exit with its code.

    A long-running call (port-forward, proxy, tunnel, dashboard) logs a first line with
    "exit": null as soon as it starts, so tests can count it while it runs, and its final
    line when it ends (both with "pid", to pair them and match `echo $!`); SIGTERM kills it
    at once as it kills the real (Go) tools, after writing the final line."""
    import signal
    _CALL.update(tool=tool, argv=list(argv), ended=False, extra={})
    if long_running:
        _CALL["extra"] = {"pid": os.getpid()}
        log_call(tool, argv, None, pid=os.getpid())
        signal.signal(signal.SIGTERM, die_by_signal)
    code = 1
    try:
        code = main(argv)
        if code is None:
            code = 0
    except SystemExit as e:
        c = e.code
        if c is None:
            code = 0
        elif isinstance(c, int):
            code = c
        else:
            import sys
            sys.stderr.write(str(c) + "\n")
            code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        _log_end(code)
    raise SystemExit(code)


# ----------------------------------------------------------------------------- latency
# `tests/world/start --latency` writes latency=1 to each host's /etc/labprov-world.conf; then
# every call of a command below sleeps (time.sleep, so the CPUs stay free for the others) for
# the wall time the real command takes on a 4-vCPU Ubuntu VM with the cluster running, so a
# converged re-run costs in the world what it costs on a class's VMs. Without the knob the
# stand-ins answer at once. Seconds, issue 12's estimates (a 4-vCPU VM is slower than the
# laptops of the reports they start from):
#   minikube status: docker container inspect, then an SSH session into the node to ask the
#     kubelet and the apiserver (pkg/minikube/cluster/status.go); ~0.25 s on a fast laptop
#     (kubernetes/minikube#15076), the inspect alone up to 0.39 s in #9812's log -> 0.5;
#   minikube profile list: the same status for every profile, plus loading each config -> 0.9;
#   minikube addons list: loads the profile and asks the node for each addon's state -> 0.6;
#   minikube ssh: a new SSH session into the node (sshutil.NewSSHClient) -> 0.6;
#   minikube version: no cluster access, Go start-up only -> 0.05;
#   kubectl get: discovery (cached) and one TLS request to the apiserver -> 0.12;
#   kubectl apply: discovery, a GET and a PATCH per object -> 0.35;
#   istioctl (any): builds its kube client and reads the mesh config -> 0.4.
# Commands not listed (start, delete, enable, install...) change the cluster: they are not on a
# converged re-run's path and are not slowed. docker's rows are in _world.py (same knob).
REAL_SECONDS = {
    ("minikube", "status"): 0.5, ("minikube", "profile"): 0.9, ("minikube", "addons"): 0.6,
    ("minikube", "ssh"): 0.6, ("minikube", "version"): 0.05,
    ("kubectl", "get"): 0.12, ("kubectl", "apply"): 0.35,
    ("istioctl", None): 0.4,
}


def sleep_like_real(tool, cmd):
    """Sleep for REAL_SECONDS[(tool, cmd)] (or the tool's row for any command) when the world
    runs with --latency."""
    s = REAL_SECONDS.get((tool, cmd), REAL_SECONDS.get((tool, None)))
    if s and world_conf().get("latency") == "1":
        time.sleep(s)


def world_conf():
    """The host's /etc/labprov-world.conf (shell key=value) as a dict."""
    out = {}
    try:
        with open(WORLD_CONF, encoding="utf-8") as f:
            for raw in f:
                line = raw.strip()
                if not line or line.startswith("#") or "=" not in line:
                    continue
                k, v = line.split("=", 1)
                k = k.strip()
                if k.startswith("export "):
                    k = k[7:].strip()
                v = v.strip()
                if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                    v = v[1:-1]
                out[k] = v
    except OSError:
        pass
    return out


def never_ready():
    """Set of 'namespace/name' deployments the world keeps from ever becoming ready."""
    return set(world_conf().get("never_ready", "").split())


def now_ts():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(ts):
    try:
        return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def human_age(ts):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration, roughly."""
    t = parse_ts(ts)
    if t is None:
        return "<unknown>"
    s = int((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())
    if s < 0:
        s = 0
    if s < 120:
        return "%ds" % s
    m = s // 60
    if m < 10:
        return "%dm%ds" % (m, s % 60) if s % 60 else "%dm" % m
    if m < 180:
        return "%dm" % m
    h = m // 60
    if h < 8:
        return "%dh%dm" % (h, m % 60) if m % 60 else "%dh" % h
    if h < 48:
        return "%dh" % h
    d = h // 24
    if d < 8:
        return "%dd%dh" % (d, h % 24) if h % 24 else "%dd" % d
    if d < 365 * 2:
        return "%dd" % d
    return "%dy" % (d // 365)


def stable_hash(*parts, n=10):
    h = hashlib.sha256("\x00".join(str(p) for p in parts).encode()).digest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"   # k8s.io/apimachinery/pkg/util/rand
    return "".join(alphabet[b % len(alphabet)] for b in h[:n])


def stable_uid(*parts):
    h = hashlib.sha256(("uid\x00" + "\x00".join(str(p) for p in parts)).encode()).hexdigest()
    return "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


def atomic_write(path, data, mode=0o644):
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_json(path, obj):
    atomic_write(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def read_json(path, default=None):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


# ----------------------------------------------------------------------------- paths

def home_dir():
    return os.environ.get("HOME") or os.path.expanduser("~")


def mini_path():
    """minikube's localpath.MiniPath()."""
    env = os.environ.get("MINIKUBE_HOME", "")
    if not env:
        return os.path.join(home_dir(), ".minikube")
    if os.path.basename(env.rstrip("/")) == ".minikube":
        return env
    legacy = os.path.join(env, ".minikube")
    if os.path.exists(legacy):
        return legacy
    return os.path.normpath(env)


def state_dir(minipath=None):
    return os.path.join(minipath or mini_path(), "standin")


def kubeconfig_path():
    env = os.environ.get("KUBECONFIG", "")
    for p in env.split(":"):
        if p:
            return p
    return os.path.join(home_dir(), ".kube", "config")


@contextlib.contextmanager
def locked(sdir):
    os.makedirs(sdir, exist_ok=True)
    fd = os.open(os.path.join(sdir, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def node_exec(node, argv, user):
    """Run ARGV inside the minikube node modelled by the dir NODE (<statedir>/node, made by
    `minikube start`): its own /etc (resolv.conf, hosts, hostname; the rest links to the host's)
    and its bin/ first on PATH, as USER (`minikube ssh` logs in as docker; `docker exec` runs as
    the container's user, root in kicbase). Returns the CompletedProcess.
    Docker bind-mounts a container's /etc/resolv.conf, hosts and hostname from its own dir
    (/var/lib/docker/containers/ID/): rename(2) over them or of them and unlink(2) fail with
    EBUSY ("mv: cannot move ...: Device or resource busy", moby/moby#28187), writing in place
    (tee, >) works. The node's files are bound onto themselves for the same effect."""
    import shutil
    import subprocess
    unshare = shutil.which("unshare") or "/usr/bin/unshare"
    etc = os.path.join(node, "etc")
    hostetc = os.path.join(node, ".host-etc")
    home = os.path.join(node, "home")
    path = os.path.join(node, "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    inner = ('set -e; mount --rbind /etc "$1"; mount --bind "$2" /etc; '
             'for f in resolv.conf hosts hostname; do mount --bind "/etc/$f" "/etc/$f"; done; cd "$3"; '
             'h=$3 p=$4 u=$5; shift 5; exec env -i PATH="$p" HOME="$h" USER="$u" LOGNAME="$u" SHELL=/bin/bash LANG=C.UTF-8 '
             'TERM="${TERM:-dumb}" "$@"')
    env = dict(os.environ)
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return subprocess.run([unshare, "-r", "-m", "--", "/bin/sh", "-c", inner, "sh", hostetc, etc, home, path, user]
                          + list(argv), env=env)


def load_cluster(sdir):
    return read_json(os.path.join(sdir, "cluster.json"))


def save_cluster(sdir, cluster):
    atomic_write_json(os.path.join(sdir, "cluster.json"), cluster)


def cluster_running(cluster):
    return bool(cluster) and cluster.get("Host") == "Running" and cluster.get("APIServer") == "Running"


# ----------------------------------------------------------------------------- YAML

class YAMLError(ValueError):
    pass


_BOOL_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_BOOL_FALSE = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_INT_RE = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_OCT_RE = re.compile(r"^[-+]?0[0-7_]+$")
_HEX_RE = re.compile(r"^[-+]?0x[0-9a-fA-F_]+$")
_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$")


def resolve_plain(s):
    """Type of a plain scalar, as go-yaml v2 (YAML 1.1) resolves it."""
    if s in ("", "~", "null", "Null", "NULL"):
        return None
    if s in _BOOL_TRUE:
        return True
    if s in _BOOL_FALSE:
        return False
    if _INT_RE.match(s):
        return int(s.replace("_", ""))
    if _OCT_RE.match(s):
        return int(s.replace("_", ""), 8)
    if _HEX_RE.match(s):
        return int(s.replace("_", ""), 16)
    if _FLOAT_RE.match(s):
        return float(s.replace("_", ""))
    if s in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"):
        return float("inf")
    if s in ("-.inf", "-.Inf", "-.INF"):
        return float("-inf")
    if s in (".nan", ".NaN", ".NAN"):
        return float("nan")
    return s


_ESC = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f",
        "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85",
        "_": "\xa0", "L": "\u2028", "P": "\u2029"}


def _scan_quoted(s, i):
    """Index just past the quoted scalar starting at s[i], or None if unclosed."""
    q = s[i]
    j = i + 1
    while j < len(s):
        c = s[j]
        if q == '"' and c == "\\":
            j += 2
            continue
        if c == q:
            if q == "'" and j + 1 < len(s) and s[j + 1] == "'":
                j += 2
                continue
            return j + 1
        j += 1
    return None


def _unquote(tok):
    q = tok[0]
    body = tok[1:-1]
    if q == "'":
        return body.replace("''", "'")
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n == "x":
                out.append(chr(int(body[i + 2:i + 4], 16)))
                i += 4
                continue
            if n == "u":
                out.append(chr(int(body[i + 2:i + 6], 16)))
                i += 6
                continue
            if n == "U":
                out.append(chr(int(body[i + 2:i + 10], 16)))
                i += 10
                continue
            if n in _ESC:
                out.append(_ESC[n])
                i += 2
                continue
            raise YAMLError("bad escape \\%s" % n)
        out.append(c)
        i += 1
    return "".join(out)


def _strip_comment(s):
    """Drop a trailing '# comment' that is outside quotes."""
    i = 0
    while i < len(s):
        c = s[i]
        if c in "'\"" and (i == 0 or s[i - 1] in " \t[{,:-?"):
            j = _scan_quoted(s, i)
            if j is None:
                return s.rstrip()
            i = j
            continue
        if c == "#" and (i == 0 or s[i - 1] in " \t"):
            return s[:i].rstrip()
        i += 1
    return s.rstrip()


def _split_key(s):
    """('key', 'rest') if s (comment-free) is a 'key: value' line, else None."""
    if not s or s[0] in "[{#" or s == "-" or s.startswith("- "):
        return None
    if s[0] in "'\"":
        j = _scan_quoted(s, 0)
        if j is None:
            return None
        rest = s[j:].lstrip(" ")
        if rest.startswith(":") and (len(rest) == 1 or rest[1] in " \t"):
            return _unquote(s[:j]), rest[1:]
        return None
    if s.startswith("? "):
        raise YAMLError("complex mapping keys are not supported")
    i = 0
    while True:
        j = s.find(":", i)
        if j < 0:
            return None
        if j + 1 == len(s) or s[j + 1] in " \t":
            return s[:j].rstrip(), s[j + 1:]
        i = j + 1


class _FlowParser:
    def __init__(self, s):
        self.s = s
        self.i = 0

    def ws(self):
        while self.i < len(self.s) and self.s[self.i] in " \t\n":
            self.i += 1

    def value(self, in_map_key=False):
        self.ws()
        if self.i >= len(self.s):
            raise YAMLError("unexpected end of flow collection")
        c = self.s[self.i]
        if c == "[":
            self.i += 1
            out = []
            while True:
                self.ws()
                if self.i < len(self.s) and self.s[self.i] == "]":
                    self.i += 1
                    return out
                v = self.value()
                self.ws()
                if self.i < len(self.s) and self.s[self.i] == ":" :
                    # single-pair mapping inside a sequence: [a: b]
                    self.i += 1
                    v = {str(v): self.value()}
                    self.ws()
                out.append(v)
                if self.i < len(self.s) and self.s[self.i] == ",":
                    self.i += 1
                    continue
                if self.i < len(self.s) and self.s[self.i] == "]":
                    self.i += 1
                    return out
                raise YAMLError("bad flow sequence: %r" % self.s)
        if c == "{":
            self.i += 1
            out = {}
            while True:
                self.ws()
                if self.i < len(self.s) and self.s[self.i] == "}":
                    self.i += 1
                    return out
                k = self.value(in_map_key=True)
                self.ws()
                v = None
                if self.i < len(self.s) and self.s[self.i] == ":":
                    self.i += 1
                    self.ws()
                    if self.i < len(self.s) and self.s[self.i] in ",}":
                        v = None
                    else:
                        v = self.value()
                out["" if k is None else (k if isinstance(k, str) else json.dumps(k))] = v
                self.ws()
                if self.i < len(self.s) and self.s[self.i] == ",":
                    self.i += 1
                    continue
                if self.i < len(self.s) and self.s[self.i] == "}":
                    self.i += 1
                    return out
                raise YAMLError("bad flow mapping: %r" % self.s)
        if c in "'\"":
            j = _scan_quoted(self.s, self.i)
            if j is None:
                raise YAMLError("unclosed quote in %r" % self.s)
            tok = self.s[self.i:j]
            self.i = j
            return _unquote(tok.replace("\n", " "))
        # plain scalar inside flow context
        j = self.i
        while j < len(self.s):
            ch = self.s[j]
            if ch in ",]}":
                break
            if ch == ":" and (j + 1 == len(self.s) or self.s[j + 1] in " ,]}\n"):
                break
            j += 1
        tok = self.s[self.i:j].strip()
        self.i = j
        return tok if in_map_key else resolve_plain(tok)


def _flow_balanced(s):
    depth = 0
    i = 0
    while i < len(s):
        c = s[i]
        if c in "'\"":
            j = _scan_quoted(s, i)
            if j is None:
                return False
            i = j
            continue
        if c == "#" and (i == 0 or s[i - 1] in " \t"):
            break
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        i += 1
    return depth <= 0


class _BlockParser:
    def __init__(self, lines):
        self.lines = lines
        self.n = len(lines)
        self.i = 0

    @staticmethod
    def indent(s):
        return len(s) - len(s.lstrip(" "))

    def skip(self):
        while self.i < self.n:
            t = self.lines[self.i].strip()
            if t == "" or t.startswith("#"):
                self.i += 1
                continue
            if self.lines[self.i].lstrip(" ").startswith("\t"):
                raise YAMLError("line %d: tabs are not allowed for indentation" % (self.i + 1))
            return True
        return False

    def document(self):
        if not self.skip():
            return None
        v = self.at(self.indent(self.lines[self.i]))
        if self.skip():
            raise YAMLError("line %d: unexpected content %r" % (self.i + 1, self.lines[self.i].strip()))
        return v

    def at(self, ind):
        c = self.lines[self.i][ind:]
        if c == "-" or c.startswith("- "):
            return self.seq(ind)
        if _split_key(_strip_comment(c)) is not None:
            return self.mapping(ind)
        self.i += 1
        return self.inline(c.strip(), ind - 1)

    def mapping(self, ind):
        m = {}
        while self.skip():
            s = self.lines[self.i]
            cur = self.indent(s)
            if cur < ind:
                break
            if cur > ind:
                raise YAMLError("line %d: bad indentation" % (self.i + 1))
            c = s[ind:]
            if c == "-" or c.startswith("- "):
                break
            kv = _split_key(_strip_comment(c))
            if kv is None:
                raise YAMLError("line %d: expected 'key: value', got %r" % (self.i + 1, c.strip()))
            key, rest = kv
            self.i += 1
            val = self.after_indicator(rest.strip(), ind, True)
            if key == "<<" and isinstance(val, dict):
                for k2, v2 in val.items():
                    m.setdefault(k2, v2)
                continue
            m[key] = val
        return m

    def seq(self, ind):
        out = []
        while self.skip():
            s = self.lines[self.i]
            cur = self.indent(s)
            if cur < ind:
                break
            if cur > ind:
                raise YAMLError("line %d: bad indentation" % (self.i + 1))
            c = s[ind:]
            if not (c == "-" or c.startswith("- ")):
                break
            rest = c[1:]
            sp = len(rest) - len(rest.lstrip(" "))
            body = rest.strip()
            if body == "" or body.startswith("#"):
                self.i += 1
                if self.skip() and self.indent(self.lines[self.i]) > ind:
                    out.append(self.at(self.indent(self.lines[self.i])))
                else:
                    out.append(None)
                continue
            nc = _strip_comment(body)
            if nc == "-" or nc.startswith("- ") or (nc[0] not in "[{'\"|>" and _split_key(nc) is not None) \
                    or (nc[0] in "'\"" and _split_key(nc) is not None):
                newind = ind + 1 + sp
                self.lines[self.i] = " " * newind + rest[sp:]
                out.append(self.at(newind))
            else:
                self.i += 1
                out.append(self.after_indicator(body, ind, False))
        return out

    def after_indicator(self, rest, ind, allow_same_indent_seq):
        rest_nc = _strip_comment(rest)
        if rest_nc == "":
            if self.skip():
                s = self.lines[self.i]
                cur = self.indent(s)
                c = s[cur:]
                if cur > ind:
                    return self.at(cur)
                if cur == ind and allow_same_indent_seq and (c == "-" or c.startswith("- ")):
                    return self.seq(ind)
            return None
        if rest_nc[0] in "&*":
            raise YAMLError("anchors and aliases are not supported")
        if rest_nc.startswith("!!"):
            tag, _, after = rest_nc.partition(" ")
            v = self.after_indicator(after, ind, allow_same_indent_seq)
            if tag == "!!str" and v is not None and not isinstance(v, str):
                return after.strip()
            return v
        if rest_nc[0] in "|>":
            return self.block_scalar(rest_nc, ind)
        return self.inline(rest, ind)

    def inline(self, rest, ind):
        """A scalar or flow collection starting on the current (already consumed) line."""
        if rest[0] in "[{":
            text = rest
            while not _flow_balanced(text):
                if self.i >= self.n:
                    raise YAMLError("unterminated flow collection")
                text += "\n" + self.lines[self.i]
                self.i += 1
            text = "\n".join(_strip_comment(x) for x in text.split("\n"))
            fp = _FlowParser(text)
            v = fp.value()
            fp.ws()
            if fp.i != len(fp.s):
                raise YAMLError("trailing characters after flow collection: %r" % text)
            return v
        if rest[0] in "'\"":
            text = rest
            j = _scan_quoted(text, 0)
            while j is None:
                if self.i >= self.n:
                    raise YAMLError("unterminated quoted scalar")
                nxt = self.lines[self.i].strip()
                text += ("\n" if nxt == "" else " ") + nxt if not text.endswith("\n") else nxt
                self.i += 1
                j = _scan_quoted(text, 0)
            tail = _strip_comment(text[j:]).strip()
            if tail:
                raise YAMLError("unexpected text after quoted scalar: %r" % tail)
            return _unquote(text[:j].replace(" \n", "\n"))
        parts = [_strip_comment(rest).strip()]
        # plain multi-line continuation: following lines indented deeper than the parent
        while self.i < self.n:
            s = self.lines[self.i]
            t = s.strip()
            if t == "":
                j = self.i
                while j < self.n and self.lines[j].strip() == "":
                    j += 1
                if j < self.n and self.indent(self.lines[j]) > ind and not self.lines[j].strip().startswith("#") \
                        and _split_key(_strip_comment(self.lines[j].strip())) is None:
                    parts.append("\n" * (j - self.i))
                    self.i = j
                    continue
                break
            if self.indent(s) <= ind or t.startswith("#"):
                break
            if _split_key(_strip_comment(t)) is not None or t.startswith("- "):
                break
            parts.append(_strip_comment(t))
            self.i += 1
        if len(parts) == 1:
            return resolve_plain(parts[0])
        out = parts[0]
        for p in parts[1:]:
            if p.startswith("\n"):
                out += p
            elif out.endswith("\n"):
                out += p
            else:
                out += " " + p
        return out

    def block_scalar(self, header, ind):
        style = header[0]
        chomp = "clip"
        explicit = None
        for ch in header[1:].strip():
            if ch == "-":
                chomp = "strip"
            elif ch == "+":
                chomp = "keep"
            elif ch.isdigit():
                explicit = int(ch)
            else:
                raise YAMLError("bad block scalar header %r" % header)
        lines = []
        block_ind = ind + explicit if explicit else None
        j = self.i
        while j < self.n:
            s = self.lines[j]
            if s.strip() == "":
                lines.append(s[block_ind:] if block_ind is not None and len(s) > block_ind else "")
                j += 1
                continue
            cur = self.indent(s)
            if block_ind is None:
                if cur <= ind:
                    break
                block_ind = cur
            if cur < block_ind:
                break
            lines.append(s[block_ind:])
            j += 1
        self.i = j
        trailing = 0
        while lines and lines[-1].strip() == "":
            lines.pop()
            trailing += 1
        if not lines:
            return "" if chomp != "keep" else "\n" * trailing
        if style == "|":
            text = "\n".join(lines)
        else:
            text = lines[0]
            for k in range(1, len(lines)):
                cur, prev = lines[k], lines[k - 1]
                if cur == "":
                    text += "\n"
                elif prev == "":
                    text += cur
                elif cur.startswith((" ", "\t")) or prev.startswith((" ", "\t")):
                    text += "\n" + cur
                else:
                    text += " " + cur
        if chomp == "strip":
            return text
        if chomp == "clip":
            return text + "\n"
        return text + "\n" * (trailing + 1)


_DOC_SEP = re.compile(r"^(---|\.\.\.)(\s|$)")


def load_all(text):
    """Documents of a YAML (or JSON) stream; empty documents are dropped."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            dec = json.JSONDecoder()
            out = []
            i = 0
            s = text
            while True:
                while i < len(s) and s[i].isspace():
                    i += 1
                if i >= len(s):
                    break
                v, i = dec.raw_decode(s, i)
                out.append(v)
            return [d for d in out if d is not None]
        except ValueError:
            pass
    docs = []
    cur = []
    for line in text.replace("\r\n", "\n").split("\n"):
        m = _DOC_SEP.match(line)
        if m:
            docs.append(cur)
            cur = []
            if m.group(1) == "---":
                rest = _strip_comment(line[3:]).strip()
                if rest:
                    cur.append(rest)
            continue
        if line.startswith("%") and not cur:
            continue
        cur.append(line)
    docs.append(cur)
    out = []
    for lines in docs:
        v = _BlockParser(lines).document()
        if v is not None:
            out.append(v)
    return out


_TIMESTAMP_RE = re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ][0-9]{1,2}:[0-9]{2}:[0-9]{2}(\.[0-9]*)?\s*(Z|[-+][0-9]{1,2}(:[0-9]{2})?)?)?$")


def _yaml_str(s):
    if s == "":
        return '""'
    if "\n" in s:
        return None  # block scalar
    if resolve_plain(s) is not None and not isinstance(resolve_plain(s), str) or s in ("~", "null", "Null", "NULL") \
            or _TIMESTAMP_RE.match(s):
        return '"%s"' % s
    needs = (s[0] in ",[]{}#&*!|>'\"%@` " or s[-1] in " :" or ": " in s or " #" in s
             or (s[0] in "-?:" and (len(s) == 1 or s[1] == " "))
             or "\t" in s or any(ord(c) < 32 for c in s))
    if needs:
        if any(ord(c) < 32 for c in s):
            return json.dumps(s)
        return "'" + s.replace("'", "''") + "'"
    return s


def _yaml_scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return ".nan"
        if v in (float("inf"), float("-inf")):
            return ".inf" if v > 0 else "-.inf"
        return repr(v) if v != int(v) or abs(v) >= 1e16 else str(int(v))
    return _yaml_str(str(v))


def _yaml_key(k):
    s = _yaml_str(str(k))
    return s if s is not None else json.dumps(k)


def _yaml_lines(v, ind):
    pad = " " * ind
    out = []
    if isinstance(v, dict):
        for k in sorted(v):
            val = v[k]
            ks = _yaml_key(k)
            if isinstance(val, dict) and val:
                out.append("%s%s:" % (pad, ks))
                out.extend(_yaml_lines(val, ind + 2))
            elif isinstance(val, list) and val:
                out.append("%s%s:" % (pad, ks))
                out.extend(_yaml_lines(val, ind))
            elif isinstance(val, dict):
                out.append("%s%s: {}" % (pad, ks))
            elif isinstance(val, list):
                out.append("%s%s: []" % (pad, ks))
            else:
                sc = _yaml_scalar(val)
                if sc is None:
                    out.append("%s%s: %s" % (pad, ks, "|" if val.endswith("\n") else "|-"))
                    body = val[:-1] if val.endswith("\n") else val
                    for line in body.split("\n"):
                        out.append((pad + "  " + line) if line else "")
                else:
                    out.append("%s%s: %s" % (pad, ks, sc))
        return out
    if isinstance(v, list):
        for item in v:
            if isinstance(item, (dict, list)) and item:
                sub = _yaml_lines(item, ind + 2)
                sub[0] = pad + "- " + sub[0][ind + 2:]
                out.extend(sub)
            elif isinstance(item, dict):
                out.append(pad + "- {}")
            elif isinstance(item, list):
                out.append(pad + "- []")
            else:
                sc = _yaml_scalar(item)
                if sc is None:
                    out.append(pad + "- " + ("|" if item.endswith("\n") else "|-"))
                    body = item[:-1] if item.endswith("\n") else item
                    for line in body.split("\n"):
                        out.append((pad + "  " + line) if line else "")
                else:
                    out.append(pad + "- " + sc)
        return out
    sc = _yaml_scalar(v)
    return [pad + (sc if sc is not None else json.dumps(v))]


def dump_yaml(v):
    if isinstance(v, (dict, list)) and not v:
        return ("{}" if isinstance(v, dict) else "[]") + "\n"
    return "\n".join(_yaml_lines(v, 0)) + "\n"


# ----------------------------------------------------------------------------- JSONPath

class JSONPathError(ValueError):
    pass


def _jp_split_actions(template):
    """[('text', s) | ('expr', s)] for a kubectl JSONPath template."""
    out = []
    i = 0
    buf = ""
    while i < len(template):
        c = template[i]
        if c == "{":
            if buf:
                out.append(("text", buf))
                buf = ""
            j = i + 1
            q = None
            while j < len(template):
                ch = template[j]
                if q:
                    if ch == "\\":
                        j += 2
                        continue
                    if ch == q:
                        q = None
                elif ch in "'\"":
                    q = ch
                elif ch == "}":
                    break
                j += 1
            if j >= len(template):
                raise JSONPathError("unclosed action")
            out.append(("expr", template[i + 1:j].strip()))
            i = j + 1
            continue
        buf += c
        i += 1
    if buf:
        out.append(("text", buf))
    return out


def _jp_tokens(expr):
    """Tokens of one path expression: ('field', name) ('recursive', name) ('index', spec) ('filter', s) ('root',)."""
    toks = []
    i = 0
    n = len(expr)
    if expr.startswith("$"):
        toks.append(("root",))
        i = 1
    elif expr.startswith("@"):
        i = 1
    while i < n:
        c = expr[i]
        if c == ".":
            rec = False
            if i + 1 < n and expr[i + 1] == ".":
                rec = True
                i += 1
            i += 1
            name = ""
            while i < n and expr[i] not in ".[":
                if expr[i] == "\\" and i + 1 < n:
                    name += expr[i + 1]
                    i += 2
                    continue
                name += expr[i]
                i += 1
            if name == "" and not rec:
                continue
            toks.append(("recursive", name) if rec else ("field", name))
        elif c == "[":
            depth = 0
            j = i
            q = None
            while j < n:
                ch = expr[j]
                if q:
                    if ch == q:
                        q = None
                elif ch in "'\"":
                    q = ch
                elif ch == "[":
                    depth += 1
                elif ch == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            inner = expr[i + 1:j].strip()
            i = j + 1
            if inner.startswith("?"):
                f = inner[1:].strip()
                if f.startswith("(") and f.endswith(")"):
                    f = f[1:-1]
                toks.append(("filter", f))
            elif len(inner) >= 2 and inner[0] in "'\"" and inner[-1] == inner[0]:
                for part in re.findall(r"'([^']*)'|\"([^\"]*)\"", inner):
                    toks.append(("field", part[0] or part[1]))
            else:
                toks.append(("index", inner))
        elif c in " \t":
            i += 1
        else:
            name = ""
            while i < n and expr[i] not in ".[":
                if expr[i] == "\\" and i + 1 < n:
                    name += expr[i + 1]
                    i += 2
                    continue
                name += expr[i]
                i += 1
            toks.append(("field", name))
    return toks


def _jp_literal(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        body = s[1:-1]
        return body.replace("\\n", "\n").replace("\\t", "\t").replace("\\r", "\r").replace('\\"', '"').replace("\\'", "'").replace("\\\\", "\\")
    return None


def _jp_compare(left, op, right):
    try:
        if op == "==":
            return left == right
        if op == "!=":
            return left != right
        if op == "<":
            return left < right
        if op == ">":
            return left > right
        if op == "<=":
            return left <= right
        if op == ">=":
            return left >= right
    except TypeError:
        return False
    return False


def _jp_filter_value(s, item, root):
    s = s.strip()
    lit = _jp_literal(s)
    if lit is not None:
        return [lit]
    if re.match(r"^-?[0-9]+(\.[0-9]+)?$", s):
        return [float(s) if "." in s else int(s)]
    if s in ("true", "false"):
        return [s == "true"]
    if s.startswith("@") or s.startswith("$") or s.startswith("."):
        return _jp_eval(_jp_tokens(s), item if not s.startswith("$") else root, root)
    return [s]


def _jp_eval(toks, cur, root):
    vals = [cur]
    for t in toks:
        nxt = []
        if t[0] == "root":
            nxt = [root]
        elif t[0] == "field":
            name = t[1]
            for v in vals:
                if name == "*":
                    if isinstance(v, dict):
                        nxt.extend(v[k] for k in sorted(v))
                    elif isinstance(v, list):
                        nxt.extend(v)
                elif isinstance(v, dict) and name in v:
                    nxt.append(v[name])
        elif t[0] == "recursive":
            name = t[1]

            def walk(v):
                if isinstance(v, dict):
                    for k in sorted(v):
                        if k == name or name in ("", "*"):
                            nxt.append(v[k])
                        walk(v[k])
                elif isinstance(v, list):
                    for x in v:
                        walk(x)
            for v in vals:
                walk(v)
        elif t[0] == "index":
            spec = t[1]
            for v in vals:
                if spec == "*":
                    if isinstance(v, list):
                        nxt.extend(v)
                    elif isinstance(v, dict):
                        nxt.extend(v[k] for k in sorted(v))
                    continue
                if not isinstance(v, list):
                    continue
                if ":" in spec:
                    parts = (spec.split(":") + ["", ""])[:3]
                    a = int(parts[0]) if parts[0].strip() else None
                    b = int(parts[1]) if parts[1].strip() else None
                    st = int(parts[2]) if parts[2].strip() else None
                    nxt.extend(v[a:b:st])
                    continue
                try:
                    k = int(spec)
                except ValueError:
                    raise JSONPathError("invalid array index %s" % spec)
                if k < -len(v) or k >= len(v):
                    raise JSONPathError("array index out of bounds: index %d, length %d" % (k, len(v)))
                nxt.append(v[k])
        elif t[0] == "filter":
            f = t[1]
            m = re.match(r"^(.*?)\s*(==|!=|<=|>=|<|>)\s*(.*)$", f)
            for v in vals:
                items = v if isinstance(v, list) else (list(v.values()) if isinstance(v, dict) else [])
                for item in items:
                    if m:
                        lv = _jp_filter_value(m.group(1), item, root)
                        rv = _jp_filter_value(m.group(3), item, root)
                        if lv and rv and _jp_compare(lv[0], m.group(2), rv[0]):
                            nxt.append(item)
                    else:
                        if _jp_filter_value(f, item, root):
                            nxt.append(item)
        vals = nxt
    return vals


def _jp_format(v):
    if isinstance(v, str):
        return v
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "<nil>"
    if isinstance(v, float) and v == int(v):
        return str(int(v))
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return str(v)


def jsonpath(template, data):
    """Render a kubectl -o jsonpath template against data (missing keys allowed)."""
    actions = _jp_split_actions(template)

    def render(acts, cur):
        out = []
        i = 0
        while i < len(acts):
            kind, s = acts[i]
            if kind == "text":
                out.append(s)
                i += 1
                continue
            if s.startswith("range ") or s == "range":
                depth = 1
                j = i + 1
                while j < len(acts):
                    if acts[j][0] == "expr" and (acts[j][1].startswith("range ") or acts[j][1] == "range"):
                        depth += 1
                    elif acts[j][0] == "expr" and acts[j][1] == "end":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                if j >= len(acts):
                    raise JSONPathError("not in range, nothing to end")
                items = _jp_eval(_jp_tokens(s[5:].strip()), cur, data)
                if len(items) == 1 and isinstance(items[0], list):
                    items = items[0]
                for it in items:
                    out.append(render(acts[i + 1:j], it))
                i = j + 1
                continue
            if s == "end":
                raise JSONPathError("not in range, nothing to end")
            lit = _jp_literal(s)
            if lit is not None:
                out.append(lit)
                i += 1
                continue
            vals = _jp_eval(_jp_tokens(s), cur, data)
            out.append(" ".join(_jp_format(v) for v in vals))
            i += 1
        return "".join(out)
    return render(actions, data)


# ----------------------------------------------------------------------------- selectors

class SelectorError(ValueError):
    pass


def parse_selector(s):
    reqs = []
    if not s:
        return reqs
    parts = []
    depth = 0
    buf = ""
    for c in s:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(buf)
            buf = ""
        else:
            buf += c
    parts.append(buf)
    for p in parts:
        p = p.strip()
        if not p:
            raise SelectorError("found '', expected: identifier")
        m = re.match(r"^([A-Za-z0-9._/-]+)\s+(in|notin)\s+\((.*)\)$", p)
        if m:
            reqs.append((m.group(1), m.group(2), [x.strip() for x in m.group(3).split(",") if x.strip()]))
            continue
        m = re.match(r"^([A-Za-z0-9._/-]+)\s*(==|!=|=)\s*([A-Za-z0-9._-]*)$", p)
        if m:
            op = "=" if m.group(2) in ("=", "==") else "!="
            reqs.append((m.group(1), op, [m.group(3)]))
            continue
        m = re.match(r"^!\s*([A-Za-z0-9._/-]+)$", p)
        if m:
            reqs.append((m.group(1), "!exists", []))
            continue
        m = re.match(r"^([A-Za-z0-9._/-]+)$", p)
        if m:
            reqs.append((m.group(1), "exists", []))
            continue
        raise SelectorError("unable to parse requirement: %s" % p)
    return reqs


def selector_matches(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "=" and not (has and v == vals[0]):
            return False
        if op == "!=" and has and v == vals[0]:
            return False
        if op == "in" and not (has and v in vals):
            return False
        if op == "notin" and has and v in vals:
            return False
        if op == "exists" and not has:
            return False
        if op == "!exists" and has:
            return False
    return True


# ----------------------------------------------------------------------------- resources

# (group, versions, kind, plural, namespaced, short names) as `kubectl api-resources` lists them.
BUILTIN_RESOURCES = [
    ("", ["v1"], "Namespace", "namespaces", False, ["ns"]),
    ("", ["v1"], "Node", "nodes", False, ["no"]),
    ("", ["v1"], "Pod", "pods", True, ["po"]),
    ("", ["v1"], "Service", "services", True, ["svc"]),
    ("", ["v1"], "ServiceAccount", "serviceaccounts", True, ["sa"]),
    ("", ["v1"], "ConfigMap", "configmaps", True, ["cm"]),
    ("", ["v1"], "Secret", "secrets", True, []),
    ("", ["v1"], "Endpoints", "endpoints", True, ["ep"]),
    ("", ["v1"], "Event", "events", True, ["ev"]),
    ("", ["v1"], "PersistentVolumeClaim", "persistentvolumeclaims", True, ["pvc"]),
    ("", ["v1"], "PersistentVolume", "persistentvolumes", False, ["pv"]),
    ("", ["v1"], "LimitRange", "limitranges", True, ["limits"]),
    ("", ["v1"], "ResourceQuota", "resourcequotas", True, ["quota"]),
    ("", ["v1"], "ReplicationController", "replicationcontrollers", True, ["rc"]),
    ("apps", ["v1"], "Deployment", "deployments", True, ["deploy"]),
    ("apps", ["v1"], "DaemonSet", "daemonsets", True, ["ds"]),
    ("apps", ["v1"], "StatefulSet", "statefulsets", True, ["sts"]),
    ("apps", ["v1"], "ReplicaSet", "replicasets", True, ["rs"]),
    ("batch", ["v1"], "Job", "jobs", True, []),
    ("batch", ["v1"], "CronJob", "cronjobs", True, ["cj"]),
    ("networking.k8s.io", ["v1"], "NetworkPolicy", "networkpolicies", True, ["netpol"]),
    ("networking.k8s.io", ["v1"], "Ingress", "ingresses", True, ["ing"]),
    ("networking.k8s.io", ["v1"], "IngressClass", "ingressclasses", False, []),
    ("rbac.authorization.k8s.io", ["v1"], "Role", "roles", True, []),
    ("rbac.authorization.k8s.io", ["v1"], "RoleBinding", "rolebindings", True, []),
    ("rbac.authorization.k8s.io", ["v1"], "ClusterRole", "clusterroles", False, []),
    ("rbac.authorization.k8s.io", ["v1"], "ClusterRoleBinding", "clusterrolebindings", False, []),
    ("storage.k8s.io", ["v1"], "StorageClass", "storageclasses", False, ["sc"]),
    ("apiextensions.k8s.io", ["v1"], "CustomResourceDefinition", "customresourcedefinitions", False, ["crd", "crds"]),
    ("apiregistration.k8s.io", ["v1"], "APIService", "apiservices", False, []),
    ("policy", ["v1"], "PodDisruptionBudget", "poddisruptionbudgets", True, ["pdb"]),
    ("autoscaling", ["v2", "v1"], "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ["hpa"]),
    ("admissionregistration.k8s.io", ["v1"], "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", False, []),
    ("admissionregistration.k8s.io", ["v1"], "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", False, []),
    ("coordination.k8s.io", ["v1"], "Lease", "leases", True, []),
    ("discovery.k8s.io", ["v1"], "EndpointSlice", "endpointslices", True, []),
]


class Resource:
    def __init__(self, group, versions, kind, plural, namespaced, short, singular=None):
        self.group = group
        self.versions = list(versions)
        self.kind = kind
        self.plural = plural
        self.namespaced = namespaced
        self.short = list(short or [])
        self.singular = singular or kind.lower()

    @property
    def api_version(self):
        return self.versions[0] if not self.group else "%s/%s" % (self.group, self.versions[0])

    @property
    def qualified(self):
        """'deployments.apps' / 'namespaces': how API errors name the resource."""
        return self.plural if not self.group else "%s.%s" % (self.plural, self.group)

    @property
    def kind_prefix(self):
        """'deployment.apps' / 'namespace': how kubectl prints 'KIND/NAME'."""
        k = self.kind.lower()
        return k if not self.group else "%s.%s" % (k, self.group)


def split_api_version(av):
    if not av:
        return "", ""
    if "/" in av:
        g, v = av.split("/", 1)
        return g, v
    return "", av


class Store:
    """The cluster's objects: one JSON file, rewritten atomically under the state lock."""

    def __init__(self, sdir):
        self.sdir = sdir
        self.path = os.path.join(sdir, "objects.json")
        data = read_json(self.path, None) or {}
        self.objects = data.get("objects", {})
        self.rv = int(data.get("rv", 1000))
        self.seq = int(data.get("seq", 0))

    def save(self):
        atomic_write_json(self.path, {"objects": self.objects, "rv": self.rv, "seq": self.seq})

    @staticmethod
    def key(group, kind, ns, name):
        return "%s|%s|%s|%s" % (group, kind, ns or "", name)

    # resource mapping -----------------------------------------------------------
    def resources(self):
        out = [Resource(*r) for r in BUILTIN_RESOURCES]
        for k, o in sorted(self.objects.items()):
            if not k.startswith("apiextensions.k8s.io|CustomResourceDefinition|"):
                continue
            spec = o.get("spec") or {}
            names = spec.get("names") or {}
            vers = [v.get("name") for v in (spec.get("versions") or []) if v.get("served", True) and v.get("name")]
            storage = [v.get("name") for v in (spec.get("versions") or []) if v.get("storage")]
            vers = storage + [v for v in vers if v not in storage]
            if not (spec.get("group") and names.get("kind") and names.get("plural") and vers):
                continue
            out.append(Resource(spec["group"], vers, names["kind"], names["plural"],
                                spec.get("scope", "Namespaced") == "Namespaced",
                                names.get("shortNames") or [], names.get("singular")))
        return out

    def resource_for_kind(self, api_version, kind):
        group, version = split_api_version(api_version)
        for r in self.resources():
            if r.group == group and r.kind == kind and version in r.versions:
                return r
        return None

    def resource_for_arg(self, arg):
        """kubectl's argument forms: deploy, deployments, deployment, deployments.apps, deployments.v1.apps."""
        a = arg.lower()
        res = self.resources()
        for r in res:
            names = {r.plural, r.singular, r.kind.lower()} | {s.lower() for s in r.short}
            if a in names:
                return r
        for r in res:
            if not r.group:
                continue
            for base in (r.plural, r.singular, r.kind.lower()):
                if a == "%s.%s" % (base, r.group):
                    return r
                for v in r.versions:
                    if a == "%s.%s.%s" % (base, v, r.group):
                        return r
        return None

    # objects --------------------------------------------------------------------
    def get(self, r, ns, name):
        return self.objects.get(self.key(r.group, r.kind, ns if r.namespaced else "", name))

    def list(self, r, ns=None):
        prefix = "%s|%s|" % (r.group, r.kind)
        out = []
        for k in sorted(self.objects):
            if not k.startswith(prefix):
                continue
            o = self.objects[k]
            if r.namespaced and ns is not None and (o.get("metadata") or {}).get("namespace") != ns:
                continue
            out.append(o)
        return out

    def namespace_exists(self, ns):
        return self.key("", "Namespace", "", ns) in self.objects

    def put(self, r, obj, created=False):
        md = obj.setdefault("metadata", {})
        name = md.get("name")
        if r.namespaced:
            md["namespace"] = md.get("namespace") or "default"
        else:
            md.pop("namespace", None)
        obj["apiVersion"] = r.api_version
        obj["kind"] = r.kind
        k = self.key(r.group, r.kind, md.get("namespace", ""), name)
        old = self.objects.get(k)
        self.rv += 1
        md["resourceVersion"] = str(self.rv)
        if old is None or created:
            self.seq += 1
            md.setdefault("uid", stable_uid(k, self.seq))
            md.setdefault("creationTimestamp", now_ts())
            if r.kind in ("Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job") or r.group not in BUILTIN_GROUPS:
                md["generation"] = 1
        else:
            md["uid"] = (old.get("metadata") or {}).get("uid") or md.get("uid") or stable_uid(k, self.seq)
            md["creationTimestamp"] = (old.get("metadata") or {}).get("creationTimestamp") or now_ts()
            if "generation" in (old.get("metadata") or {}):
                gen = old["metadata"]["generation"]
                if old.get("spec") != obj.get("spec"):
                    gen += 1
                md["generation"] = gen
        self.objects[k] = obj
        return obj

    def delete(self, r, ns, name):
        return self.objects.pop(self.key(r.group, r.kind, ns if r.namespaced else "", name), None)

    def delete_namespace_contents(self, ns):
        gone = []
        for k in list(self.objects):
            o = self.objects[k]
            if (o.get("metadata") or {}).get("namespace") == ns:
                gone.append(self.objects.pop(k))
        return gone


BUILTIN_GROUPS = {r[0] for r in BUILTIN_RESOURCES}


# ----------------------------------------------------------------------------- controllers

ISTIO_PROXY_IMAGE = "docker.io/istio/proxyv2:%s"


def _pod_ready(ns, owner):
    return "%s/%s" % (ns, owner) not in never_ready()


def _injection_wanted(store, ns, template_labels, template_annotations):
    """Istio's default sidecar-injector webhook selection (namespace label or pod label)."""
    webhook = store.objects.get(Store.key("admissionregistration.k8s.io", "MutatingWebhookConfiguration", "",
                                          "istio-sidecar-injector"))
    if webhook is None:
        return None
    istiod = store.objects.get(Store.key("apps", "Deployment", "istio-system", "istiod")) or {}
    images = [c.get("image", "") for c in (((istiod.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []]
    version = images[0].rsplit(":", 1)[-1] if images and ":" in images[0] else "latest"
    nsobj = store.objects.get(Store.key("", "Namespace", "", ns)) or {}
    nslabels = (nsobj.get("metadata") or {}).get("labels") or {}
    plabels = template_labels or {}
    pod_inject = plabels.get("sidecar.istio.io/inject", (template_annotations or {}).get("sidecar.istio.io/inject"))
    if pod_inject == "false":
        return None
    if nslabels.get("istio-injection") == "enabled" or ("istio.io/rev" in nslabels and nslabels.get("istio-injection") != "disabled"):
        return version
    if pod_inject == "true" and nslabels.get("istio-injection") != "disabled":
        return version
    return None


def _make_pod(store, ns, name, template, owner_kind, owner_name, owner_uid, template_hash, ready, pod_ip):
    tmeta = template.get("metadata") or {}
    spec = json.loads(json.dumps(template.get("spec") or {}))
    labels = dict(tmeta.get("labels") or {})
    annotations = dict(tmeta.get("annotations") or {})
    if template_hash and owner_kind == "ReplicaSet":
        labels["pod-template-hash"] = template_hash
    istio = _injection_wanted(store, ns, labels, annotations)
    containers = spec.get("containers") or []
    if istio:
        # Istio >= 1.19 injects istio-proxy as a native sidecar (an init container with
        # restartPolicy Always) on Kubernetes >= 1.29; kubectl still shows 2/2.
        inits = spec.setdefault("initContainers", [])
        inits.append({"name": "istio-proxy", "image": ISTIO_PROXY_IMAGE % istio, "restartPolicy": "Always",
                      "args": ["proxy", "sidecar"]})
        labels["security.istio.io/tlsMode"] = "istio"
        labels["service.istio.io/canonical-name"] = labels.get("app", owner_name)
        labels["service.istio.io/canonical-revision"] = labels.get("version", "latest")
        # the injection template names the app's container for kubectl (exec, logs)
        if containers:
            annotations.setdefault("kubectl.kubernetes.io/default-container", containers[0].get("name"))
            annotations.setdefault("kubectl.kubernetes.io/default-logs-container", containers[0].get("name"))
        annotations["sidecar.istio.io/status"] = json.dumps({"initContainers": ["istio-proxy"], "containers": None,
                                                             "volumes": ["istio-envoy"], "revision": "default"},
                                                            separators=(",", ":"))
    spec.setdefault("nodeName", "minikube")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("serviceAccountName", spec.get("serviceAccountName") or "default")
    statuses = []
    for c in containers:
        statuses.append({"name": c.get("name"), "image": c.get("image"), "ready": ready, "restartCount": 0,
                         "started": True, "state": {"running": {"startedAt": now_ts()}}})
    init_statuses = []
    if istio:
        init_statuses.append({"name": "istio-proxy", "image": ISTIO_PROXY_IMAGE % istio, "ready": ready,
                              "restartCount": 0, "started": True, "state": {"running": {"startedAt": now_ts()}}})
    cond = "True" if ready else "False"
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner_kind, "name": owner_name if owner_kind != "ReplicaSet" else "%s-%s" % (owner_name, template_hash),
                                          "uid": owner_uid, "controller": True, "blockOwnerDeletion": True}]},
        "spec": spec,
        "status": {"phase": "Running", "hostIP": CLUSTER_IP, "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
                   "qosClass": "BestEffort", "startTime": now_ts(),
                   "conditions": [{"type": "PodReadyToStartContainers", "status": "True"},
                                  {"type": "Initialized", "status": "True"},
                                  {"type": "Ready", "status": cond},
                                  {"type": "ContainersReady", "status": cond},
                                  {"type": "PodScheduled", "status": "True"}],
                   "containerStatuses": statuses},
    }
    if init_statuses:
        pod["status"]["initContainerStatuses"] = init_statuses
    if annotations:
        pod["metadata"]["annotations"] = annotations
    pod["metadata"]["standin/owner"] = "%s/%s" % (owner_kind, owner_name)
    return pod


def _pod_ip(store, cni, seed):
    # minikube gives every CNI the pod pool 10.244.0.0/16 (pkg/minikube/cni/cni.go
    # DefaultPodCIDR; cilium.go renders Cilium's cluster-pool-ipv4-cidr from it); with
    # cluster-pool-ipv4-mask-size 24 the single node's pods come from 10.244.0.0/24.
    base = "10.244.0."
    used = {((o.get("status") or {}).get("podIP")) for o in store.list(Resource(*BUILTIN_RESOURCES[2]))}
    n = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % 240 + 10
    for k in range(250):
        ip = base + str((n + k - 10) % 240 + 10)
        if ip not in used:
            return ip
    return base + "250"


def reconcile(store, cni=""):
    """What the controllers would do: pods for deployments/daemonsets/statefulsets, their status."""
    pod_r = Resource(*BUILTIN_RESOURCES[2])
    owners_alive = set()
    for kind in ("Deployment", "DaemonSet", "StatefulSet"):
        r = Resource("apps", ["v1"], kind, kind.lower() + "s", True, [])
        for o in store.list(r):
            md = o["metadata"]
            ns, name = md["namespace"], md["name"]
            spec = o.get("spec") or {}
            template = spec.get("template") or {}
            owner_kind = "ReplicaSet" if kind == "Deployment" else kind
            replicas = 1 if kind == "DaemonSet" else spec.get("replicas", 1)
            if replicas is None:
                replicas = 1
            thash = stable_hash(json.dumps(template, sort_keys=True), n=10)[:10] if kind == "Deployment" else stable_hash(json.dumps(template, sort_keys=True), n=10)
            marker = "%s/%s" % (owner_kind, name)
            owners_alive.add((ns, marker))
            current = [p for p in store.list(pod_r, ns) if p["metadata"].get("standin/owner") == marker]
            wanted_hash = thash
            ready = _pod_ready(ns, name)
            keep = [p for p in current if p["metadata"].get("standin/template-hash") == wanted_hash]
            if len(keep) != len(current) or len(keep) != replicas:
                for p in current:
                    if p not in keep or keep.index(p) >= replicas:
                        store.delete(pod_r, ns, p["metadata"]["name"])
                keep = keep[:replicas]
                for idx in range(len(keep), replicas):
                    store.seq += 1
                    if kind == "Deployment":
                        pname = "%s-%s-%s" % (name, wanted_hash, stable_hash(name, wanted_hash, idx, store.seq, n=5))
                    elif kind == "StatefulSet":
                        pname = "%s-%d" % (name, idx)
                    else:
                        pname = "%s-%s" % (name, stable_hash(name, wanted_hash, idx, store.seq, n=5))
                    pod = _make_pod(store, ns, pname, template, owner_kind, name, md.get("uid"), wanted_hash, ready,
                                    _pod_ip(store, cni, "%s/%s" % (ns, pname)))
                    pod["metadata"]["standin/template-hash"] = wanted_hash
                    store.put(pod_r, pod, created=True)
                    keep.append(pod)
            # readiness follows the world knob even for existing pods
            for p in keep:
                st = p.get("status") or {}
                for cs in (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or []):
                    cs["ready"] = ready
                for c in st.get("conditions") or []:
                    if c.get("type") in ("Ready", "ContainersReady"):
                        c["status"] = "True" if ready else "False"
            nready = len(keep) if ready else 0
            gen = md.get("generation", 1)
            if kind == "Deployment":
                o["status"] = {
                    "observedGeneration": gen, "replicas": len(keep), "updatedReplicas": len(keep),
                    "readyReplicas": nready, "availableReplicas": nready,
                    "conditions": [
                        {"type": "Available", "status": "True" if nready >= replicas else "False",
                         "reason": "MinimumReplicasAvailable" if nready >= replicas else "MinimumReplicasUnavailable",
                         "message": "Deployment has minimum availability." if nready >= replicas else "Deployment does not have minimum availability."},
                        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                         "message": 'ReplicaSet "%s-%s" has successfully progressed.' % (name, wanted_hash)}]}
                if nready == 0 and replicas > 0:
                    o["status"]["unavailableReplicas"] = replicas
                    o["status"].pop("readyReplicas", None)
                    o["status"].pop("availableReplicas", None)
            elif kind == "DaemonSet":
                o["status"] = {"observedGeneration": gen, "currentNumberScheduled": 1, "desiredNumberScheduled": 1,
                               "numberAvailable": nready, "numberReady": nready, "numberMisscheduled": 0,
                               "updatedNumberScheduled": 1}
            else:
                o["status"] = {"observedGeneration": gen, "replicas": len(keep), "readyReplicas": nready,
                               "availableReplicas": nready, "currentReplicas": len(keep), "updatedReplicas": len(keep)}
    for p in store.list(pod_r):
        owner = p["metadata"].get("standin/owner")
        if owner and (p["metadata"]["namespace"], owner) not in owners_alive:
            store.delete(pod_r, p["metadata"]["namespace"], p["metadata"]["name"])


def public_view(obj):
    """The object as the API server would return it (stand-in bookkeeping removed)."""
    o = json.loads(json.dumps(obj))
    md = o.get("metadata") or {}
    for k in list(md):
        if k.startswith("standin/"):
            md.pop(k)
    for k in list(o):
        if k.startswith("standin/"):
            o.pop(k)
    return o


def service_defaults(store, obj):
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    if spec.get("clusterIP") != "None" and not spec.get("clusterIP"):
        svc_r = Resource(*BUILTIN_RESOURCES[3])
        used = {(s.get("spec") or {}).get("clusterIP") for s in store.list(svc_r)}
        md = obj.get("metadata") or {}
        n = int(hashlib.sha256(("%s/%s" % (md.get("namespace"), md.get("name"))).encode()).hexdigest(), 16)
        for k in range(5000):
            m = (n + k) % (16 * 254)
            ip = "10.%d.%d.%d" % (96 + m // (254 * 254) % 16, (m // 254) % 256, m % 254 + 1)
            if ip not in used and ip not in ("10.96.0.1", "10.96.0.10"):
                spec["clusterIP"] = ip
                break
    if spec.get("clusterIP"):
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    if spec["type"] in ("LoadBalancer", "NodePort"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
        if spec["type"] == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
    for p in spec.get("ports") or []:
        p.setdefault("protocol", "TCP")
        p.setdefault("targetPort", p.get("port"))
        if spec["type"] in ("LoadBalancer", "NodePort") and "nodePort" not in p:
            p["nodePort"] = 30000 + int(hashlib.sha256(("%s/%s/%s" % (obj["metadata"].get("namespace"), obj["metadata"].get("name"), p.get("port"))).encode()).hexdigest(), 16) % 2768
    obj.setdefault("status", {"loadBalancer": {}})


def deployment_defaults(obj):
    spec = obj.setdefault("spec", {})
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})


def namespace_defaults(obj):
    md = obj.setdefault("metadata", {})
    labels = md.setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = md.get("name")
    obj.setdefault("spec", {"finalizers": ["kubernetes"]})
    obj["status"] = {"phase": "Active"}


def pod_admission(store, obj):
    """A Pod written directly (kubectl apply/create of kind Pod, not a controller's): what it
    gets on CREATE. The Istio injector's mutating webhook (on pod CREATE only, so an existing
    pod is never re-injected; same selection as for controllers' pods, see _injection_wanted)
    and, the stand-in's node being instant, a scheduled, running status with an address from
    the pod pool. A pod that already has a status (an update) is left alone."""
    if obj.get("status"):
        return
    md = obj.setdefault("metadata", {})
    ns = md.get("namespace") or "default"
    name = md.get("name")
    made = _make_pod(store, ns, name, {"metadata": {"labels": md.get("labels") or {},
                                                    "annotations": md.get("annotations") or {}},
                                       "spec": obj.get("spec") or {}},
                     "Pod", name, "", "", _pod_ready(ns, name), _pod_ip(store, "", "%s/%s" % (ns, name)))
    if made["metadata"].get("labels"):
        md["labels"] = made["metadata"]["labels"]
    if made["metadata"].get("annotations"):
        md["annotations"] = made["metadata"]["annotations"]
    obj["spec"] = made["spec"]
    obj["status"] = made["status"]


def apply_server_defaults(store, r, obj):
    if r.group == "" and r.kind == "Pod":
        pod_admission(store, obj)
    elif r.group == "" and r.kind == "Service":
        service_defaults(store, obj)
    elif r.group == "apps" and r.kind == "Deployment":
        deployment_defaults(obj)
    elif r.group == "" and r.kind == "Namespace":
        namespace_defaults(obj)
    elif r.group == "" and r.kind == "ServiceAccount":
        pass


def commit(store, sdir=None):
    """Run the controllers and write the store (caller holds the state lock)."""
    cluster = load_cluster(sdir or store.sdir) or {}
    cni = ((cluster.get("Config") or {}).get("KubernetesConfig") or {}).get("CNI", "")
    reconcile(store, cni)
    store.save()


# ----------------------------------------------------------------------------- web
#
# What answers HTTP inside the stand-in cluster, shared by `kubectl port-forward`,
# `kubectl proxy` (so `minikube dashboard`) and `minikube tunnel`: the web UIs of the Istio
# addons, the dashboard, Bookinfo's productpage and the Istio ingress gateway's routing, as
# small pages a test can tell apart (each says in an HTML comment which namespace/service,
# pod and port answered). A pod "listens" on a port only while it is Ready; a known app on
# its known port, any other app on the containerPorts it declares (on any port if it
# declares none).

SERVICE_CIDR = "10.96.0.0/12"
POD_R = Resource(*BUILTIN_RESOURCES[2])
SVC_R = Resource(*BUILTIN_RESOURCES[3])


class Req:
    def __init__(self, method, path, headers, store=None, sdir=None, pod=None):
        self.method = method
        self.path = path
        self.headers = headers
        # context for apps whose answer depends on the cluster (productpage calls reviews,
        # Prometheus reports the mesh's requests): the store, state dir and answering pod
        self.store = store
        self.sdir = sdir
        self.pod = pod

    @property
    def route(self):
        return self.path.split("?", 1)[0]

    @property
    def host(self):
        h = (self.headers.get("Host") or "") if self.headers is not None else ""
        if h.startswith("["):
            return h.split("]")[0] + "]"
        return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


class Resp:
    def __init__(self, status, body=b"", ctype="text/html; charset=utf-8", headers=None, server=None):
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.ctype = ctype
        self.headers = list(headers or [])
        self.server = server


def _text(status, text):
    return Resp(status, text, "text/plain; charset=utf-8")


def _json(status, obj):
    return Resp(status, json.dumps(obj, separators=(",", ":")) + "\n", "application/json")


def _redirect(status, location):
    return Resp(status, '<a href="%s">%s</a>.\n\n' % (location, {301: "Moved Permanently", 302: "Found"}[status]),
                headers=[("Location", location)])


def _page(title, body, who):
    return Resp(200, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n"
                     "<!-- lab-world stand-in page: %s -->\n</head>\n<body>\n%s\n</body>\n</html>\n" % (title, who, body))


def pod_is_ready(pod):
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def pods_for_labels(store, ns, match):
    """Pods in ns whose labels carry every key=value of match (a non-empty dict)."""
    if not match:
        return []
    out = []
    for p in store.list(POD_R, ns):
        labels = (p.get("metadata") or {}).get("labels") or {}
        if all(labels.get(k) == v for k, v in match.items()):
            out.append(p)
    return out


def active_first(pods):
    """kubectl's ActivePods order, roughly: ready pods first, then by name."""
    return sorted(pods, key=lambda p: (not pod_is_ready(p), (p.get("metadata") or {}).get("name", "")))


def service_endpoints(store, svc):
    """Ready pods behind a Service (its selector), ready first and by name."""
    sel = (svc.get("spec") or {}).get("selector") or {}
    ns = (svc.get("metadata") or {}).get("namespace")
    return [p for p in active_first(pods_for_labels(store, ns, sel)) if pod_is_ready(p)]


def declared_ports(pod):
    return [cp for c in (pod.get("spec") or {}).get("containers") or [] for cp in c.get("ports") or []]


def container_port_by_name(pod, name):
    for cp in declared_ports(pod):
        if cp.get("name") == name:
            return int(cp.get("containerPort"))
    return None


def service_target_port(svc, port, pod):
    """k8s.io/kubectl/pkg/util LookupContainerPortNumberByServicePort: (port, None) or (None, error)."""
    spec = svc.get("spec") or {}
    for sp in spec.get("ports") or []:
        if int(sp.get("port", 0)) != int(port):
            continue
        if spec.get("clusterIP") == "None":
            return int(port), None
        tp = sp.get("targetPort")
        if tp is None or tp == 0 or tp == "":
            return int(sp["port"]), None
        if isinstance(tp, int) or str(tp).isdigit():
            return int(tp), None
        n = container_port_by_name(pod, tp)
        if n is None:
            return None, "Pod '%s' does not have a named port '%s'" % ((pod.get("metadata") or {}).get("name"), tp)
        return n, None
    return None, "Service %s does not have a service port %d" % ((svc.get("metadata") or {}).get("name"), int(port))


def app_of(pod):
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if labels.get("istio") == "ingressgateway":
        return "istio-ingressgateway"
    return labels.get("app") or labels.get("k8s-app") or labels.get("app.kubernetes.io/name") or ""


# --- the apps ----------------------------------------------------------------------

def _kiali(req, who):
    r = req.route
    if r == "/":
        return _redirect(302, "/kiali/")
    if r == "/kiali" or r.startswith("/kiali/"):
        if r.startswith("/kiali/api"):
            return _json(200, {"status": {"Kiali state": "running", "Kiali version": "v2.13.0"}})
        return _page("Kiali", '<div id="root">Kiali: the console for Istio service mesh</div>', who)
    return _text(404, "404 page not found\n")


def _grafana(req, who):
    r = req.route
    if r == "/api/health":
        return _json(200, {"database": "ok", "version": "12.0.1"})
    if r.startswith("/api/"):
        return _json(404, {"message": "Not found"})
    return _page("Grafana", '<div id="reactRoot">Grafana</div>', who)


def _jaeger(req, who):
    # Istio's samples/addons/jaeger.yaml sets the query extension's base_path: /jaeger.
    r = req.route
    if r == "/jaeger" or r.startswith("/jaeger/"):
        if r.startswith("/jaeger/api/services"):
            return _json(200, {"data": ["istio-ingressgateway.istio-system", "productpage.default"], "total": 2,
                               "limit": 0, "offset": 0, "errors": None})
        return _page("Jaeger UI", '<div id="jaeger-ui-root">Jaeger UI</div>', who)
    return _text(404, "404 page not found\n")


def _prometheus(req, who):
    r = req.route
    if r == "/":
        return _redirect(302, "/query")
    if r == "/-/healthy":
        return _text(200, "Prometheus Server is Healthy.\n")
    if r == "/-/ready":
        return _text(200, "Prometheus Server is Ready.\n")
    if r in ("/graph", "/query", "/alerts", "/targets", "/status"):
        return _page("Prometheus Time Series Collection and Processing Server", '<div id="root">Prometheus</div>', who)
    if r.startswith("/api/v1/query"):
        # Prometheus HTTP API (prometheus.io/docs/prometheus/latest/querying/api/): an instant
        # query answers {"status":"success","data":{"resultType":"vector","result":[...]}};
        # istio_requests_total has a series per label set once an Envoy counted requests.
        q = urllib_parse_qs(req.path.split("?", 1)[1] if "?" in req.path else "").get("query", [""])[0]
        result = []
        if q.strip().startswith("istio_requests_total"):
            result = mesh_request_series(req.sdir)
        return _json(200, {"status": "success", "data": {"resultType": "vector", "result": result}})
    if r.startswith("/api/v1/"):
        return _json(200, {"status": "success", "data": {"resultType": "vector", "result": []}})
    return _text(404, "404 page not found\n")


def urllib_parse_qs(qs):
    import urllib.parse
    return urllib.parse.parse_qs(qs)


BOOKINFO_PRODUCTS = [{"id": 0, "title": "The Comedy of Errors",
                      "descriptionHtml": "<a href=\"https://en.wikipedia.org/wiki/The_Comedy_of_Errors\">Wikipedia Summary</a>: "
                                         "The Comedy of Errors is one of <b>William Shakespeare's</b> early plays."}]


def _productpage(req, who):
    r = req.route
    if r == "/":
        return _page("Simple Bookstore App", "<h3>Hello! This is a simple bookstore application consisting of three "
                                             "services as shown below</h3>", who)
    if r == "/productpage":
        return _page("Simple Bookstore App", "<h1>The Comedy of Errors</h1>\n<p>Summary: The Comedy of Errors is one "
                                             "of William Shakespeare's early plays.</p>\n<h4>Book Details</h4>\n"
                                             + _reviews_html(req), who)
    if r == "/health":
        return _json(200, {"status": "Product page is healthy"})
    if r == "/api/v1/products":
        return _json(200, BOOKINFO_PRODUCTS)
    if r.startswith("/api/v1/products/"):
        return _json(200, {"id": 0, "type": "paperback", "pages": 200, "publisher": "PublisherA",
                           "language": "English", "ISBN-10": "1234567890", "ISBN-13": "123-1234567890"})
    if r in ("/login", "/logout"):
        return _redirect(302, "/productpage")
    if r.startswith("/static/"):
        return Resp(200, "/* bookinfo static */\n", "text/css")
    return _text(404, "404 Not Found\n")


# Bookinfo's reviews versions as productpage renders them (istio/istio samples/bookinfo/src/
# productpage/templates/productpage.html, the Tailwind page of Istio >= 1.22): v1 has no
# ratings, v2 black stars, v3 red ones, as `<div class="flex gap-x-1 text-COLOR-500">` with one
# filled svg per star; every review says "Reviews served by: POD". reviews v2/v3 ask ratings;
# without it: "Ratings service is currently unavailable".
REVIEWS = [("Reviewer1", 5, "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!"),
           ("Reviewer2", 4, "Absolutely fun and entertaining. The play lacks thematic depth when compared to other "
                            "plays by Shakespeare.")]
STAR = ('<svg class="h-5 w-5 flex-none" viewBox="0 0 20 20" fill="currentColor" aria-hidden="true">'
        '<path fill-rule="evenodd" d="M10.868 2.884z" clip-rule="evenodd" /></svg>')
EMPTY_STAR = '<svg fill="none" viewBox="0 0 24 24" stroke="currentColor" class="h-5 w-5 flex-none"><path d="M11.48 3.499Z" /></svg>'


def _reviews_html(req):
    store, src = req.store, req.pod
    if store is None:
        return "<h4>Book Reviews</h4>"
    ns = ((src or {}).get("metadata") or {}).get("namespace") or "default"
    svc = store.get(SVC_R, ns, "reviews")
    conn = None
    if svc is not None:
        cip = (svc.get("spec") or {}).get("clusterIP")
        conn = pod_connect(store, src, cip, 9080, req=Req("GET", "/reviews/0", {}))
    if conn is None or conn.state != "ok":
        return '<p class="text-2xl text-red-500">Error fetching product reviews</p>\n' \
               '<p class="text-lg text-gray-600">Sorry, product reviews are currently unavailable for this book.</p>'
    if conn.via_envoy:
        count_mesh_request(req.sdir, ns, "reviews", 200, src=app_of(src) or "productpage")
    rpod = conn.pod
    version = ((rpod.get("metadata") or {}).get("labels") or {}).get("version", "v1")
    color = {"v2": "black", "v3": "red"}.get(version)
    ratings_ok = False
    if color:
        rsvc = store.get(SVC_R, ns, "ratings")
        if rsvc is not None:
            rc = pod_connect(store, rpod, (rsvc.get("spec") or {}).get("clusterIP"), 9080)
            ratings_ok = rc.state == "ok"
            if ratings_ok and rc.via_envoy:
                count_mesh_request(req.sdir, ns, "ratings", 200, src="reviews-" + version)
    out = ['<h4 class="text-3xl font-semibold">Book Reviews</h4>']
    for who, stars, text in REVIEWS:
        out.append("<section>")
        if color and ratings_ok:
            out.append('<div class="flex gap-x-1 text-%s-500">%s%s</div>' % (color, STAR * stars, EMPTY_STAR * (5 - stars)))
        elif color:
            out.append('<p class="text-red-500">Ratings service is currently unavailable</p>')
        out.append('<blockquote><p>"%s"</p></blockquote>\n<div class="font-semibold text-gray-900">%s</div>\n'
                   '<div class="mt-0.5 text-gray-600 font-mono">Reviews served by: \n%s\n</div>\n</section>'
                   % (text, who, (rpod.get("metadata") or {}).get("name")))
    return "\n".join(out)


def _dashboard(req, who):
    if req.route.startswith("/api/"):
        return _json(200, {"listMeta": {"totalItems": 0}, "items": []})
    return _page("Kubernetes Dashboard", "<kd-root>Kubernetes Dashboard</kd-root>", who)


KNOWN_APPS = {("kiali", 20001): _kiali, ("grafana", 3000): _grafana, ("jaeger", 16686): _jaeger,
              ("prometheus", 9090): _prometheus, ("productpage", 9080): _productpage,
              ("kubernetes-dashboard", 9090): _dashboard}


def _generic(ns, name, port):
    def answer(req, who):
        return _page("%s/%s" % (ns, name), "<h1>%s/%s</h1>\n<p>port %d, path %s</p>" % (ns, name, port, req.route), who)
    return answer


# --- the Istio ingress gateway -------------------------------------------------------

def _host_match(pattern, host):
    pattern = (pattern or "").lower()
    host = (host or "").lower()
    if "/" in pattern:   # Gateway server hosts may be "ns/host" or "./host"
        pattern = pattern.split("/", 1)[1]
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return pattern == host or pattern.split(".")[0] == host


def _str_match(m, value):
    if not isinstance(m, dict):
        return True
    if value is None:
        return False
    if "exact" in m:
        return value == m["exact"]
    if "prefix" in m:
        return value.startswith(m["prefix"])
    if "regex" in m:
        return re.fullmatch(m["regex"], value) is not None
    return True


def _http_match(matches, req):
    if not matches:
        return True
    for m in matches:
        if "uri" in m and not _str_match(m["uri"], req.route):
            continue
        if "method" in m and not _str_match(m["method"], req.method):
            continue
        if any(not _str_match(v, req.headers.get(k)) for k, v in (m.get("headers") or {}).items()):
            continue
        return m
    return None


def gateway_servers(store, gw_pod, port):
    """The Gateway servers (HTTP) that make this gateway pod listen on its container port."""
    labels = (gw_pod.get("metadata") or {}).get("labels") or {}
    wanted = {port, {8080: 80, 8443: 443}.get(port, port)}
    out = []
    gw_r = store.resource_for_kind("networking.istio.io/v1", "Gateway")
    if gw_r is None:
        return out
    for gw in store.list(gw_r):
        sel = (gw.get("spec") or {}).get("selector") or {}
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            continue
        for srv in (gw.get("spec") or {}).get("servers") or []:
            p = srv.get("port") or {}
            if p.get("number") in wanted and str(p.get("protocol", "HTTP")).upper() in ("HTTP", "HTTP2", "GRPC"):
                out.append((gw, srv))
    return out


def _resolve_host(host, default_ns):
    parts = host.split(".")
    if len(parts) >= 2 and parts[1] != "svc":
        return parts[1], parts[0]
    return default_ns, parts[0]


def _subset_labels(store, ns, svc_name, subset):
    dr_r = store.resource_for_kind("networking.istio.io/v1", "DestinationRule")
    if dr_r is None or not subset:
        return {}
    for dr in store.list(dr_r, ns):
        spec = dr.get("spec") or {}
        if _resolve_host(spec.get("host", ""), ns) != (ns, svc_name):
            continue
        for s in spec.get("subsets") or []:
            if s.get("name") == subset:
                return s.get("labels") or {}
    return None


def gateway_answer(store, gw_pod, port, req, sdir):
    """Envoy in the ingress gateway: Gateway + VirtualService routing to the destination's pods."""
    servers = gateway_servers(store, gw_pod, port)
    host = req.host
    vs_r = store.resource_for_kind("networking.istio.io/v1", "VirtualService")
    envoy = "istio-envoy"
    for gw, srv in servers:
        if not any(_host_match(h, host) for h in srv.get("hosts") or ["*"]):
            continue
        gmd = gw.get("metadata") or {}
        refs = {"%s/%s" % (gmd.get("namespace"), gmd.get("name"))}
        for vs in (store.list(vs_r) if vs_r else []):
            spec = vs.get("spec") or {}
            vns = (vs.get("metadata") or {}).get("namespace")
            gws = {g if "/" in g else "%s/%s" % (vns, g) for g in spec.get("gateways") or []}
            if not gws & refs or not any(_host_match(h, host) for h in spec.get("hosts") or []):
                continue
            for route in spec.get("http") or []:
                m = _http_match(route.get("match"), req)
                if m is None:
                    continue
                if route.get("redirect"):
                    rd = route["redirect"]
                    return Resp(rd.get("redirectCode", 301), b"", headers=[("Location", rd.get("uri", "/"))], server=envoy)
                if route.get("directResponse"):
                    dr = route["directResponse"]
                    return Resp(dr.get("status", 200), ((dr.get("body") or {}).get("string") or ""), "text/plain", server=envoy)
                dests = route.get("route") or []
                if not dests:
                    return Resp(404, b"", "text/plain", server=envoy)
                dest = _weighted(dests).get("destination") or {}
                dns_, dname = _resolve_host(dest.get("host", ""), vns)
                path = req.path
                rw = (route.get("rewrite") or {}).get("uri")
                if rw is not None and isinstance(m, dict) and "prefix" in (m.get("uri") or {}):
                    path = rw + path[len(m["uri"]["prefix"]):]
                elif rw is not None:
                    path = rw
                svc = store.get(SVC_R, dns_, dname)
                if svc is None:
                    return Resp(503, b"", "text/plain", server=envoy)
                sports = (svc.get("spec") or {}).get("ports") or []
                dport = (dest.get("port") or {}).get("number") or (sports[0].get("port") if len(sports) == 1 else None)
                sub = _subset_labels(store, dns_, dname, dest.get("subset"))
                eps = [p for p in service_endpoints(store, svc)
                       if sub is not None and all(((p.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in sub.items())]
                if not eps or dport is None:
                    return Resp(503, "no healthy upstream", "text/plain", server=envoy)
                pod = _random.choice(eps)
                tport, _e = service_target_port(svc, dport, pod)
                inner = pod_answer(store, dns_, dname, pod, tport, Req(req.method, path, req.headers), sdir) if tport else None
                count_mesh_request(sdir, dns_, dname, inner.status if inner is not None else 503, src="istio-ingressgateway")
                if inner is None:
                    return Resp(503, "upstream connect error or disconnect/reset before headers. reset reason: "
                                     "connection failure", "text/plain", server=envoy)
                inner.server = envoy
                inner.headers.append(("x-envoy-upstream-service-time", "3"))
                return inner
    return Resp(404, b"", "text/plain", server=envoy)


def _gateway_health(req, who):
    if req.route == "/healthz/ready":
        return Resp(200, b"", "text/plain", server="envoy")
    return Resp(404, b"", "text/plain", server="envoy")


def pod_listener(store, pod, port):
    """Whether something listens on pod:port, as the function that answers there (or None)."""
    if pod is None or not pod_is_ready(pod):
        return None
    app = app_of(pod)
    if app == "istio-ingressgateway":
        if port == 15021:
            return _gateway_health
        if gateway_servers(store, pod, port):
            return "gateway"
        return None
    fn = KNOWN_APPS.get((app, port))
    if fn is not None:
        return fn
    by_image = image_listener(pod, port)
    if by_image is not None:
        return by_image or None
    declared = [int(cp.get("containerPort", 0)) for cp in declared_ports(pod)]
    if declared and port not in declared:
        return None
    return "generic"


def _image_repo(image):
    repo = (image or "").split("@", 1)[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[:len(repo) - len(last)] + last.split(":", 1)[0]
    return repo


def _flag(argv, name, default):
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return default


def _netexec(req, who):
    """agnhost netexec's HTTP handlers (kubernetes test/images/agnhost/netexec/netexec.go)."""
    r = req.route
    q = urllib_parse_qs(req.path.split("?", 1)[1] if "?" in req.path else "")
    pod = req.pod or {}
    if r == "/":
        # The real one answers "NOW: <Go time.Now()>"; the world keeps its generic page here
        # (it names namespace/workload, which tests/fidelity.rs looks for).
        md_ = pod.get("metadata") or {}
        return _generic(md_.get("namespace"), app_of(pod) or md_.get("name"), 8080)(req, who)
    if r in ("/hostname", "/hostName"):
        return _text(200, (pod.get("metadata") or {}).get("name", ""))
    if r == "/echo":
        return _text(200, (q.get("msg") or [""])[0])
    if r == "/healthz":
        return _text(200, "")
    if r == "/clientip":
        return _text(200, "%s:%d" % (getattr(req, "client_ip", None) or "10.244.0.1", 40000 + os.getpid() % 20000))
    return _text(404, "404 page not found\n")


def _nginx(req, who):
    if req.route in ("/", "/index.html"):
        return _page("Welcome to nginx!", "<h1>Welcome to nginx!</h1>\n<!-- %s -->" % who, who)
    return Resp(404, "<html>\n<head><title>404 Not Found</title></head>\n<body>\n<center><h1>404 Not Found</h1>"
                     "</center>\n<hr><center>nginx</center>\n</body>\n</html>\n")


def image_listener(pod, port):
    """What listens on port, judged by the containers' images and commands: the answering
    function, False when these containers are known to listen elsewhere (or nowhere), None
    when no container's image is known here. agnhost (ENTRYPOINT /agnhost, CMD pause):
    `netexec` serves HTTP on --http-port (8080), `serve-hostname` on --port (9376), `pause`
    nothing; busybox/alpine/curl images running a command (sleep, a shell) nothing; nginx port 80."""
    known = False
    for c in ((pod.get("spec") or {}).get("containers") or []):
        repo = _image_repo(c.get("image"))
        argv = [str(x) for x in (c.get("command") or []) + (c.get("args") or [])]
        if repo.endswith("e2e-test-images/agnhost"):
            known = True
            sub = [a for a in argv if not a.startswith("/agnhost") and a != "agnhost" and not a.startswith("-")]
            sub = sub[0] if sub else "pause"
            if sub == "netexec" and port == int(_flag(argv, "--http-port", "8080")):
                return _netexec
            if sub == "serve-hostname" and port == int(_flag(argv, "--port", "9376")):
                return lambda req, who: _text(200, ((req.pod or {}).get("metadata") or {}).get("name", ""))
            continue
        if repo.rsplit("/", 1)[-1] in ("busybox", "alpine", "curl") and argv:
            known = True
            continue
        if repo.rsplit("/", 1)[-1] == "nginx":
            known = True
            if port == 80:
                return _nginx
    return False if known else None


def pod_answer(store, ns, name, pod, port, req, sdir=None):
    """The HTTP response of pod:port to req (name: the Service or workload asked for),
    or None when nothing listens there (the connection is refused/reset)."""
    fn = pod_listener(store, pod, port)
    if fn is None:
        return None
    pname = (pod.get("metadata") or {}).get("name")
    who = "%s/%s pod %s port %d" % (ns, name, pname, port)
    if fn == "gateway":
        return gateway_answer(store, pod, port, req, sdir)
    if fn == "generic":
        fn = _generic(ns, name, port)
    req.store, req.pod = store, pod
    if req.sdir is None:
        req.sdir = sdir or getattr(store, "sdir", None)
    return fn(req, who)


# --- HTTP plumbing -------------------------------------------------------------------

def join_host_port(host, port):
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def go_listen_error(proto, host, port, exc):
    """Go's net.Listen error text: 'listen tcp4 127.0.0.1:80: bind: address already in use'."""
    import errno
    msg = {errno.EADDRINUSE: "address already in use", errno.EACCES: "permission denied",
           errno.EADDRNOTAVAIL: "cannot assign requested address"}.get(exc.errno) or os.strerror(exc.errno or 0).lower()
    return "listen %s %s: bind: %s" % (proto, join_host_port(host, port), msg)


def http_handler(answer, on_connect=None):
    """A BaseHTTPRequestHandler class: answer(req) -> Resp, or None to reset the connection;
    on_connect(handler) runs once per TCP connection and may return False to reset it."""
    import socket
    import struct
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reset(self):
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close_connection = True

        def handle(self):
            if on_connect is not None and on_connect(self) is False:
                self._reset()
                return
            try:
                super().handle()
            except (ConnectionError, OSError):
                pass

        def _serve(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            resp = answer(Req(self.command, self.path, self.headers))
            if resp is None:
                self._reset()
                return
            self.send_response_only(resp.status)
            if resp.server:
                self.send_header("Server", resp.server)
            self.send_header("Date", self.date_time_string())
            self.send_header("Content-Type", resp.ctype)
            self.send_header("Content-Length", str(len(resp.body)))
            for k, v in resp.headers:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

        def log_message(self, *a):
            pass

    return Handler


def http_server(host, port, handler):
    """A ThreadingHTTPServer bound to host:port (IPv6 only for an IPv6 host); OSError if it cannot bind."""
    import socket
    import socketserver
    from http.server import ThreadingHTTPServer

    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class Server(ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

        def server_bind(self):
            if family == socket.AF_INET6:
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            socketserver.TCPServer.server_bind(self)   # not HTTPServer's: no getfqdn (DNS) lookup
            self.server_name = host
            self.server_port = self.server_address[1]

    return Server((host, port), handler)


def serve_in_thread(server):
    import threading
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    return t


# ----------------------------------------------------------------------------- pod network
#
# What a pod sees of the cluster's network, for `kubectl exec` probes (kubectl stand-in's
# pod tools: agnhost connect, curl, wget, nslookup, getent). Decided from the objects in the
# store, per connection, with no real packets:
#   * DNS (CoreDNS as minikube deploys it, kubernetes.io/docs/concepts/services-networking/
#     dns-pod-service): a pod's resolv.conf is `search NS.svc.cluster.local svc.cluster.local
#     cluster.local`, `nameserver 10.96.0.10`, `options ndots:5` (dnsPolicy ClusterFirst), so a
#     name with fewer than 5 dots is tried with each search suffix first. SVC.NS.svc.cluster.local
#     -> the Service's ClusterIP (a headless Service: its ready pods' IPs); A-B-C-D.NS.pod.
#     cluster.local -> that address; host.minikube.internal -> 192.168.49.1 (minikube adds it to
#     CoreDNS's Corefile `hosts` block); other cluster.local names -> NXDOMAIN; anything else is
#     forwarded to the node's resolver: SERVFAIL when the node's DNS is broken (the node's
#     resolv.conf, see the minikube stand-in), else a made-up 203.0.113.0/24 address (the same
#     one the node-bin getent/nslookup give). Reaching CoreDNS is itself a connection (UDP 53
#     to a ready kube-dns pod) subject to NetworkPolicy: a pod whose egress does not allow it
#     gets no answer at all (the client times out), as does every pod when CoreDNS has no
#     ready pod.
#   * Services: ClusterIP:port -> one ready endpoint picked at random (kube-proxy/Cilium pick
#     a random backend per connection), port -> targetPort (named ports via the pod's
#     containerPorts). A ClusterIP with no ready endpoint, or a port the Service does not
#     have: refused (Cilium's --service-no-backend-response defaults to reject, an ICMP
#     unreachable, since v1.16).
#   * NetworkPolicy (networking.k8s.io/v1; API reference and
#     kubernetes.io/docs/concepts/services-networking/network-policies): a pod is isolated for
#     ingress (egress) once any policy in its namespace whose podSelector selects it has that
#     policyType; policyTypes defaults to ["Ingress"] plus "Egress" when the policy has an
#     egress section. An isolated direction allows only what the union of the selecting
#     policies' rules allows: a rule with no from/to allows every peer, with no ports every
#     port; peers are podSelector (the policy's namespace), namespaceSelector (matchLabels /
#     matchExpressions on the namespace's labels, kubernetes.io/metadata.name among them),
#     both (AND), or ipBlock (cidr minus except). Ports: protocol (default TCP), number or
#     named port (resolved on the destination pod), endPort. Both ends must allow: egress of
#     the client and ingress of the server. Following Cilium (docs.cilium.io, "Layer 3
#     policies: IP/CIDR based": CIDR rules do not select in-cluster endpoints), ipBlock never
#     matches a pod's address. Egress is checked after the Service translation (against
#     the backend pod and targetPort), as Cilium and kube-proxy do. A connection the policy
#     drops times out (Cilium drops the SYN); enforcement needs a CNI that enforces
#     policies: Cilium or Calico (`minikube start --cni`); minikube's default bridge/kindnet
#     CNI ignores them, and so does a world whose host has `netpol=off` in
#     /etc/labprov-world.conf (`tests/world/start --no-netpol`).
#   * Listeners: what answers HTTP in a pod is the "web" section above (a pod listens only
#     while Ready); nothing listening -> refused. Outside the cluster: 192.168.49.1 (the VM,
#     host.minikube.internal) answers on 22 (sshd), 192.168.49.2 (the node) on 22, 8443,
#     10250; 203.0.113.0/24 ("the internet") answers HTTP on 80 and 443; any other address
#     times out (no route from this world).
#   * Istio (istio.io/latest/docs/reference/config/security/peer_authentication/ and
#     .../networking/virtual-service/): a client with a sidecar routes by the VirtualServices
#     that apply to the mesh (no `gateways`, or `mesh` in it) for the destination's host:
#     first matching http route, one destination per request chosen at random by weight
#     (Envoy weighted clusters), a subset's labels from the DestinationRule; without one, a
#     random endpoint. A server with a sidecar gets the PeerAuthentication mode that applies
#     to it: the workload's (selector matches its labels; portLevelMtls by target port) over
#     the namespace's (no selector) over the mesh's (no selector, in istio-system); UNSET
#     inherits; default PERMISSIVE. STRICT refuses plaintext: a client without a sidecar gets
#     its TCP connection accepted (by the server's Envoy) and reset as soon as it sends data
#     (curl: exit 56, "Recv failure: Connection reset by peer"; agnhost connect, which sends
#     nothing, succeeds). A client with a sidecar always speaks mTLS to a sidecar (auto mTLS);
#     its own outgoing connections end at its Envoy (see pod_connect): HTTP 503 instead of a
#     refused or dropped connection to a Service.
#   * Requests that went through an Envoy (a sidecar or the ingress gateway) are counted in
#     <state>/mesh-requests.json, which Prometheus's /api/v1/query?query=istio_requests_total
#     answers from while Prometheus's pod is Ready.
# Left out: UDP/SCTP payloads, named ports on the client side, policy logging, Cilium's own
# CiliumNetworkPolicy, node-local traffic exceptions, IPv6, Istio AuthorizationPolicy,
# Sidecar resources, retries/timeouts/fault injection of VirtualServices, locality.


POD_CIDR = "10.244.0.0/16"
KUBE_DNS_IP = "10.96.0.10"
HOST_GATEWAY_IP = "192.168.49.1"
INTERNET_NET = "203.0.113.0/24"
# Addresses outside the pod network that answer, and on which TCP ports.
OUTSIDE_LISTENERS = {HOST_GATEWAY_IP: {22}, CLUSTER_IP: {22, 8443, 10250}}
NS_R = Resource(*BUILTIN_RESOURCES[0])


def netpol_enforced(store):
    """Whether the cluster's CNI enforces NetworkPolicy (Cilium, Calico) and the world lets it."""
    if world_conf().get("netpol", "on") == "off":
        return False
    cluster = load_cluster(store.sdir) or {}
    cni = ((cluster.get("Config") or {}).get("KubernetesConfig") or {}).get("CNI", "")
    return cni in ("cilium", "calico")


def label_selector_matches(sel, labels):
    """metav1.LabelSelector: matchLabels AND matchExpressions (In, NotIn, Exists,
    DoesNotExist); an empty selector matches everything, a null one (None) nothing."""
    if sel is None:
        return False
    labels = labels or {}
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def pod_ip_of(pod):
    return ((pod or {}).get("status") or {}).get("podIP")


def pod_by_ip(store, ip):
    for p in store.list(POD_R):
        if pod_ip_of(p) == ip:
            return p
    return None


def is_gateway(pod):
    return ((pod or {}).get("metadata") or {}).get("labels", {}).get("istio") in ("ingressgateway", "egressgateway")


def pod_has_sidecar(pod):
    """An injected istio-proxy (a gateway's own Envoy container has that name too, but a gateway
    is no sidecar: PeerAuthentication and mesh routing do not apply to its listeners)."""
    if is_gateway(pod):
        return False
    spec = (pod or {}).get("spec") or {}
    return any(c.get("name") == "istio-proxy" for c in (spec.get("initContainers") or []) + (spec.get("containers") or []))


def _ns_labels(store, ns):
    o = store.get(NS_R, "", ns) or {}
    return (o.get("metadata") or {}).get("labels") or {"kubernetes.io/metadata.name": ns}


def _policy_types(pol):
    spec = pol.get("spec") or {}
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress"] + (["Egress"] if "egress" in spec else [])


def _policies_selecting(store, pod, direction):
    r = store.resource_for_kind("networking.k8s.io/v1", "NetworkPolicy")
    if r is None:
        return []
    md = pod.get("metadata") or {}
    return [pol for pol in store.list(r, md.get("namespace"))
            if direction in _policy_types(pol)
            and label_selector_matches((pol.get("spec") or {}).get("podSelector") or {}, md.get("labels"))]


def _in_ipblock(block, ip):
    try:
        a = _ip.ip_address(ip)
        if a not in _ip.ip_network(block.get("cidr", ""), strict=False):
            return False
        return not any(a in _ip.ip_network(x, strict=False) for x in block.get("except") or [])
    except ValueError:
        return False


def _peer_matches(store, pol_ns, peer, other_pod, other_ip):
    if "ipBlock" in peer:
        return other_pod is None and _in_ipblock(peer["ipBlock"] or {}, other_ip)
    if other_pod is None:
        return False
    omd = other_pod.get("metadata") or {}
    if "namespaceSelector" in peer:
        if not label_selector_matches(peer.get("namespaceSelector") or {}, _ns_labels(store, omd.get("namespace"))):
            return False
    elif omd.get("namespace") != pol_ns:
        return False
    if "podSelector" in peer:
        return label_selector_matches(peer.get("podSelector") or {}, omd.get("labels"))
    return True


def _port_matches(rule_port, proto, port, dst_pod):
    if (rule_port.get("protocol") or "TCP") != proto:
        return False
    p = rule_port.get("port")
    if p is None:
        return True
    if isinstance(p, str) and not p.isdigit():
        named = None
        for c in ((dst_pod or {}).get("spec") or {}).get("containers") or []:
            for cp in c.get("ports") or []:
                if cp.get("name") == p and (cp.get("protocol") or "TCP") == proto:
                    named = int(cp.get("containerPort"))
        return named == port
    lo = int(p)
    hi = int(rule_port.get("endPort") or lo)
    return lo <= port <= hi


def _direction_allows(store, pod, direction, other_pod, other_ip, proto, port, dst_pod):
    pols = _policies_selecting(store, pod, direction)
    if not pols:
        return True
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for pol in pols:
        pns = (pol.get("metadata") or {}).get("namespace")
        for rule in (pol.get("spec") or {}).get(key) or []:
            peers = rule.get(peers_key)
            if peers and not any(_peer_matches(store, pns, pe or {}, other_pod, other_ip) for pe in peers):
                continue
            ports = rule.get("ports")
            if ports and not any(_port_matches(rp or {}, proto, port, dst_pod) for rp in ports):
                continue
            return True
    return False


def policy_allows(store, src_pod, dst_pod, dst_ip, proto, port):
    """Whether NetworkPolicy lets src_pod reach dst (a pod, or an outside address) on proto/port."""
    if not netpol_enforced(store):
        return True
    src_ip = pod_ip_of(src_pod)
    if not _direction_allows(store, src_pod, "Egress", dst_pod, dst_ip, proto, port, dst_pod):
        return False
    if dst_pod is not None and not _direction_allows(store, dst_pod, "Ingress", src_pod, src_ip, proto, port, dst_pod):
        return False
    return True


# --- DNS -----------------------------------------------------------------------------

def pod_resolv_conf(ns):
    return ("search %s.svc.cluster.local svc.cluster.local cluster.local\nnameserver %s\noptions ndots:5\n"
            % (ns, KUBE_DNS_IP))


def _node_dns_broken(store):
    # the node's resolver, as the minikube stand-in writes it (a nameserver in 10.0.0.0/8 never answers)
    try:
        with open(os.path.join(store.sdir, "node", "etc", "resolv.conf"), encoding="utf-8") as f:
            for line in f:
                p = line.split()
                if len(p) >= 2 and p[0] == "nameserver":
                    return _ip.ip_address(p[1]) in _ip.ip_network("10.0.0.0/8")
    except (OSError, ValueError):
        pass
    return False


def internet_address(name):
    return "203.0.113.%d" % (int(hashlib.sha256(name.lower().encode()).hexdigest(), 16) % 254 + 1)


def dns_reachable(store, src_pod):
    """Whether src_pod gets answers from CoreDNS: a ready kube-dns pod reachable on UDP 53."""
    for p in store.list(POD_R, "kube-system"):
        if ((p.get("metadata") or {}).get("labels") or {}).get("k8s-app") != "kube-dns" or not pod_is_ready(p):
            continue
        if policy_allows(store, src_pod, p, pod_ip_of(p), "UDP", 53):
            return True
    return False


def _lookup_fqdn(store, fqdn):
    """One query to CoreDNS: ("ok", [ips]) | ("nxdomain", []) | ("servfail", [])."""
    n = fqdn.rstrip(".").lower()
    if n == "host.minikube.internal":
        return "ok", [HOST_GATEWAY_IP]
    if n.endswith(".cluster.local") or n == "cluster.local":
        parts = n[:-len(".cluster.local")].split(".") if n != "cluster.local" else []
        if len(parts) == 3 and parts[2] == "svc":
            svc = store.get(SVC_R, parts[1], parts[0])
            if svc is None:
                return "nxdomain", []
            cip = (svc.get("spec") or {}).get("clusterIP")
            if cip and cip != "None":
                return "ok", [cip]
            ips = [pod_ip_of(p) for p in service_endpoints(store, svc)]
            return ("ok", ips) if ips else ("nxdomain", [])
        if len(parts) == 3 and parts[2] == "pod":
            ip = parts[0].replace("-", ".")
            try:
                _ip.ip_address(ip)
                return "ok", [ip]
            except ValueError:
                return "nxdomain", []
        return "nxdomain", []
    if "." not in n:
        return "nxdomain", []
    if _node_dns_broken(store):
        return "servfail", []
    return "ok", [internet_address(n)]


def search_candidates(name, ns):
    if name.endswith("."):
        return [name]
    suffixes = ["%s.svc.cluster.local" % ns, "svc.cluster.local", "cluster.local"]
    with_search = ["%s.%s" % (name, s) for s in suffixes]
    return with_search + [name] if name.count(".") < 5 else [name] + with_search


def pod_resolve(store, src_pod, name):
    """A pod's resolver (search list, ndots:5): ("ok", fqdn, [ips]) | ("nxdomain", name, [])
    | ("servfail", name, []) | ("timeout", name, []) when CoreDNS cannot be reached."""
    try:
        _ip.ip_address(name)
        return "ok", name, [name]
    except ValueError:
        pass
    if name.lower() in ("localhost", "localhost."):
        return "ok", "localhost", ["127.0.0.1"]
    hosts_name = ((src_pod.get("metadata") or {}).get("name") or "").lower()
    if name.lower().rstrip(".") == hosts_name:   # the pod's /etc/hosts (kubelet writes it)
        return "ok", hosts_name, [pod_ip_of(src_pod)]
    if not dns_reachable(store, src_pod):
        return "timeout", name, []
    ns = (src_pod.get("metadata") or {}).get("namespace") or "default"
    worst = "nxdomain"
    for cand in search_candidates(name, ns):
        st, ips = _lookup_fqdn(store, cand)
        if st == "ok":
            return "ok", cand.rstrip("."), ips
        if st == "servfail":
            worst = "servfail"
    return worst, name, []


def pod_dns_timeout():
    """Seconds a pod's resolver waits for an unreachable CoreDNS: resolv.conf's default
    `timeout:5` (glibc and musl); the world knob pod_dns_timeout=S shortens it for tests."""
    try:
        return max(0.0, float(world_conf().get("pod_dns_timeout", "5")))
    except ValueError:
        return 5.0


# --- connections ---------------------------------------------------------------------

class PodConn:
    """Where a pod's TCP connection ends up: state is "ok", "refused", "timeout", "reset"
    (accepted, then reset when data is sent) or "envoy" (see pod_connect); for "ok"/"reset" to a pod, the pod, the port it
    listens on and the Service (name) asked for."""

    def __init__(self, state, pod=None, port=None, svc=None, ns=None, via_envoy=False, outside=None,
                 resp=None, delay=0.0, no_endpoint=False):
        # state "envoy": the client's sidecar accepted the connection; resp is Envoy's own
        # answer (None: it closes the connection) after delay seconds
        self.state = state
        self.resp = resp
        self.delay = delay
        self.no_endpoint = no_endpoint
        self.pod = pod
        self.port = port
        self.svc = svc
        self.ns = ns
        self.via_envoy = via_envoy
        self.outside = outside


def _service_for_ip(store, ip):
    for s in store.list(SVC_R):
        if (s.get("spec") or {}).get("clusterIP") == ip:
            return s
    return None


def _vs_applies_to_mesh(vs):
    gws = (vs.get("spec") or {}).get("gateways")
    return not gws or "mesh" in gws


def _weighted(dests):
    total = sum(int(d.get("weight", 0) or 0) for d in dests)
    if len(dests) == 1 or total <= 0:
        return dests[0]
    x = _random.uniform(0, total)
    acc = 0
    for d in dests:
        acc += int(d.get("weight", 0) or 0)
        if x < acc:
            return d
    return dests[-1]


def vs_destination(store, vs_list, host_ns, host_name, req):
    """The first matching http route of the VirtualServices for host; one destination chosen
    at random by weight: (destination dict, route) or (None, None) when no VS applies."""
    for vs in vs_list:
        spec = vs.get("spec") or {}
        vns = (vs.get("metadata") or {}).get("namespace")
        if not any(_resolve_host(h, vns) == (host_ns, host_name) for h in spec.get("hosts") or []):
            continue
        for route in spec.get("http") or []:
            m = _http_match(route.get("match"), req) if req is not None else (None if route.get("match") else True)
            if m is None:
                continue
            dests = route.get("route") or []
            if not dests:
                return None, route
            return _weighted(dests), route
    return None, None


def mesh_endpoint(store, src_pod, svc, req=None):
    """The ready pod a request from src_pod to svc lands on: VirtualService routing when the
    client has a sidecar, else a random endpoint. None when there is none."""
    smd = svc.get("metadata") or {}
    eps = service_endpoints(store, svc)
    if src_pod is not None and pod_has_sidecar(src_pod):
        vs_r = store.resource_for_kind("networking.istio.io/v1", "VirtualService")
        vss = [v for v in (store.list(vs_r) if vs_r else []) if _vs_applies_to_mesh(v)]
        dest, _route = vs_destination(store, vss, smd.get("namespace"), smd.get("name"), req)
        if dest is not None:
            d = dest.get("destination") or {}
            sub = _subset_labels(store, smd.get("namespace"), smd.get("name"), d.get("subset"))
            eps = [p for p in eps if sub is not None
                   and all(((p.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in sub.items())]
    return _random.choice(eps) if eps else None


def peer_auth_mode(store, pod, port):
    """The PeerAuthentication mode for pod:port (STRICT, PERMISSIVE or DISABLE)."""
    r = store.resource_for_kind("security.istio.io/v1", "PeerAuthentication") or \
        store.resource_for_kind("security.istio.io/v1beta1", "PeerAuthentication")
    if r is None:
        return "PERMISSIVE"
    md = pod.get("metadata") or {}
    labels = md.get("labels") or {}
    workload, namespace, mesh = None, None, None
    for pa in store.list(r):
        spec = pa.get("spec") or {}
        pns = (pa.get("metadata") or {}).get("namespace")
        sel = (spec.get("selector") or {}).get("matchLabels")
        if sel and pns == md.get("namespace"):
            if all(labels.get(k) == v for k, v in sel.items()):
                workload = spec
        elif not sel and pns == md.get("namespace"):
            namespace = spec
        elif not sel and pns == "istio-system":
            mesh = spec
    mode = "PERMISSIVE"
    for spec in (mesh, namespace, workload):
        if spec is None:
            continue
        m = ((spec.get("mtls") or {}).get("mode") or "UNSET").upper()
        if spec is workload:
            pl = (spec.get("portLevelMtls") or {}).get(str(port)) or (spec.get("portLevelMtls") or {}).get(port)
            if pl and (pl.get("mode") or "UNSET").upper() != "UNSET":
                m = pl["mode"].upper()
        if m != "UNSET":
            mode = m
    return mode


# Istio's outbound capture (istio-iptables redirects a sidecar pod's outgoing TCP to its
# Envoy): the client's own connect always succeeds (to the local Envoy); for a Service port
# Envoy proxies HTTP, so an upstream failure becomes an HTTP 503 from Envoy ("no healthy
# upstream" without endpoints, "upstream connect error or disconnect/reset before headers.
# reset reason: connection failure|connection timeout" after its connect timeout, 10 s by
# default); for other destinations (passthrough) the client's connection is closed (curl 52
# "Empty reply from server"). istio.io/latest/docs/ops/common-problems/network-issues/ and
# Envoy's response flags (UH, UF).
ENVOY_CONNECT_TIMEOUT = 10.0


def pod_connect(store, src_pod, ip, port, proto="TCP", req=None):
    """A TCP connection from src_pod to ip:port, as a PodConn; through the client's sidecar
    (if it has one) as Envoy turns it (see ENVOY_CONNECT_TIMEOUT above)."""
    c = _pod_connect(store, src_pod, ip, port, proto, req)
    if not pod_has_sidecar(src_pod) or c.state not in ("refused", "timeout"):
        return c
    svc = _service_for_ip(store, ip)
    delay = ENVOY_CONNECT_TIMEOUT if c.state == "timeout" else 0.0
    if svc is None:
        return PodConn("envoy", delay=delay)
    if c.no_endpoint:
        body = "no healthy upstream"
    else:
        body = "upstream connect error or disconnect/reset before headers. reset reason: connection %s" \
               % ("timeout" if c.state == "timeout" else "failure")
    smd = svc.get("metadata") or {}
    return PodConn("envoy", resp=Resp(503, body, "text/plain", server="envoy"), delay=delay,
                   svc=smd.get("name"), ns=smd.get("namespace"), via_envoy=True)


def _pod_connect(store, src_pod, ip, port, proto="TCP", req=None):
    svc = _service_for_ip(store, ip)
    via_envoy = pod_has_sidecar(src_pod)
    if svc is not None:
        smd = svc.get("metadata") or {}
        sp = [p for p in (svc.get("spec") or {}).get("ports") or []
              if int(p.get("port", 0)) == port and (p.get("protocol") or "TCP") == proto]
        if not sp:
            return PodConn("refused")
        pod = mesh_endpoint(store, src_pod, svc, req)
        if pod is None:
            return PodConn("refused", no_endpoint=True)
        tport, _e = service_target_port(svc, port, pod)
        if tport is None:
            return PodConn("refused")
        name, ns = smd.get("name"), smd.get("namespace")
    else:
        pod = pod_by_ip(store, ip)
        if pod is None:
            if not policy_allows(store, src_pod, None, ip, proto, port):
                return PodConn("timeout")
            try:
                inside = _ip.ip_address(ip) in _ip.ip_network(POD_CIDR) or _ip.ip_address(ip) in _ip.ip_network(SERVICE_CIDR)
            except ValueError:
                inside = False
            if inside:
                return PodConn("timeout")
            if port in OUTSIDE_LISTENERS.get(ip, set()):
                return PodConn("ok", outside=ip, port=port)
            try:
                if _ip.ip_address(ip) in _ip.ip_network(INTERNET_NET) and port in (80, 443):
                    return PodConn("ok", outside=ip, port=port)
            except ValueError:
                pass
            return PodConn("refused" if ip in OUTSIDE_LISTENERS else "timeout")
        tport = port
        name, ns = app_of(pod) or (pod.get("metadata") or {}).get("name"), (pod.get("metadata") or {}).get("namespace")
    if not policy_allows(store, src_pod, pod, pod_ip_of(pod), proto, tport):
        return PodConn("timeout")
    if pod_listener(store, pod, tport) is None:
        return PodConn("refused")
    if pod_has_sidecar(pod) and not via_envoy and peer_auth_mode(store, pod, tport) == "STRICT":
        return PodConn("reset", pod=pod, port=tport, svc=name, ns=ns)
    return PodConn("ok", pod=pod, port=tport, svc=name, ns=ns, via_envoy=via_envoy or pod_has_sidecar(pod))


# --- the request counter Prometheus reports --------------------------------------------

MESH_REQUESTS = "mesh-requests.json"


def count_mesh_request(sdir, dst_ns, dst_svc, code, src="unknown"):
    """Count one request an Envoy saw (istio_requests_total's labels, a few of them)."""
    if not sdir:
        return
    path = os.path.join(sdir, MESH_REQUESTS)
    try:
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = read_json(path, {}) or {}
        key = "%s|%s.%s.svc.cluster.local|%s" % (src, dst_svc, dst_ns, code)
        data[key] = int(data.get(key, 0)) + 1
        atomic_write_json(path, data)
    finally:
        os.close(fd)


def mesh_request_series(sdir):
    data = read_json(os.path.join(sdir, MESH_REQUESTS), {}) if sdir else {}
    out = []
    for key, n in sorted((data or {}).items()):
        src, dst, code = key.split("|")
        out.append({"metric": {"__name__": "istio_requests_total", "destination_service": dst,
                               "response_code": str(code), "source_workload": src, "reporter": "destination",
                               "job": "kubernetes-pods"},
                    "value": [round(time.time(), 3), str(n)]})
    return out

import sys as _sys

POD_WORLD_DIR = "/.labprov-world"

# ----------------------------------------------------------------------------- pod tools
#
# The network tools of a pod, run by the shims that the kubectl stand-in's `exec` puts on the
# pod's PATH (`python3 -c 'import _kube; _kube.pod_tool(...)' NAME ARGS...`, with this file
# copied into the pod so that its bytecode is cached across a probe loop; not logged in
# calls.log: they are the pod's programs, not kubectl calls). Every answer comes from py "pod network" (DNS, Services,
# NetworkPolicy, Istio), read from the cluster's objects at the moment of the call. Timeouts
# take their real time (the tool's own timeout, or the resolver's, see pod_dns_timeout).

def _pod_context():
    sdir = os.environ.get("LABPROV_WORLD_STATE", "")
    global WORLD_CONF
    WORLD_CONF = os.path.join(POD_WORLD_DIR, "world.conf")
    store = Store(sdir)
    ns, _, name = os.environ.get("LABPROV_WORLD_POD", "").partition("/")
    pod = store.get(POD_R, ns, name)
    if pod is None:   # deleted while the command runs: its network is gone
        _sys.stderr.write("labprov-world: pod %s/%s is gone\n" % (ns, name))
        raise SystemExit(1)
    return sdir, store, pod


def _go_duration(s):
    if s in (None, ""):
        return 0.0
    if not re.fullmatch(r"([0-9.]+(ns|us|µs|ms|s|m|h))+|0", s):
        raise ValueError('time: invalid duration "%s"' % s)
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", s):
        total += float(num) * {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def tool_agnhost(args):
    """agnhost connect HOST:PORT [--timeout D] [--protocol tcp] (kubernetes test/images/agnhost/
    connect/connect.go): exit 0 when connected; else one line on stderr, exit 1:
    "UNKNOWN: <err>" (bad host:port), "DNS: lookup X on 10.96.0.10:53: no such host" (Go's
    resolver), "TIMEOUT", "REFUSED", "OTHER: <err>". --timeout 0 (the default) means the
    OS's connect timeout; the stand-in then waits 30 s. Other agnhost subcommands are not
    modelled (exit 1, saying so)."""
    if not args or args[0] != "connect":
        _sys.stderr.write("labprov-world: agnhost %s is not modelled by the lab-world stand-in\n" % (args[0] if args else ""))
        return 1
    timeout, proto, dest = "0s", "tcp", []
    i = 1
    while i < len(args):
        a = args[i]
        if a.startswith("--timeout") or a.startswith("--protocol"):
            k, eq, v = a.partition("=")
            if not eq:
                i += 1
                v = args[i] if i < len(args) else ""
            if k == "--timeout":
                timeout = v
            else:
                proto = v
        elif a.startswith("-"):
            _sys.stderr.write('Error: unknown flag: %s\n' % a)
            return 1
        else:
            dest.append(a)
        i += 1
    if len(dest) != 1:
        _sys.stderr.write("Error: accepts 1 arg(s), received %d\n" % len(dest))
        return 1
    try:
        tmo = _go_duration(timeout)
    except ValueError as e:
        _sys.stderr.write('Error: invalid argument "%s" for "--timeout" flag: %s\n' % (timeout, e))
        return 1
    if proto not in ("", "tcp"):
        if proto in ("udp", "sctp"):
            _sys.stderr.write("labprov-world: agnhost connect --protocol=%s is not modelled\n" % proto)
        else:
            _sys.stderr.write("Unsupported protocol\n%s" % proto)
        return 1
    host, sep, port_s = dest[0].rpartition(":")
    if not sep or not port_s.isdigit():
        _sys.stderr.write("UNKNOWN: address %s: missing port in address\n" % dest[0])
        return 1
    sdir, store, pod = _pod_context()
    st, _fq, ips = pod_resolve(store, pod, host)
    if st == "timeout":
        time.sleep(pod_dns_timeout())
        _sys.stderr.write("DNS: lookup %s on %s:53: read udp %s:%d->%s:53: i/o timeout\n"
                         % (host, KUBE_DNS_IP, pod_ip_of(pod), 40000 + os.getpid() % 20000, KUBE_DNS_IP))
        return 1
    if st != "ok":
        _sys.stderr.write("DNS: lookup %s on %s:53: %s\n" % (host, KUBE_DNS_IP,
                                                          "no such host" if st == "nxdomain" else "server misbehaving"))
        return 1
    c = pod_connect(store, pod, ips[0], int(port_s))
    if c.state == "envoy":   # connected to the local Envoy
        return 0
    if c.state == "timeout":
        time.sleep(tmo if tmo > 0 else 30.0)
        _sys.stderr.write("TIMEOUT\n")
        return 1
    if c.state == "refused":
        _sys.stderr.write("REFUSED\n")
        return 1
    return 0


CURL_VALUE = {"-o", "--output", "-w", "--write-out", "-m", "--max-time", "--connect-timeout", "-H", "--header",
              "-X", "--request", "-A", "--user-agent", "-d", "--data", "--resolve", "-e", "--referer"}
CURL_BOOL = {"-s", "--silent", "-S", "--show-error", "-f", "--fail", "-I", "--head", "-v", "--verbose", "-L",
             "--location", "-k", "--insecure", "-i", "--include", "--http1.1", "-4", "--ipv4", "-q"}


def _ms(t):
    return int(t * 1000)


def tool_curl(args):
    """curl 8.x, a subset: -s -S -f -I -i -L -k -v -o FILE -w FMT (%{http_code}, %{response_code},
    %{remote_ip}, \\n) -m/--max-time S --connect-timeout S -H 'K: V' -X M, one http:// URL
    (curl's man page, "EXIT CODES", and its error strings): 6 "Could not resolve host: H",
    7 "Failed to connect to H port P after N ms: Couldn't connect to server", 28 "Connection
    timed out after N milliseconds" / "Resolving timed out after N milliseconds", 56 "Recv
    failure: Connection reset by peer", 52 "Empty reply from server", 22 with -f on HTTP >= 400 ("The requested URL returned
    error: 404"), 3 a malformed URL, 2 an unknown option ("curl: option --x: is unknown" and
    "curl: try 'curl --help' or 'curl --manual' for more information"). Errors print
    "curl: (N) MESSAGE" on stderr unless -s without -S; -w is written also on failure
    (http_code 000). Without --connect-timeout curl waits 300 s to connect (capped at 30 s
    here). https:// is not modelled (exit 1, saying so)."""
    import urllib.parse
    opts, urls = {}, []
    headers = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in CURL_VALUE or (a.startswith("--") and a.partition("=")[0] in CURL_VALUE and "=" in a):
            k, eq, v = a.partition("=")
            if not eq:
                i += 1
                if i >= len(args):
                    _sys.stderr.write("curl: option %s: requires parameter\ncurl: try 'curl --help' or 'curl --manual' "
                                     "for more information\n" % a)
                    return 2
                v = args[i]
            k = {"--output": "-o", "--write-out": "-w", "--max-time": "-m", "--header": "-H", "--request": "-X"}.get(k, k)
            if k == "-H":
                headers.append(v)
            else:
                opts[k] = v
        elif a[:2] in CURL_VALUE and len(a) > 2 and not a.startswith("--"):
            k, v = a[:2], a[2:]   # -o/dev/null, -m5: a short option's value may be attached
            if k == "-H":
                headers.append(v)
            else:
                opts[k] = v
        elif a.startswith("-") and not a.startswith("--") and len(a) > 2 and all(("-" + ch) in CURL_BOOL for ch in a[1:]):
            for ch in a[1:]:
                opts["-" + ch] = True
        elif a in CURL_BOOL:
            opts[{"--silent": "-s", "--show-error": "-S", "--fail": "-f", "--head": "-I", "--include": "-i",
                  "--location": "-L", "--insecure": "-k", "--verbose": "-v"}.get(a, a)] = True
        elif a.startswith("-") and a != "-":
            _sys.stderr.write("curl: option %s: is unknown\ncurl: try 'curl --help' or 'curl --manual' for more "
                             "information\n" % a)
            return 2
        else:
            urls.append(a)
        i += 1
    silent, show = opts.get("-s"), opts.get("-S")
    wfmt = opts.get("-w")

    def finish(code, msg, http="000", body=b"", head=b"", ip=""):
        if code == 0 or (code == 22 and body is not None):
            data = (head if (opts.get("-i") or opts.get("-I")) else b"") + (b"" if opts.get("-I") else body)
            if code == 0:
                if opts.get("-o"):
                    with open(opts["-o"], "wb") as f:
                        f.write(data)
                else:
                    _sys.stdout.buffer.write(data)
        if wfmt is not None:
            w = wfmt.replace("%{http_code}", http).replace("%{response_code}", http).replace("%{remote_ip}", ip)
            w = w.replace("\\n", "\n").replace("\\t", "\t")
            _sys.stdout.write(w)
        _sys.stdout.flush()
        if code and (not silent or show):
            _sys.stderr.write("curl: (%d) %s\n" % (code, msg))
        return code

    if not urls:
        _sys.stderr.write("curl: no URL specified\ncurl: try 'curl --help' or 'curl --manual' for more information\n")
        return 2
    url = urls[0]
    if "://" not in url:
        url = "http://" + url
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        _sys.stderr.write("labprov-world: curl https:// is not modelled by the lab-world stand-in\n")
        return 1
    if u.scheme != "http" or not u.hostname:
        return finish(3, "URL rejected: Malformed input to a URL function" if u.scheme == "http"
                      else 'Protocol "%s" not supported' % u.scheme)
    try:
        max_time = float(opts["-m"]) if "-m" in opts else None
        ctimeout = float(opts["--connect-timeout"]) if "--connect-timeout" in opts else None
    except ValueError:
        _sys.stderr.write("curl: option: expected a proper numerical parameter\n")
        return 2
    sdir, store, pod = _pod_context()
    start = time.time()
    hdrs = {}
    for h in headers:
        k, _, v = h.partition(":")
        hdrs[k.strip()] = v.strip()
    for _hop in range(51):   # -L: curl's default --max-redirs is 50
        host, port = u.hostname, u.port or 80
        st, _fq, ips = pod_resolve(store, pod, host)
        if st == "timeout":
            wait = pod_dns_timeout()
            limit = min(x for x in (max_time, ctimeout, wait) if x is not None)
            time.sleep(limit)
            if limit < wait:
                return finish(28, "Resolving timed out after %d milliseconds" % _ms(time.time() - start))
            return finish(6, "Could not resolve host: %s" % host)
        if st != "ok":
            return finish(6, "Could not resolve host: %s" % host)
        rh = _CaseHeaders(hdrs)
        if rh.get("Host") is None:
            rh["Host"] = u.netloc
        path = (u.path or "/") + ("?" + u.query if u.query else "")
        method = opts.get("-X") or ("HEAD" if opts.get("-I") else "GET")
        req = Req(method, path, rh, store=store, sdir=sdir)
        c = pod_connect(store, pod, ips[0], port, req=req)
        if c.state == "timeout":
            limit = min(x for x in (max_time, ctimeout, 30.0) if x is not None)
            time.sleep(limit)
            if max_time is not None and max_time <= (ctimeout or 300):
                return finish(28, "Connection timed out after %d milliseconds" % _ms(time.time() - start))
            return finish(28, "Failed to connect to %s port %d after %d ms: Timeout was reached"
                          % (host, port, _ms(time.time() - start)))
        if c.state == "refused":
            return finish(7, "Failed to connect to %s port %d after %d ms: Couldn't connect to server"
                          % (host, port, _ms(time.time() - start) + 1), ip=ips[0])
        if c.state == "reset":
            return finish(56, "Recv failure: Connection reset by peer", ip=ips[0])
        if c.state == "envoy":
            limit = min(x for x in (max_time, c.delay) if x is not None)
            time.sleep(limit)
            if limit < c.delay:
                return finish(28, "Operation timed out after %d milliseconds with 0 bytes received"
                              % _ms(time.time() - start), ip=ips[0])
            if c.resp is None:
                return finish(52, "Empty reply from server", ip=ips[0])
            count_mesh_request(sdir, c.ns, c.svc, 503, src=app_of(pod) or "unknown")
            resp = c.resp
        elif c.outside:
            if port not in (80, 443):
                return finish(52, "Empty reply from server", ip=ips[0])
            resp = Resp(200, "<html><body>lab-world outside host %s</body></html>\n" % c.outside)
        else:
            resp = pod_answer(store, c.ns, c.svc, c.pod, c.port, req, sdir)
            if resp is None:
                return finish(56, "Recv failure: Connection reset by peer", ip=ips[0])
            if c.via_envoy and not is_gateway(c.pod):
                resp.server = resp.server or "envoy"
                count_mesh_request(sdir, c.ns, c.svc, resp.status, src=app_of(pod) or "unknown")
        loc = dict((k.lower(), v) for k, v in resp.headers).get("location")
        if not (opts.get("-L") and resp.status in (301, 302, 303, 307, 308) and loc):
            break
        u = urllib.parse.urlsplit(urllib.parse.urljoin(u.geturl(), loc))
        hdrs.pop("Host", None)
    reason = {200: "OK", 301: "Moved Permanently", 302: "Found", 404: "Not Found", 503: "Service Unavailable"}.get(resp.status, "")
    head = ["HTTP/1.1 %d %s" % (resp.status, reason), "content-type: %s" % resp.ctype,
            "content-length: %d" % len(resp.body)]
    if resp.server:
        head.append("server: %s" % resp.server)
    head += ["%s: %s" % (k, v) for k, v in resp.headers]
    head_b = ("\r\n".join(head) + "\r\n\r\n").encode()
    if opts.get("-f") and resp.status >= 400:
        return finish(22, "The requested URL returned error: %d" % resp.status, http=str(resp.status), body=None, ip=ips[0])
    return finish(0, "", http=str(resp.status), body=resp.body, head=head_b, ip=ips[0])


class _CaseHeaders(dict):
    """HTTP header lookup ignoring case, as http.server's message object does."""

    def get(self, k, default=None):
        for key, v in self.items():
            if key.lower() == str(k).lower():
                return v
        return default


def tool_wget(args):
    """busybox wget, a subset: -q, -O FILE|-, -T SEC, -S, --spider, one http:// URL. busybox
    messages: "wget: bad address 'H'" (resolution failed, exit 1), "wget: can't connect to
    remote host (IP): Connection refused" (exit 1), "wget: download timed out" (exit 1, after -T,
    default 900 s, capped at 30 s), "wget: server returned error: HTTP/1.1 404 Not Found" (exit 1),
    "wget: error getting response: Connection reset by peer" (exit 1). Without -O the body goes to
    a file named after the URL (index.html for "/")."""
    import urllib.parse
    quiet, outf, tmo, url, spider = False, None, None, None, False
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-q":
            quiet = True
        elif a in ("-O", "-T"):
            i += 1
            v = args[i] if i < len(args) else ""
            if a == "-O":
                outf = v
            else:
                tmo = float(v or 0)
        elif a.startswith("-O") and len(a) > 2:
            outf = a[2:]
        elif a.startswith("-T") and len(a) > 2:
            tmo = float(a[2:])
        elif a == "-qO-":
            quiet, outf = True, "-"
        elif a.startswith("-q") and a[2:].startswith("O"):
            quiet, outf = True, a[3:] or (args[i + 1] if i + 1 < len(args) else "")
            if not a[3:]:
                i += 1
        elif a == "--spider":
            spider = True
        elif a == "-S":
            pass
        elif a.startswith("-"):
            _sys.stderr.write("wget: unrecognized option '%s'\nBusyBox v1.37.0 (2024-09-26 21:31:42 UTC) multi-call "
                             "binary.\n" % a)
            return 1
        else:
            url = a
        i += 1
    if url is None:
        _sys.stderr.write("BusyBox v1.37.0 (2024-09-26 21:31:42 UTC) multi-call binary.\n\nUsage: wget [-cqS] "
                         "[--spider] [-O FILE] [-o LOGFILE] [--header STR] [-T SEC] URL...\n")
        return 1
    if "://" not in url:
        url = "http://" + url
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http":
        _sys.stderr.write("wget: not an http or ftp url: %s\n" % url)
        return 1
    host, port = u.hostname or "", u.port or 80
    sdir, store, pod = _pod_context()
    if not quiet:
        _sys.stderr.write("Connecting to %s (%s)\n" % (u.netloc, host))
    st, _fq, ips = pod_resolve(store, pod, host)
    if st == "timeout":
        time.sleep(pod_dns_timeout())
    if st != "ok":
        _sys.stderr.write("wget: bad address '%s'\n" % u.netloc)
        return 1
    path = (u.path or "/") + ("?" + u.query if u.query else "")
    req = Req("GET", path, _CaseHeaders({"Host": u.netloc}), store=store, sdir=sdir)
    c = pod_connect(store, pod, ips[0], port, req=req)
    if c.state == "timeout":
        time.sleep(min(tmo if tmo else 900.0, 30.0))
        _sys.stderr.write("wget: download timed out\n")
        return 1
    if c.state == "refused":
        _sys.stderr.write("wget: can't connect to remote host (%s): Connection refused\n" % ips[0])
        return 1
    if c.state == "reset":
        _sys.stderr.write("wget: error getting response: Connection reset by peer\n")
        return 1
    if c.state == "envoy":
        time.sleep(min(c.delay, tmo or 900.0))
        if c.resp is None:
            _sys.stderr.write("wget: error getting response: Connection reset by peer\n")
            return 1
        resp = c.resp
    elif c.outside:
        resp = Resp(200, "<html><body>lab-world outside host %s</body></html>\n" % c.outside)
    else:
        resp = pod_answer(store, c.ns, c.svc, c.pod, c.port, req, sdir)
        if resp is None:
            _sys.stderr.write("wget: error getting response: Connection reset by peer\n")
            return 1
        if c.via_envoy and not is_gateway(c.pod):
            count_mesh_request(sdir, c.ns, c.svc, resp.status, src=app_of(pod) or "unknown")
    if resp.status >= 400:
        reason = {404: "Not Found", 503: "Service Unavailable"}.get(resp.status, "")
        _sys.stderr.write("wget: server returned error: HTTP/1.1 %d %s\n" % (resp.status, reason))
        return 1
    if spider:
        return 0
    if outf == "-":
        _sys.stdout.buffer.write(resp.body)
        _sys.stdout.flush()
    else:
        name = outf or (os.path.basename(u.path) or "index.html")
        with open(name, "wb") as f:
            f.write(resp.body)
        if not quiet:
            _sys.stderr.write("saving to '%s'\n%s 100%% |********************************| %d  0:00:00 ETA\n'%s' saved\n"
                             % (name, name[:18], len(resp.body), name))
    return 0


def tool_nslookup(args, image_flavour="busybox"):
    """nslookup NAME [SERVER]: busybox's output ("Server:\\t\\t10.96.0.10", "Address:\\t10.96.0.10:53",
    then "Name:\\tFQDN" / "Address: IP"; "** server can't find NAME: NXDOMAIN" exit 1;
    ";; connection timed out; no servers could be reached" exit 1 when CoreDNS cannot be
    reached, after the resolver's timeout). bind's nslookup (agnhost's bind-tools) prints
    "Address:\\t10.96.0.10#53" and "** server can't find NAME: NXDOMAIN" likewise."""
    names = [a for a in args if not a.startswith("-")]
    if not names:
        _sys.stderr.write("labprov-world: interactive nslookup is not modelled by the lab-world stand-in\n")
        return 1
    name = names[0]
    sdir, store, pod = _pod_context()
    st, fq, ips = pod_resolve(store, pod, name)
    sep = "#" if image_flavour == "bind" else ":"
    if st == "timeout":
        time.sleep(pod_dns_timeout())
        _sys.stdout.write(";; connection timed out; no servers could be reached\n\n")
        return 1
    _sys.stdout.write("Server:\t\t%s\nAddress:\t%s%s53\n\n" % (KUBE_DNS_IP, KUBE_DNS_IP, sep))
    if st != "ok":
        _sys.stdout.write("** server can't find %s: %s\n\n" % (name, "NXDOMAIN" if st == "nxdomain" else "SERVFAIL"))
        return 1
    for ip in ips:
        _sys.stdout.write("Name:\t%s\nAddress: %s\n\n" % (fq, ip))
    return 0


def tool_getent(args):
    """getent hosts|ahosts|ahostsv4 NAME...: "IP<pad to 15> NAME" per key, exit 2 when a key is not
    found (man getent(1)); other databases: exit 1 ("Unknown database")."""
    if not args:
        _sys.stderr.write("getent: wrong number of arguments\n")
        return 1
    db, keys = args[0], args[1:]
    if db not in ("hosts", "ahosts", "ahostsv4"):
        _sys.stderr.write("Unknown database: %s\n" % db)
        return 1
    sdir, store, pod = _pod_context()
    code = 0
    for k in keys:
        st, fq, ips = pod_resolve(store, pod, k)
        if st == "timeout":
            time.sleep(pod_dns_timeout())
        if st != "ok":
            code = 2
            continue
        for ip in ips[:1] if db == "hosts" else ips:
            if db == "hosts":
                _sys.stdout.write("%-15s %s\n" % (ip, fq))
            else:
                _sys.stdout.write("%-15s STREAM %s\n%-15s DGRAM  \n%-15s RAW    \n" % (ip, fq, ip, ip))
    return code


def pod_tool(argv):
    name, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if name == "agnhost":
            return tool_agnhost(args)
        if name == "curl":
            return tool_curl(args)
        if name == "wget":
            return tool_wget(args)
        if name == "nslookup":
            return tool_nslookup(args, "bind" if os.path.exists("/agnhost") else "busybox")
        if name == "getent":
            return tool_getent(args)
    except BrokenPipeError:
        return 141
    _sys.stderr.write("labprov-world: no pod tool %r\n" % name)
    return 127


