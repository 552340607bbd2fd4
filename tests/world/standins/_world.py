#!/usr/bin/python3
# _world.py: shared helper of the lab-world stand-ins (apt-get, dpkg-query, systemctl, docker).
#
# Not a stand-in itself: it holds what the four share.
#   - the call log: every stand-in invocation appends ONE JSON line
#       {"tool": NAME, "argv": [ARGS...], "uid": os.getuid(), "exit": CODE}
#     to /var/lib/labprov-world/calls.log (mode 0666, opened O_APPEND, written in a single write(2)).
#     "argv" holds the arguments only (sys.argv[1:]): "tool" already names the program, and argv[0]
#     would differ between "apt-get" and "/usr/bin/apt-get" for the same call.
#     A stand-in that cannot append its line says so on stderr and exits 125, so a test can never
#     mistake a missing line for "was not called".
#   - the host's modelled state, /var/lib/labprov-world/state.json (mode 0644):
#       dpkg:  package -> {status: installed|config-files, version, arch}
#       apt:   indexed -> the (uri, suite, component) index targets the last successful `apt-get update`
#              fetched (a source added later is unknown until the next update, as in real apt); for a
#              repository fetched over the network also what its Packages index listed ("packages":
#              name -> {version, arch}), its Release "label" and the sha256 of the InRelease it read
#       units: systemd unit -> {enabled, active}; a unit exists only while a package ships it
#     Written only under an exclusive flock on state.lock, as temp file + fsync + os.replace, so a
#     reader (which needs no write access) always sees a whole file.
#   - the package catalogue (versions as on Ubuntu 24.04 "noble" and Docker's repository for Docker
#     Engine 28.5.1) and the knob file /etc/labprov-world.conf (shell key=value; `preinstalled="docker.io
#     runc"` marks packages installed when the state is first created).
#   - the world's stand-in for OpenPGP keys and signatures (see "Keys and signatures" below): the
#     mirror's Docker repository is signed with it by tests/world/build-mirror and the apt-get stand-in
#     verifies it against the source's Signed-By keyring.
#
# Left out: versions are a fixed snapshot (illustrative, not tracked against the archive); there is no
# real dpkg database, no real systemd and no real Docker daemon: the state file is the whole truth.
import base64
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import struct
import sys
import time
import traceback

STATE_DIR = "/var/lib/labprov-world"
CALLS_LOG = os.path.join(STATE_DIR, "calls.log")
STATE_FILE = os.path.join(STATE_DIR, "state.json")
STATE_LOCK = os.path.join(STATE_DIR, "state.lock")
CONF_FILE = "/etc/labprov-world.conf"
INSTALLED_STANDINS = "/usr/lib/labprov-world/standins"

# ---------------------------------------------------------------------------------------------------
# Package catalogue.
# Base packages count as installed from the start (an Ubuntu 24.04 server image has them).
BASE = {
    "ca-certificates": ("20240203", "all", "misc", "Common CA certificates"),
    "curl": ("8.5.0-2ubuntu10.6", "amd64", "web", "command line tool for transferring data with URL syntax"),
    "gnupg": ("2.4.4-2ubuntu17.3", "all", "utils", "GNU privacy guard - a free PGP replacement"),
    "apt-transport-https": ("2.8.3", "all", "oldlibs", "transitional package for https support"),
    "python3": ("3.12.3-0ubuntu2", "amd64", "python", "interactive high-level object-oriented language (default python3 version)"),
}
# In the Ubuntu archive (always indexed in this world), not installed unless the knob says so.
ARCHIVE = {
    "docker.io": ("24.0.7-0ubuntu4.1", "amd64", "universe/admin", "Linux container runtime"),
    "docker-compose": ("1.29.2-6ubuntu1", "all", "universe/admin", "define and run multi-container Docker applications with YAML"),
    "docker-compose-v2": ("2.24.6+ds1-0ubuntu1~24.04.1", "amd64", "universe/admin", "tool for running multi-container applications on Docker"),
    "docker-doc": ("24.0.7-0ubuntu4.1", "all", "universe/doc", "Linux container runtime -- documentation"),
    "podman-docker": ("4.9.3+ds1-1ubuntu0.2", "amd64", "universe/admin", "engine to run OCI-based containers in Pods - wrapper for docker"),
    "containerd": ("1.7.12-0ubuntu4.1", "amd64", "admin", "daemon to control runC"),
    "runc": ("1.1.12-0ubuntu3.1", "amd64", "admin", "Open Container Project - runtime"),
    "pigz": ("2.8-1", "amd64", "universe/utils", "Parallel Implementation of GZip"),
    "slirp4netns": ("1.2.1-1build2", "amd64", "universe/net", "User-mode networking for unprivileged network namespaces"),
    "libslirp0": ("4.7.0-1ubuntu3", "amd64", "libs", "General purpose TCP-IP emulator library"),
}
# Docker's own repositories (https://download.docker.com/linux/ubuntu and /linux/debian, SUITE stable),
# Docker Engine 28.5.1; versions as Docker names them per distribution (e.g. 5:28.5.1-1~debian.12~bookworm).
DOCKER_REPO = {
    "containerd.io": ("1.7.28-1~{distro}.{rel}~{suite}", "amd64", "devel", "An open and reliable container runtime"),
    "docker-ce": ("5:28.5.1-1~{distro}.{rel}~{suite}", "amd64", "admin", "Docker: the open-source application container engine"),
    "docker-ce-cli": ("5:28.5.1-1~{distro}.{rel}~{suite}", "amd64", "admin", "Docker CLI: the open-source application container engine"),
    "docker-ce-rootless-extras": ("5:28.5.1-1~{distro}.{rel}~{suite}", "amd64", "admin", "Rootless support for Docker."),
    "docker-buildx-plugin": ("0.29.1-1~{distro}.{rel}~{suite}", "amd64", "admin", "Docker Buildx cli plugin."),
    "docker-compose-plugin": ("2.40.0-1~{distro}.{rel}~{suite}", "amd64", "admin", "Docker Compose (V2) plugin for the Docker CLI."),
}
# Suites Docker publishes for Ubuntu, with the release number that appears in the package versions.
DOCKER_SUITES = {"focal": "20.04", "jammy": "22.04", "noble": "24.04", "oracular": "24.10", "plucky": "25.04"}
# Suites Docker publishes for Debian (download.docker.com/linux/debian/dists/), with their release.
DOCKER_DEBIAN_SUITES = {"bullseye": "11", "bookworm": "12", "trixie": "13"}

# Relations, from docker/docker-ce-packaging deb/common/control and containerd.io's control.
# docker-ce-rootless-extras only "Enhances: docker-ce" (since 80d67bc, 2021; its Depends is
# dbus-user-session, left out here): purging docker-ce leaves it installed, as on a real host.
DEPENDS = {
    "docker-ce": ["containerd.io", "docker-ce-cli"],
    "slirp4netns": ["libslirp0"],
}
RECOMMENDS = {
    "docker-ce": ["docker-ce-rootless-extras", "pigz"],
    "docker-ce-cli": ["docker-buildx-plugin", "docker-compose-plugin"],
    "docker-compose-plugin": ["docker-buildx-plugin"],
    "docker-ce-rootless-extras": ["slirp4netns"],
}
CONFLICTS = {
    "docker-ce": ["docker.io"],
    "docker-ce-cli": ["docker.io"],
    "containerd.io": ["containerd", "runc"],
    "docker-compose-plugin": ["docker-compose"],
}
# What a package ships that other stand-ins can observe.
UNITS = {
    "docker-ce": ["docker.service", "docker.socket"],
    "docker.io": ["docker.service", "docker.socket"],
    "containerd.io": ["containerd.service"],
    "containerd": ["containerd.service"],
}
DOCKER_CLIENT_PACKAGES = ("docker-ce-cli", "docker.io")  # each ships /usr/bin/docker
HAS_CONFFILES = {"docker-ce", "docker.io", "containerd.io", "containerd", "ca-certificates"}
SIZES_KB = {  # (download, installed)
    "containerd.io": (30500, 120000), "docker-ce": (20300, 81000), "docker-ce-cli": (16200, 36000),
    "docker-ce-rootless-extras": (6400, 22000), "docker-buildx-plugin": (16500, 62000),
    "docker-compose-plugin": (14300, 59000), "pigz": (66, 210), "slirp4netns": (35, 110),
    "libslirp0": (63, 170), "docker.io": (29400, 109000), "containerd": (38000, 151000), "runc": (8600, 31000),
}


def catalogue(name, suite="noble"):
    """(version, arch, section, description, origin) of a package, or None if not modelled."""
    if name in BASE:
        return BASE[name] + ("ubuntu",)
    if name in ARCHIVE:
        return ARCHIVE[name] + ("ubuntu",)
    if name in DOCKER_REPO:
        ver, arch, section, desc = DOCKER_REPO[name]
        if suite in DOCKER_DEBIAN_SUITES:
            distro, rel = "debian", DOCKER_DEBIAN_SUITES[suite]
        else:
            distro, rel = "ubuntu", DOCKER_SUITES.get(suite, "24.04")
        return (ver.format(distro=distro, rel=rel, suite=suite), arch, section, desc, "docker")
    return None


# ---------------------------------------------------------------------------------------------------
# Output helpers.
def out(*lines):
    for line in lines:
        sys.stdout.write(line + "\n")


def err(*lines):
    sys.stdout.flush()
    for line in lines:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def is_root():
    return os.geteuid() == 0


def read_conf():
    """The host's /etc/labprov-world.conf as a dict (shell key=value, optional quotes)."""
    conf = {}
    try:
        with open(CONF_FILE, encoding="utf-8") as f:
            for raw in f:
                line = raw.strip()
                if not line or line.startswith("#") or "=" not in line:
                    continue
                key, value = line.split("=", 1)
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                    value = value[1:-1]
                conf[key.strip()] = value
    except OSError:
        pass
    return conf


def standins_dir():
    if os.path.isdir(INSTALLED_STANDINS):
        return INSTALLED_STANDINS
    return os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------------------------------------------
# State.
def default_state():
    dpkg = {}
    for name, (ver, arch, _section, _desc) in BASE.items():
        dpkg[name] = {"status": "installed", "version": ver, "arch": arch}
    units = {}
    for name in read_conf().get("preinstalled", "").split():
        cat = catalogue(name)
        if cat is None:
            continue
        dpkg[name] = {"status": "installed", "version": cat[0], "arch": cat[1]}
        for unit in UNITS.get(name, []):
            units[unit] = {"enabled": True, "active": True}
    return {"format": 1, "dpkg": dpkg, "apt": {"indexed": []}, "units": units}


def _ensure_state_dir():
    if not os.path.isdir(STATE_DIR) and is_root():
        os.makedirs(STATE_DIR, mode=0o755, exist_ok=True)


def _read_state_file():
    try:
        with open(STATE_FILE, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return default_state()


def load_state():
    """A consistent snapshot for reading (no write access needed)."""
    fd = None
    try:
        fd = os.open(STATE_LOCK, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_SH)
    except OSError:
        fd = None  # no lock file yet: the state file is replaced atomically, a plain read is whole
    try:
        return _read_state_file()
    finally:
        if fd is not None:
            os.close(fd)


def _write_state(state):
    import tempfile  # here, not at the top: every call pays an import, few write state
    fd, tmp = tempfile.mkstemp(dir=STATE_DIR, prefix=".state.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, STATE_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def state_transaction():
    """Exclusive read-modify-write of the state; saved atomically when the block ends normally."""
    _ensure_state_dir()
    fd = os.open(STATE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        state = _read_state_file()
        yield state
        _write_state(state)
    finally:
        os.close(fd)


def _lock_holder(fd):
    """The pid holding a POSIX write lock on FD (fcntl F_GETLK, as apt reports it), or None."""
    fmt = "hhqqi4x"  # struct flock on Linux x86_64: l_type, l_whence, l_start, l_len, l_pid
    try:
        res = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack(fmt, fcntl.F_WRLCK, 0, 0, 0, 0))
    except OSError:
        return None
    l_type, _whence, _start, _len, pid = struct.unpack(fmt, res)
    return pid if l_type != fcntl.F_UNLCK else None


def holder_lock(path, timeout=0.0, on_wait=None):
    """Take an exclusive POSIX lock on PATH (a frontend lock like dpkg's, which uses fcntl locks too).

    Returns (fd, None) on success or (None, holder_pid_or_None) when another process still holds it
    after TIMEOUT seconds. ON_WAIT(holder, remaining) is called about once a second while waiting.
    The lock lasts until the process exits (never open PATH a second time in the same process)."""
    _ensure_state_dir()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    last_note = 0.0
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd, None
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
        holder = _lock_holder(fd)
        now = time.monotonic()
        if now >= deadline:
            os.close(fd)
            return None, holder
        if on_wait is not None and now - last_note >= 1.0:
            on_wait(holder, deadline - now)
            last_note = now
        time.sleep(0.1)


def process_name(pid):
    try:
        with open("/proc/%d/comm" % pid, encoding="utf-8") as f:
            return f.read().strip()
    except (OSError, TypeError):
        return "unknown"


# ---------------------------------------------------------------------------------------------------
# Units.
def unit_name(name):
    """systemctl appends .service to a name without a unit-type suffix."""
    for suffix in (".service", ".socket", ".target", ".timer", ".mount", ".path", ".slice", ".scope", ".device", ".swap", ".automount"):
        if name.endswith(suffix):
            return name
    return name + ".service"


def docker_daemon_reachable(state):
    """/var/run/docker.sock exists while docker.service runs, or docker.socket listens (socket activation)."""
    units = state.get("units", {})
    return any(units.get(u, {}).get("active") for u in ("docker.service", "docker.socket"))


# ---------------------------------------------------------------------------------------------------
# Keys and signatures: the world's stand-in for OpenPGP.
# Real apt hands a repository's InRelease (a clearsigned Release file, RFC 4880 section 7) to gpgv
# with the keyring the source's Signed-By names; gpgv reports GOODSIG, BADSIG or NO_PUBKEY <keyid>
# (apt methods/gpgv.cc). The world keeps that shape and replaces the cryptography:
#   - a key is an ASCII-armored "PGP PUBLIC KEY BLOCK" (base64 body and the "=" CRC-24 line of RFC
#     4880 section 6) or its dearmored bytes (what `gpg --dearmor` writes to a .gpg keyring);
#   - its identity is its content: the key id is the last 16 hex digits of the SHA-1 of the dearmored
#     bytes (an OpenPGP v4 key id is the low 64 bits of the SHA-1 fingerprint);
#   - a signature is an armored "PGP SIGNATURE" whose body names the issuer's key id and a SHA-256
#     over the key's bytes and the signed text, so it verifies only with the very key that made it
#     and only for the very text it was made for.
# It is not cryptography (anyone holding the public key could forge a signature): the world only has
# to tell which key a repository was signed with and whether the source trusts that key.
PGP_KEY = "PGP PUBLIC KEY BLOCK"
PGP_SIG = "PGP SIGNATURE"
SIG_MAGIC = b"labprov-world signature v1\n"


def crc24(data):
    """RFC 4880 section 6.1."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def armor(kind, data):
    body = base64.b64encode(data).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    crc = base64.b64encode(crc24(data).to_bytes(3, "big")).decode()
    return "-----BEGIN %s-----\n\n%s\n=%s\n-----END %s-----\n" % (kind, "\n".join(lines), crc, kind)


def dearmor(text, kind):
    """The dearmored bytes of every well-formed KIND block in TEXT (str or bytes)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    found = []
    begin, end = "-----BEGIN %s-----" % kind, "-----END %s-----" % kind
    pos = 0
    while True:
        b = text.find(begin, pos)
        if b < 0:
            return found
        e = text.find(end, b)
        if e < 0:
            return found
        pos = e + len(end)
        lines = text[b + len(begin):e].strip("\r\n").split("\n")
        # armor headers ("Version: ...") end at the first empty line
        if "" in [ln.strip() for ln in lines]:
            lines = lines[[ln.strip() for ln in lines].index("") + 1:]
        body = [ln.strip() for ln in lines if ln.strip()]
        crc = body.pop()[1:] if body and body[-1].startswith("=") else None
        try:
            data = base64.b64decode("".join(body), validate=True)
        except ValueError:
            continue
        if crc is not None and base64.b64encode(crc24(data).to_bytes(3, "big")).decode() != crc:
            continue  # gpg: "CRC error"
        found.append(data)


def key_id(key):
    return hashlib.sha1(key).hexdigest()[-16:].upper()


def _digest(key, text):
    return hashlib.sha256(key + b"\0" + text).hexdigest()


def signature(key, text):
    """An armored detached signature of TEXT (bytes) by KEY (dearmored bytes)."""
    body = SIG_MAGIC + ("issuer %s\ndigest %s\n" % (key_id(key), _digest(key, text))).encode()
    return armor(PGP_SIG, body)


def clearsign(key, text):
    """TEXT (str, ending in a newline) clearsigned by KEY as an InRelease file is (RFC 4880 7.1)."""
    escaped = "".join(("- " + ln if ln.startswith("-") else ln) for ln in text.splitlines(True))
    return "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" + escaped + signature(key, text.encode())


def split_clearsigned(data):
    """(text bytes, signature block) of a clearsigned file, or None if it is not one (gpgv: NODATA)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    head = "-----BEGIN PGP SIGNED MESSAGE-----\n"
    sig = "-----BEGIN %s-----" % PGP_SIG
    if not text.startswith(head) or sig not in text:
        return None
    rest = text[len(head):]
    blank = rest.find("\n\n")
    if blank < 0:
        return None
    body, _, tail = rest[blank + 2:].partition(sig)
    lines = [ln[2:] if ln.startswith("- ") else ln for ln in body.splitlines(True)]
    return "".join(lines).encode(), sig + tail


def verify(text, sig_block, keys):
    """gpgv's verdict on SIG_BLOCK over TEXT with KEYS (dearmored bytes):
    ("GOODSIG"|"BADSIG"|"NO_PUBKEY", keyid), or ("NODATA", None) when there is no signature."""
    for sig in dearmor(sig_block, PGP_SIG):
        if not sig.startswith(SIG_MAGIC):
            continue
        fields = dict(ln.split(" ", 1) for ln in sig[len(SIG_MAGIC):].decode("utf-8", "replace").splitlines() if " " in ln)
        issuer = fields.get("issuer", "")
        for key in keys:
            if key_id(key) == issuer:
                return ("GOODSIG" if fields.get("digest") == _digest(key, text) else "BADSIG"), issuer
        return "NO_PUBKEY", issuer
    return "NODATA", None


# ---------------------------------------------------------------------------------------------------
# Latency: with latency=1 in /etc/labprov-world.conf (`tests/world/start --latency`) a call sleeps
# (never spins) for the wall time the real command takes on a 4-vCPU Ubuntu VM. The kube tools'
# rows and their sources are in _kube.py (REAL_SECONDS; minikube ships as one file, so it cannot
# import this one). Seconds, issue 12's estimates:
#   docker container inspect: Go start-up and one request to dockerd's socket; minikube runs it
#     before every status (cli_runner.go in kubernetes/minikube#9812's log) -> 0.05;
#   docker exec: create, start and attach an exec instance in the container -> 0.12.
# apt-get, dpkg-query and systemctl are not slowed: on a converged host only `systemctl
# is-active` runs, a few milliseconds over D-Bus.
REAL_SECONDS = {("docker", "container inspect"): 0.05, ("docker", "inspect"): 0.05,
                ("docker", "exec"): 0.12, ("docker", "container exec"): 0.12}


def sleep_like_real(tool, cmd):
    s = REAL_SECONDS.get((tool, cmd))
    if s and read_conf().get("latency") == "1":
        time.sleep(s)


# ---------------------------------------------------------------------------------------------------
# Call log and the main wrapper.
def _log_call(tool, argv, code):
    line = json.dumps({"tool": tool, "argv": argv, "uid": os.getuid(), "exit": code}, separators=(",", ":")) + "\n"
    _ensure_state_dir()
    created = not os.path.exists(CALLS_LOG)
    fd = os.open(CALLS_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        if created:
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o666)
        data = line.encode("utf-8")
        written = os.write(fd, data)
        if written != len(data):  # a short write would leave half a line: as bad as none
            raise OSError(errno.EIO, "short write (%d of %d bytes)" % (written, len(data)))
    finally:
        os.close(fd)


def run(tool, main):
    """Run MAIN(argv) -> exit code, append the call line, exit with the code."""
    sys.dont_write_bytecode = True
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(line_buffering=True)
    argv = sys.argv[1:]
    code = 1
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = 141
    except Exception:  # a bug in the stand-in: show it, never pretend success
        traceback.print_exc()
        code = 70
    if code is None:
        code = 0
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    try:
        _log_call(tool, argv, code)
    except Exception as e:  # noqa: BLE001 - whatever stops the line, the call must not look silent
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("labprov-world: %s: cannot append to %s: %s\n" % (tool, CALLS_LOG, e))
            sys.stderr.flush()
        os._exit(125)
    os._exit(code)
