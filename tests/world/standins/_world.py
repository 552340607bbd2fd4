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
#              fetched (a source added later is unknown until the next update, as in real apt)
#       units: systemd unit -> {enabled, active}; a unit exists only while a package ships it
#     Written only under an exclusive flock on state.lock, as temp file + fsync + os.replace, so a
#     reader (which needs no write access) always sees a whole file.
#   - the package catalogue (versions as on Ubuntu 24.04 "noble" and Docker's repository for Docker
#     Engine 28.5.1) and the knob file /etc/labprov-world.conf (shell key=value; `preinstalled="docker.io
#     runc"` marks packages installed when the state is first created).
#
# Left out: versions are a fixed snapshot (illustrative, not tracked against the archive); there is no
# real dpkg database, no real systemd and no real Docker daemon: the state file is the whole truth.
import contextlib
import errno
import fcntl
import json
import os
import struct
import sys
import tempfile
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
# Docker's own repository (https://download.docker.com/linux/ubuntu SUITE stable), Docker Engine 28.5.1.
DOCKER_REPO = {
    "containerd.io": ("1.7.28-1~ubuntu.{rel}~{suite}", "amd64", "devel", "An open and reliable container runtime"),
    "docker-ce": ("5:28.5.1-1~ubuntu.{rel}~{suite}", "amd64", "admin", "Docker: the open-source application container engine"),
    "docker-ce-cli": ("5:28.5.1-1~ubuntu.{rel}~{suite}", "amd64", "admin", "Docker CLI: the open-source application container engine"),
    "docker-ce-rootless-extras": ("5:28.5.1-1~ubuntu.{rel}~{suite}", "amd64", "admin", "Rootless support for Docker."),
    "docker-buildx-plugin": ("0.29.1-1~ubuntu.{rel}~{suite}", "amd64", "admin", "Docker Buildx cli plugin."),
    "docker-compose-plugin": ("2.40.0-1~ubuntu.{rel}~{suite}", "amd64", "admin", "Docker Compose (V2) plugin for the Docker CLI."),
}
# Suites Docker publishes for Ubuntu, with the release number that appears in the package versions.
DOCKER_SUITES = {"focal": "20.04", "jammy": "22.04", "noble": "24.04", "oracular": "24.10", "plucky": "25.04"}

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
        rel = DOCKER_SUITES.get(suite, "24.04")
        return (ver.format(rel=rel, suite=suite), arch, section, desc, "docker")
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
        os.write(fd, line.encode("utf-8"))
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
    except OSError as e:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("labprov-world: %s: cannot append to %s: %s\n" % (tool, CALLS_LOG, e))
            sys.stderr.flush()
        os._exit(125)
    os._exit(code)
