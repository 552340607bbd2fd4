#!/bin/bash
# selfcheck.sh: a check of the apt-get, dpkg-query, systemctl and docker stand-ins, run by tests/run
# before the test suite (as root: `bash tests/world/standins/selfcheck.sh`). Needs no internet.
#
# It builds a throwaway host like the world's targets: private mount and network namespaces (only
# loopback) in which /etc /usr /var /home /root are overlays on a tmpfs, the stand-ins copied to
# /usr/lib/labprov-world/standins and bound over /usr/bin/{apt-get,dpkg-query,systemctl}, Ubuntu's apt
# sources, a login user, and the world's mirror (build-mirror + mirror.py) on 127.0.0.1:8080 serving
# Docker's apt repository. It then walks the Docker install the lab guide describes and checks each
# step's output and exit code, then what apt does with a repository it cannot fetch or verify, and
# that the call log fails loudly. Afterwards it checks, from outside, that nothing leaked to the
# machine (tools, /etc/group, /etc/apt, state dirs, the user). Last, `kubectl exec` probes from pods
# (the kubectl build-mirror ships, a cluster made by the minikube stand-in's functions, Istio by the
# istioctl stand-in): each behaviour with its positive control.
# Prints "N passed, M failed" and exits non-zero if any check failed.
# dpkg-query formats and the inner bash -c scripts are meant literally:
# shellcheck disable=SC2016
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
USER_NAME=lwcheck

if [[ ${1:-} != --inside ]]; then
	if [[ $(id -u) -ne 0 ]]; then
		echo "selfcheck.sh: run as root" >&2
		exit 2
	fi
	watched=(/usr/bin/apt-get /usr/bin/dpkg-query /usr/bin/systemctl /etc/group /etc/passwd)
	before=$(sha256sum "${watched[@]}")
	apt_before=$(find /etc/apt -printf '%p %s %T@\n' | sort | sha256sum)
	scratch=$(mktemp -d)
	unshare --mount --net --propagation private bash "$HERE/selfcheck.sh" --inside "$scratch"
	rc=$?
	rmdir "$scratch"
	leaks=0
	if [[ $(sha256sum "${watched[@]}") != "$before" ]]; then
		echo "LEAK: a real tool or /etc/group|passwd changed" >&2
		leaks=1
	fi
	if [[ $(find /etc/apt -printf '%p %s %T@\n' | sort | sha256sum) != "$apt_before" ]]; then
		echo "LEAK: /etc/apt changed" >&2
		leaks=1
	fi
	for p in /usr/bin/docker /var/lib/labprov-world /usr/lib/labprov-world /etc/apt/sources.list.d/docker.sources; do
		if [[ -e $p ]]; then
			echo "LEAK: $p exists outside the namespace" >&2
			leaks=1
		fi
	done
	if getent group docker >/dev/null || id "$USER_NAME" >/dev/null 2>&1; then
		echo "LEAK: group docker or user $USER_NAME exists outside the namespace" >&2
		leaks=1
	fi
	if ((leaks == 0)); then echo "no leaks outside the namespace"; fi
	if ((rc != 0 || leaks != 0)); then exit 1; fi
	exit 0
fi

# ----------------------------------------------------------------------------- inside the namespace
scratch=$2 # an empty dir made by the outer part; a tmpfs (mode 1777) inside the namespace
mount -t tmpfs tmpfs "$scratch"
for d in etc usr var home root; do
	mkdir -p "$scratch/$d.up" "$scratch/$d.wk"
	mount -t overlay overlay -o "lowerdir=/$d,upperdir=$scratch/$d.up,workdir=$scratch/$d.wk" "/$d"
done
shared=$scratch/shared # for files the user and root both touch (not the machine's /tmp)
mkdir -m 1777 "$shared"
ip link set lo up

# The world's mirror with Docker's apt repository (build-mirror's docker_repository(), the part these
# stand-ins need), on loopback (this namespace has nothing else).
WORLD=$(cd "$HERE/.." && pwd)
python3 - "$WORLD/build-mirror" "$scratch/mirror" <<'EOF' || exit 1
import importlib.machinery, importlib.util, sys
sys.dont_write_bytecode = True
loader = importlib.machinery.SourceFileLoader("build_mirror", sys.argv[1])
module = importlib.util.module_from_spec(importlib.util.spec_from_loader("build_mirror", loader))
loader.exec_module(module)
module.docker_repository(sys.argv[2])
EOF
python3 "$WORLD/mirror.py" --bind 127.0.0.1 --port 8080 --root "$scratch/mirror" --log "$scratch/mirror.log" \
	</dev/null >"$scratch/mirror.out" 2>&1 &
mirror_pid=$!
trap 'kill "$mirror_pid" 2>/dev/null' EXIT
MIRROR=http://127.0.0.1:8080/docker/linux/ubuntu
for ((i = 0; i < 100; i++)); do
	curl -fso /dev/null "$MIRROR/gpg" && break
	sleep 0.1
done
: >"$scratch/mirror.log" # forget the readiness probes
# The key id NO_PUBKEY must name: the last 16 hex digits of the SHA-1 of the mirror's dearmored key,
# computed here without _world.py (which the stand-ins use).
MIRROR_KEYID=$(sed -n '/^$/,/^=/p' "$scratch/mirror/docker/linux/ubuntu/gpg" | grep -v '^=' | tr -d '\n' |
	base64 -d | sha1sum | cut -c25-40 | tr a-f A-F)

# Ubuntu 24.04's apt sources, as on the world's targets (not this machine's).
rm -f /etc/apt/sources.list.d/*
echo "# Ubuntu sources have moved to /etc/apt/sources.list.d/ubuntu.sources" >/etc/apt/sources.list
for s in "http://archive.ubuntu.com/ubuntu/|noble noble-updates noble-backports" "http://security.ubuntu.com/ubuntu/|noble-security"; do
	printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main restricted universe multiverse\nSigned-By: %s\n\n' \
		"${s%%|*}" "${s#*|}" /usr/share/keyrings/ubuntu-archive-keyring.gpg
done >/etc/apt/sources.list.d/ubuntu.sources

# A docker client in /usr/local/bin (this machine has one) would shadow /usr/bin/docker: hide it in
# the overlay (a whiteout in the upper dir), as a world host must.
rm -f /usr/local/bin/docker
mkdir -p /usr/lib/labprov-world
cp -a "$HERE" /usr/lib/labprov-world/standins
rm -f /usr/lib/labprov-world/standins/selfcheck.sh
for t in apt-get dpkg-query systemctl; do
	mount --bind "/usr/lib/labprov-world/standins/$t" "/usr/bin/$t"
	mount -o remount,bind,ro "/usr/bin/$t"
done
rm -rf /var/lib/labprov-world # in the overlay: whatever the machine has there stays hidden
mkdir -m 0755 /var/lib/labprov-world
install -m 0666 /dev/null /var/lib/labprov-world/calls.log
echo "dns_broken=0" >/etc/labprov-world.conf
useradd -m -s /bin/bash "$USER_NAME"

pass=0
fail=0
out=$scratch/out
errf=$scratch/err
calls=0 # stand-in invocations made by the checks below

ok() {
	pass=$((pass + 1))
	echo "ok   $1"
}
bad() {
	fail=$((fail + 1))
	echo "FAIL $1"
	sed 's/^/     stdout| /' "$out" | head -20
	sed 's/^/     stderr| /' "$errf" | head -20
}
# run WANT_RC CMD...: run CMD, keep stdout/stderr, check the exit code
run() {
	local want=$1
	shift
	calls=$((calls + 1))
	"$@" >"$out" 2>"$errf" </dev/null
	local rc=$?
	if [[ $rc -eq $want ]]; then ok "exit $rc: $*"; else bad "exit $rc (want $want): $*"; fi
}
as_user() { runuser -u "$USER_NAME" -- "$@"; }
# has FILE TEXT: FILE contains the fixed string TEXT
has() {
	if grep -qF -- "$2" "$1"; then ok "  ${1##*/} has: $2"; else bad "  ${1##*/} lacks: $2"; fi
}
hasnt() {
	if grep -qF -- "$2" "$1"; then bad "  ${1##*/} has unwanted: $2"; else ok "  ${1##*/} lacks: $2"; fi
}
same() {
	if [[ $(cat "$1") == "$2" ]]; then ok "  ${1##*/} is exactly: $2"; else bad "  ${1##*/} is not exactly: $2"; fi
}

DOCKER_PKGS=(docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin)
PERM="permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get \"http://%2Fvar%2Frun%2Fdocker.sock/v1.51/info\": dial unix /var/run/docker.sock: connect: permission denied"

echo "== privileges"
run 100 as_user apt-get install -y docker-ce
has "$errf" "E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)"
has "$errf" "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), are you root?"
run 100 as_user apt-get update
has "$errf" "E: Unable to lock directory /var/lib/apt/lists/"

echo "== before any Docker source"
run 100 apt-get install -y "${DOCKER_PKGS[@]}"
has "$errf" "E: Unable to locate package docker-ce"
has "$errf" "E: Couldn't find any package by regex 'containerd.io'"
run 0 apt-get remove -y docker.io docker-compose docker-compose-v2 docker-doc podman-docker containerd runc
has "$out" "Package 'docker.io' is not installed, so not removed"
run 100 apt-get remove -y docker-engine
has "$errf" "E: Unable to locate package docker-engine"
run 0 apt-get install -y ca-certificates curl
has "$out" "curl is already the newest version (8.5.0-2ubuntu10.6)."
run 0 dpkg-query -W -f='${Package} ${Status}\n' curl
same "$out" "curl install ok installed"
run 1 dpkg-query -W docker-ce
has "$errf" "dpkg-query: no packages found matching docker-ce"
run 1 systemctl is-enabled docker
has "$errf" "Failed to get unit file state for docker.service: No such file or directory"
run 3 systemctl is-active docker
same "$out" "inactive"
run 5 systemctl start docker
has "$errf" "Failed to start docker.service: Unit docker.service not found."
run 1 systemctl enable docker
has "$errf" "Failed to enable unit: Unit file docker.service does not exist."

echo "== source written, no update yet"
install -m 0755 -d /etc/apt/keyrings
curl -fsSL "$MIRROR/gpg" -o /etc/apt/keyrings/docker.asc
chmod a+r /etc/apt/keyrings/docker.asc
# Another key: well-formed, but not the one the mirror signs with.
printf '%s\n' '-----BEGIN PGP PUBLIC KEY BLOCK-----' '' 'mQINBFit2ioBEADhWpZ8/wvZ6hUTiXOwQHXMAlaFHcPH9hAtr4F1y2+OYdbtMuth' '-----END PGP PUBLIC KEY BLOCK-----' >/etc/apt/keyrings/other.asc
chmod a+r /etc/apt/keyrings/other.asc
# docker_sources URI [SUITE [KEY]]: the deb822 source Docker's install guide writes.
docker_sources() {
	printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: stable\nArchitectures: amd64\nSigned-By: %s\n' \
		"$1" "${2:-noble}" "${3:-/etc/apt/keyrings/docker.asc}"
}
docker_sources "$MIRROR" >/etc/apt/sources.list.d/docker.sources
run 100 apt-get install -y "${DOCKER_PKGS[@]}"
has "$errf" "E: Unable to locate package docker-ce"

echo "== update fetches the repository, then install"
run 0 apt-get update
has "$out" "Get:1 $MIRROR noble InRelease [702 B]"
has "$out" "$MIRROR noble/stable amd64 Packages"
has "$scratch/mirror.log" "GET /docker/linux/ubuntu/dists/noble/InRelease 200"
has "$scratch/mirror.log" "GET /docker/linux/ubuntu/dists/noble/stable/binary-amd64/Packages.gz 200"
run 0 apt-get update
has "$out" "Hit:1 $MIRROR noble InRelease"
hasnt "$out" "Packages"
run 0 apt-get install -y "${DOCKER_PKGS[@]}"
has "$out" "Setting up docker-ce (5:28.5.1-1~ubuntu.24.04~noble) ..."
if [[ -x /usr/bin/docker && $(stat -c %a /usr/bin/docker) == 755 ]]; then ok "/usr/bin/docker installed 0755"; else bad "/usr/bin/docker missing"; fi
if getent group docker >/dev/null; then ok "group docker exists"; else bad "group docker missing"; fi
run 0 apt-get install -y docker-ce
has "$out" "docker-ce is already the newest version (5:28.5.1-1~ubuntu.24.04~noble)."
run 0 systemctl is-active docker
same "$out" "active"
run 0 systemctl is-active --quiet containerd.service
same "$out" ""
run 0 systemctl is-enabled docker.service
same "$out" "enabled"
run 0 dpkg-query -W -f='${db:Status-Abbrev}|${Version}' docker-ce
same "$out" "ii |5:28.5.1-1~ubuntu.24.04~noble"

echo "== docker as root and as the user"
run 0 docker version --format '{{.Server.Version}}'
same "$out" "28.5.1"
run 0 docker run hello-world
has "$out" "Hello from Docker!"
run 1 as_user docker info
same "$errf" "ERROR: $PERM
errors pretty printing info"
run 0 as_user docker info --format '{{.ServerVersion}}'
same "$out" ""
same "$errf" "$PERM"
run 125 as_user docker run hello-world
has "$errf" "docker: permission denied while trying to connect to the Docker daemon socket"

echo "== usermod -aG docker: an older process keeps its groups, a new login gets them"
fifo=$shared/go.fifo
ready=$shared/ready.fifo
mkfifo -m 0666 "$fifo" "$ready"
# The old session: logged in (groups fixed) before usermod, runs docker only after it.
runuser -u "$USER_NAME" -- bash -c 'echo up >"$3"; read -r _ <"$1"; docker info --format "{{.ServerVersion}}" >"$2" 2>&1; echo "rc=$?" >>"$2"' _ "$fifo" "$shared/old-session.out" "$ready" &
old=$!
calls=$((calls + 1))
read -r _ <"$ready"
usermod -aG docker "$USER_NAME"
echo go >"$fifo"
wait "$old"
cp "$shared/old-session.out" "$out"
: >"$errf"
has "$out" "$PERM"
run 0 as_user docker info --format '{{.ServerVersion}}'
same "$out" "28.5.1"
same "$errf" ""

echo "== systemctl as user and daemon states"
run 1 as_user systemctl restart docker
has "$errf" "Failed to restart docker.service: Interactive authentication required."
run 0 systemctl stop docker
has "$errf" "Warning: Stopping docker.service, but it can still be activated by:"
run 3 systemctl is-active docker
run 0 docker info --format '{{.ServerVersion}}'
same "$out" "28.5.1"
run 0 systemctl stop docker.socket
run 1 docker ps
same "$errf" "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
run 0 systemctl enable --now docker docker.socket
run 0 systemctl is-active docker
same "$out" "active"

echo "== sources: docker.list and docker.sources together"
echo "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] $MIRROR noble stable" >/etc/apt/sources.list.d/docker.list
run 0 apt-get update
has "$errf" "W: Target Packages (stable/binary-amd64/Packages) is configured multiple times in /etc/apt/sources.list.d/docker.list:1 and /etc/apt/sources.list.d/docker.sources:1"
echo "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.gpg] $MIRROR noble stable" >/etc/apt/sources.list.d/docker.list
run 100 apt-get update
has "$errf" "E: Conflicting values set for option Signed-By regarding source $MIRROR/ noble: /etc/apt/keyrings/docker.gpg != /etc/apt/keyrings/docker.asc"
has "$errf" "E: The list of sources could not be read."
echo "deb $MIRROR" >/etc/apt/sources.list.d/docker.list
run 100 apt-get update
has "$errf" "E: Malformed entry 1 in list file /etc/apt/sources.list.d/docker.list (Suite)"
rm /etc/apt/sources.list.d/docker.list
# The repository's key file unreadable by _apt: the lists fetched before stay, apt only warns.
chmod 0600 /etc/apt/keyrings/docker.asc
run 0 apt-get update
has "$errf" "are ignored as the file is not readable by user '_apt' executing apt-key."
has "$errf" "W: An error occurred during the signature verification. The repository is not updated and the previous index files will be used. GPG error: $MIRROR noble InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY $MIRROR_KEYID"
chmod a+r /etc/apt/keyrings/docker.asc

echo "== remove and purge"
run 0 apt-get remove -y docker-ce
has "$out" "Removing docker-ce (5:28.5.1-1~ubuntu.24.04~noble) ..."
run 0 dpkg-query -W -f='${db:Status-Abbrev}' docker-ce
same "$out" "rc "
run 3 systemctl is-active docker
run 0 apt-get purge -y docker-ce
run 1 dpkg-query -W docker-ce
run 0 apt-get remove -y docker-ce-cli
if [[ ! -e /usr/bin/docker ]]; then ok "/usr/bin/docker removed with docker-ce-cli"; else bad "/usr/bin/docker left behind"; fi

echo "== the prompt without -y, and concurrent apt-get"
run 1 apt-get install docker-ce
has "$out" "Do you want to continue? [Y/n] Abort."
pids=()
for i in 1 2 3 4 5; do
	apt-get install -y -o DPkg::Lock::Timeout=30 "${DOCKER_PKGS[@]}" >"$shared/par$i.out" 2>&1 &
	pids+=($!)
done
calls=$((calls + 5))
par_fail=0
for p in "${pids[@]}"; do wait "$p" || par_fail=1; done
if ((par_fail == 0)); then ok "5 concurrent installs with a lock timeout all succeed"; else bad "a concurrent install failed"; fi

echo "== preinstalled knob"
rm -f /var/lib/labprov-world/state.json
echo 'preinstalled="docker.io runc"' >>/etc/labprov-world.conf
run 0 dpkg-query -W -f='${Package} ${Status}\n' docker.io runc
same "$out" "docker.io install ok installed
runc install ok installed"
run 0 apt-get update
run 0 apt-get install -y "${DOCKER_PKGS[@]}"
has "$out" "The following packages will be REMOVED:"
has "$out" "Removing docker.io (24.0.7-0ubuntu4.1) ..."
run 1 dpkg-query -W runc

echo "== repositories apt cannot fetch or verify (a fresh host state)"
rm -f /var/lib/labprov-world/state.json
sed -i '/^preinstalled=/d' /etc/labprov-world.conf
src=/etc/apt/sources.list.d/docker.sources
# A name the host cannot resolve: apt only warns, and the repository stays unknown.
docker_sources http://docker.invalid/linux/ubuntu >"$src"
run 0 apt-get update
has "$out" "Err:1 http://docker.invalid/linux/ubuntu noble InRelease"
has "$out" "  Temporary failure resolving 'docker.invalid'"
has "$errf" "W: Failed to fetch http://docker.invalid/linux/ubuntu/dists/noble/InRelease  Temporary failure resolving 'docker.invalid'"
has "$errf" "W: Some index files failed to download. They have been ignored, or old ones used instead."
run 100 apt-get install -y docker-ce
has "$errf" "E: Unable to locate package docker-ce"
# Nothing listens there: a warning too.
docker_sources http://127.0.0.1:9/linux/ubuntu >"$src"
run 0 apt-get update
has "$errf" "W: Failed to fetch http://127.0.0.1:9/linux/ubuntu/dists/noble/InRelease  Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)"
# A server without the repository: no Release file, an error.
docker_sources http://127.0.0.1:8080/nothing >"$src"
run 100 apt-get update
has "$out" "Ign:1 http://127.0.0.1:8080/nothing noble InRelease"
has "$out" "Err:2 http://127.0.0.1:8080/nothing noble Release"
has "$out" "  404  Not Found [IP: 127.0.0.1 8080]"
has "$errf" "E: The repository 'http://127.0.0.1:8080/nothing noble Release' does not have a Release file."
has "$errf" "N: Updating from such a repository can't be done securely, and is therefore disabled by default."
run 100 apt-get install -y docker-ce
has "$errf" "E: Unable to locate package docker-ce"
# A suite Docker does not publish.
docker_sources "$MIRROR" trusty >"$src"
run 100 apt-get update
has "$errf" "E: The repository '$MIRROR trusty Release' does not have a Release file."
# The repository, but the source names another key.
docker_sources "$MIRROR" noble /etc/apt/keyrings/other.asc >"$src"
run 100 apt-get update
has "$out" "Err:1 $MIRROR noble InRelease"
has "$errf" "W: GPG error: $MIRROR noble InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY $MIRROR_KEYID"
has "$errf" "E: The repository '$MIRROR noble InRelease' is not signed."
run 100 apt-get install -y docker-ce
has "$errf" "E: Unable to locate package docker-ce"
# The right key, but armored in a file named .gpg: apt-key ignores it.
cp /etc/apt/keyrings/docker.asc /etc/apt/keyrings/armored.gpg
docker_sources "$MIRROR" noble /etc/apt/keyrings/armored.gpg >"$src"
run 100 apt-get update
has "$errf" "W: $MIRROR/dists/noble/InRelease: The key(s) in the keyring /etc/apt/keyrings/armored.gpg are ignored as the file has an unsupported filetype."
has "$errf" "NO_PUBKEY $MIRROR_KEYID"
# The right key dearmored into a binary keyring (the guide's older `gpg --dearmor` recipe): trusted.
sed -n '/^$/,/^=/p' /etc/apt/keyrings/docker.asc | grep -v '^=' | tr -d '\n' | base64 -d >/etc/apt/keyrings/docker.gpg
chmod a+r /etc/apt/keyrings/docker.gpg
docker_sources "$MIRROR" noble /etc/apt/keyrings/docker.gpg >"$src"
run 0 apt-get update
same "$errf" ""
# A release file changed after it was signed.
sed -i 's/^Label: Docker CE$/Label: Docker CE (changed)/' "$scratch/mirror/docker/linux/ubuntu/dists/jammy/InRelease"
docker_sources "$MIRROR" jammy >"$src"
run 100 apt-get update
has "$errf" "W: GPG error: $MIRROR jammy InRelease: The following signatures were invalid: BADSIG $MIRROR_KEYID"
# A Packages index that is not the one the Release lists.
echo >>"$scratch/mirror/docker/linux/ubuntu/dists/plucky/stable/binary-amd64/Packages.gz"
docker_sources "$MIRROR" plucky >"$src"
run 100 apt-get update
has "$out" "  Hash Sum mismatch"
has "$errf" "E: Failed to fetch $MIRROR/dists/plucky/stable/binary-amd64/Packages.gz  Hash Sum mismatch"
# What a repository offers is what its Packages index lists, whatever its source file is called.
rm "$src"
echo "deb [signed-by=/etc/apt/keyrings/docker.asc] $MIRROR focal stable" >/etc/apt/sources.list.d/mirror.list
run 0 apt-get update
run 0 apt-get install -s docker-ce
has "$out" "Inst docker-ce (5:28.5.1-1~ubuntu.20.04~focal Docker CE:focal [amd64])"
run 0 apt-get install -y docker-ce
run 0 apt-get remove -y docker-ce
# dpkg still knows docker-ce (config-files), no source offers it any more.
rm /etc/apt/sources.list.d/mirror.list
run 0 apt-get update
run 100 apt-get install -y docker-ce
has "$out" "Package docker-ce is not available, but is referred to by another package."
has "$errf" "E: Package 'docker-ce' has no installation candidate"

echo "== calls.log"
if python3 - "$calls" <<'EOF'; then ok "calls.log: one well-formed line per invocation"; else bad "calls.log malformed"; fi
import json, sys
want = int(sys.argv[1])
lines = open("/var/lib/labprov-world/calls.log").read().splitlines()
recs = [json.loads(line) for line in lines]
assert all(set(r) == {"tool", "argv", "uid", "exit"} for r in recs), "keys"
assert len(recs) == want, (len(recs), want)
assert any(r["uid"] != 0 and r["tool"] == "docker" and r["exit"] == 1 for r in recs), "user docker call"
EOF
if [[ $(stat -c %a /var/lib/labprov-world/calls.log) == 666 ]]; then ok "calls.log is 0666"; else bad "calls.log mode"; fi

echo "== a call that cannot be logged fails loudly (exit 125), never silently"
log=/var/lib/labprov-world/calls.log
lines() { wc -l <"$log"; }
n0=$(lines)
run 0 as_user dpkg-query -W curl
if (($(lines) == n0 + 1)); then ok "  a logged call adds its line"; else bad "  a logged call added no line"; fi
chmod 0644 "$log" # the user can no longer open it
n0=$(lines)
run 125 as_user dpkg-query -W curl
has "$errf" "labprov-world: dpkg-query: cannot append to $log: [Errno 13] Permission denied"
if (($(lines) == n0)); then ok "  ... and adds no line"; else bad "  ... yet a line was added"; fi
chmod 0666 "$log"
mount --bind /dev/full "$log" # every write fails with ENOSPC
run 125 systemctl is-active docker
has "$errf" "labprov-world: systemctl: cannot append to $log: [Errno 28] No space left on device"
run 125 apt-get update
umount "$log"
run 0 dpkg-query -W curl


echo "== kubectl exec: probes from pods answer from the cluster's objects (_kube.py \"pod network\")"
# A cluster made by the minikube stand-in's own functions (no docker daemon needed), the kubectl
# that build-mirror ships (with its API schemas) in /usr/local/bin, Istio by the istioctl stand-in.
UH=/home/$USER_NAME
python3 - "$WORLD/build-mirror" /usr/local/bin/kubectl <<'EOF' || exit 1
import importlib.machinery, importlib.util, os, sys
sys.dont_write_bytecode = True
loader = importlib.machinery.SourceFileLoader("build_mirror", sys.argv[1])
bm = importlib.util.module_from_spec(importlib.util.spec_from_loader("build_mirror", loader))
loader.exec_module(bm)
with open(sys.argv[2], "wb") as f:
    f.write(bm.inline("kubectl", "v1.37.1", schemas=bm.api_schemas()))
os.chmod(sys.argv[2], 0o755)
d = "/usr/local/share/labprov-selfcheck"
for name, (data, _mode) in bm.istio_files("1.27.1", b"").items():
    if name.startswith("samples/"):
        os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
EOF
as_user env HOME="$UH" python3 - /usr/lib/labprov-world/standins/minikube <<'EOF' || exit 1
import importlib.machinery, importlib.util, os, sys
sys.dont_write_bytecode = True
src = sys.argv[1]
sys.argv = ["minikube"]
loader = importlib.machinery.SourceFileLoader("mk", src)
mk = importlib.util.module_from_spec(importlib.util.spec_from_loader("mk", loader))
loader.exec_module(mk)
mp, sdir = mk.paths()
os.makedirs(os.path.join(mp, "profiles", mk.PROFILE), exist_ok=True)
cfg = mk.cluster_config(2, 4000, "v1.34.0", "cilium", {"storage-provisioner": True, "default-storageclass": True})
mk._kube.atomic_write(os.path.join(mp, "ca.crt"), mk.FAKE_PEM)
mk.write_profile_config(mp, cfg)
mk._kube.save_cluster(sdir, {"Name": mk.PROFILE, "Host": "Running", "Kubelet": "Running", "APIServer": "Running",
                             "Kubeconfig": "Configured", "Config": cfg, "Starts": []})
mk.prepare_node(sdir, fresh=True, dns_broken=False)
store = mk._kube.Store(sdir)
mk.bootstrap_objects(store, cfg)
mk._kube.commit(store)
mk.update_kubeconfig(mp)
EOF
echo "pod_dns_timeout=1" >>/etc/labprov-world.conf
kc() { as_user env HOME="$UH" /usr/local/bin/kubectl "$@"; }
kx() { kc exec "$@"; }
kapply() { kc apply -f - >/dev/null <<<"$1" || bad "kubectl apply failed: $1"; }
SAMPLES=/usr/local/share/labprov-selfcheck/samples
kapply 'apiVersion: v1
kind: Namespace
metadata: {name: np}
---
apiVersion: v1
kind: Namespace
metadata: {name: other, labels: {team: blue}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: np, labels: {app: web}}
spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 80, name: http}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: np}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: http}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: np, labels: {access: allowed}}
spec: {containers: [{name: a, image: "registry.k8s.io/e2e-test-images/agnhost:2.53", command: [/agnhost, pause]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: np}
spec: {containers: [{name: b, image: "registry.k8s.io/e2e-test-images/agnhost:2.53", command: [/agnhost, pause]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: o, namespace: other}
spec: {containers: [{name: o, image: "registry.k8s.io/e2e-test-images/agnhost:2.53", command: [/agnhost, pause]}]}'
connect() { kx -n "$1" "$2" -- /agnhost connect "$3" --timeout=1s; }
# probes NS POD TARGET...: one exec for several targets (each exec is a kubectl start), one line
# each: "TARGET EXIT WORD", WORD = what agnhost connect printed before its first ':'.
probes() {
	local ns=$1 pod=$2
	shift 2
	kx -n "$ns" "$pod" -- sh -c 'for t; do /agnhost connect "$t" --timeout=1s 2>/tmp/e; printf "%s %s %s\n" "$t" "$?" "$(cut -d: -f1 /tmp/e)"; done' sh "$@"
}

echo "-- exec itself"
run 0 connect np b web:80
run 0 probes np b web.np.svc.cluster.local:80 web.np:80 web:81 nothere:80
same "$out" $'web.np.svc.cluster.local:80 0 \nweb.np:80 0 \nweb:81 1 REFUSED\nnothere:80 1 DNS'
run 1 kx -n np nope -- /agnhost connect web:80
same "$errf" 'Error from server (NotFound): pods "nope" not found'
run 1 kx -n np b /agnhost connect web:80
has "$errf" "error: exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead"
run 1 kx -n np b -c x -- true
same "$errf" "error: container x not found in pod b"
run 1 kx -n np b -- wget -qO- web
has "$errf" 'exec: "wget": executable file not found in $PATH: unknown'
run 0 kx -n np b -- sh -c 'for i in 1 2 3; do curl -s -o /dev/null -w "%{http_code} " web; done; hostname'
same "$out" "200 200 200 b"
run 3 kx -n np b -- sh -c 'exit 3'
same "$errf" "command terminated with exit code 3"
run 1 connect np b nothere:80
has "$errf" "DNS: lookup nothere on 10.96.0.10:53: no such host"
run 6 kx -n np b -- curl -sS http://nothere/
has "$errf" "curl: (6) Could not resolve host: nothere"

echo "-- NetworkPolicy: deny-all ingress (positive control above: b reaches web)"
kapply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: np}
spec: {podSelector: {}, policyTypes: [Ingress]}'
run 1 connect np b web:80
same "$errf" $'TIMEOUT\ncommand terminated with exit code 1'
run 28 kx -n np b -- curl -sS -m 1 http://web/
has "$errf" "curl: (28) Connection timed out after"
echo "netpol=off" >>/etc/labprov-world.conf
run 0 connect np b web:80
sed -i '/^netpol=off$/d' /etc/labprov-world.conf
run 1 connect np b web:80

echo "-- allow from labels (podSelector), from a namespace (kubernetes.io/metadata.name), named port"
kapply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow, namespace: np}
spec:
  podSelector: {matchExpressions: [{key: app, operator: In, values: [web]}]}
  ingress:
  - from: [{podSelector: {matchLabels: {access: allowed}}}]
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: other}}}]
    ports: [{port: http}]'
run 0 probes np a web:80 web:81
same "$out" $'web:80 0 \nweb:81 1 REFUSED'
run 0 probes np b web:80
same "$out" "web:80 1 TIMEOUT"
run 0 connect other o web.np:80
kc delete netpol -n np allow >/dev/null
run 1 connect other o web.np:80

echo "-- egress: ipBlock with except, DNS only when UDP 53 to kube-dns is allowed"
kc delete netpol -n np deny >/dev/null
kapply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress, namespace: np}
spec:
  podSelector: {matchLabels: {access: allowed}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 192.168.49.0/24, except: [192.168.49.2/32]}}]
  - to: [{namespaceSelector: {}}]
    ports: [{protocol: UDP, port: 53}]'
run 0 kx -n np a -- nslookup web
has "$out" "Name:	web.np.svc.cluster.local"
run 0 probes np a web:80 host.minikube.internal:22 192.168.49.1:80 192.168.49.2:8443
same "$out" $'web:80 1 TIMEOUT\nhost.minikube.internal:22 0 \n192.168.49.1:80 1 REFUSED\n192.168.49.2:8443 1 TIMEOUT'
run 0 connect np b 192.168.49.2:8443
kc delete netpol -n np egress >/dev/null
kapply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress, namespace: np}
spec:
  podSelector: {matchLabels: {access: allowed}}
  egress: [{to: [{ipBlock: {cidr: 192.168.49.0/24}}]}]'
run 1 kx -n np a -- nslookup web
has "$out" ";; connection timed out; no servers could be reached"
run 0 kx -n np b -- nslookup web

echo "-- node DNS broken: pods still resolve cluster names, not outside ones (CoreDNS forwards to the node)"
run 0 kx -n np b -- nslookup example.com
has "$out" "Name:	example.com"
nodeconf=$UH/.minikube/standin/node/etc/resolv.conf
cp "$nodeconf" "$scratch/resolv.good"
echo "nameserver 10.0.0.10" >"$nodeconf" # what `start --dns-broken` gives the node
run 1 kx -n np b -- nslookup example.com
has "$out" "** server can't find example.com: SERVFAIL"
run 0 kx -n np b -- nslookup web
cat "$scratch/resolv.good" >"$nodeconf"

echo "-- kubectl run: a Running pod with an address, at once; delete removes it"
run 0 kc run -n np probe --image=registry.k8s.io/e2e-test-images/agnhost:2.53 -l app.kubernetes.io/managed-by=labprov -- pause
run 0 kc get pod -n np probe -o 'jsonpath={.status.phase} {.status.podIP} {.metadata.labels}'
has "$out" 'Running 10.244.0.'
has "$out" '"app.kubernetes.io/managed-by":"labprov"'
run 0 connect np probe web:80
run 0 kc delete pod -n np probe
run 1 kx -n np probe -- true

echo "-- Istio: sidecars, mTLS, weights, gateway, Prometheus"
run 0 as_user env HOME="$UH" PATH="/usr/local/bin:/usr/bin:/bin" python3 /usr/lib/labprov-world/standins/istioctl install --set profile=demo -y
kc label ns default istio-injection=enabled >/dev/null
kc apply -f "$SAMPLES/bookinfo/platform/kube/bookinfo.yaml" -f "$SAMPLES/bookinfo/networking/bookinfo-gateway.yaml" \
	-f "$SAMPLES/bookinfo/networking/destination-rule-all.yaml" -f "$SAMPLES/curl/curl.yaml" -f "$SAMPLES/addons/prometheus.yaml" >/dev/null
kapply 'apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: Pod
metadata: {name: legacy, namespace: legacy}
spec: {containers: [{name: legacy, image: curlimages/curl, command: [sleep, "3600"]}]}'
run 0 kc get pod -l app=curl -o 'jsonpath={.items[0].spec.initContainers[*].name}'
same "$out" "istio-proxy"
run 0 kc get pod -n legacy legacy -o 'jsonpath={.spec.initContainers[*].name}'
same "$out" ""
prom() { kx -n legacy legacy -- curl -s "prometheus.istio-system:9090/api/v1/query?query=istio_requests_total"; }
run 0 prom
has "$out" '"result":[]'
run 0 kx -n legacy legacy -- curl -sS -o /dev/null -w '%{http_code}' productpage.default:9080/productpage
same "$out" "200"
kapply 'apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}'
run 56 kx -n legacy legacy -- curl -sS -o /dev/null -w '%{http_code}' productpage.default:9080/productpage
same "$out" "000"
has "$errf" "curl: (56) Recv failure: Connection reset by peer"
run 0 kx -n legacy legacy -- /bin/sh -c 'true' # a shell, not /agnhost: curl image
run 0 kx deploy/curl -- curl -sS -o /dev/null -w '%{http_code}' productpage:9080/productpage
same "$out" "200"
# a Service without endpoints: refused for a pod without sidecar, Envoy's 503 for one with
kapply 'apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec: {selector: {app: nothing}, ports: [{port: 80, name: http}]}'
run 7 kx -n legacy legacy -- curl -sS -o /dev/null -w '%{http_code}' empty.default
run 0 kx deploy/curl -- curl -sS -w ' %{http_code}' empty
same "$out" "no healthy upstream 503"
kapply 'apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: PERMISSIVE}}'
run 0 kx -n legacy legacy -- curl -sS -o /dev/null -w '%{http_code}' productpage.default:9080/productpage
run 0 kx -n legacy legacy -- curl -sS -o /dev/null -w '%{http_code}' istio-ingressgateway.istio-system/productpage
same "$out" "200"
run 0 kx -n legacy legacy -- curl -sS -o /dev/null -w '%{http_code}' istio-ingressgateway.istio-system/nothing
same "$out" "404"
run 0 prom
has "$out" '"destination_service":"productpage.default.svc.cluster.local"'
# weights: N requests from a pod in the mesh, counted by the stars productpage shows
split() {
	kapply "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: v1}, weight: $1}, {destination: {host: reviews, subset: v2}, weight: $2}, {destination: {host: reviews, subset: v3}, weight: $3}]}]"
	kx deploy/curl -c curl -- sh -c "for i in \$(seq $4); do curl -s productpage:9080/productpage | grep -o 'text-[a-z]*-500' | head -1 | grep . || echo v1; done" |
		sed 's/text-black-500/v2/; s/text-red-500/v3/' | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}'
}
# 90/5/5 over 40: v1 >= 28 fails with probability ~1e-4 (binomial); 0/50/50 over 16: no v1 at
# all, and both v2 and v3 seen (each missed with probability 2^-16).
s1=$(split 90 5 5 40)
v1=$(sed -n 's/.*v1=\([0-9]*\).*/\1/p' <<<"$s1")
if ((${v1:-0} >= 28)); then ok "  90/5/5 over 40 requests: $s1"; else bad "  90/5/5 over 40 requests: $s1"; fi
s2=$(split 0 50 50 16)
if [[ $s2 != *v1=* && $s2 == *v2=* && $s2 == *v3=* ]]; then ok "  0/50/50 over 16 requests: $s2"; else bad "  0/50/50 over 16 requests: $s2"; fi
run 0 kx -n legacy legacy -- curl -s -o /dev/null -w '%{http_code}' prometheus.istio-system:9090/
same "$out" "302"
run 0 kx -n legacy legacy -- curl -sL -o/dev/null -w '%{http_code}' prometheus.istio-system:9090/
same "$out" "200"
run 0 kx -n legacy legacy -- sh -c 'echo a b | awk "{print \$2}"'
same "$out" "b"
kc -n istio-system scale deploy prometheus --replicas=0 >/dev/null
run 7 prom

echo "$pass passed, $fail failed"
((fail == 0))
