#!/bin/bash
# selfcheck.sh: a hand-run check of the apt-get, dpkg-query, systemctl and docker stand-ins.
# Run as root on a development machine: `bash tests/world/standins/selfcheck.sh`.
#
# It builds a throwaway host like the world's targets: a private mount namespace in which /etc /usr
# /var /home /root are overlays on a tmpfs, the stand-ins copied to /usr/lib/labprov-world/standins and
# bound over /usr/bin/{apt-get,dpkg-query,systemctl}, and a login user. It then walks the Docker
# install the lab guide describes and checks each step's output and exit code. Afterwards it checks,
# from outside, that nothing leaked to the machine (tools, /etc/group, state dirs, the user).
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
	scratch=$(mktemp -d)
	unshare --mount --propagation private bash "$HERE/selfcheck.sh" --inside "$scratch"
	rc=$?
	rmdir "$scratch"
	leaks=0
	if [[ $(sha256sum "${watched[@]}") != "$before" ]]; then
		echo "LEAK: a real tool or /etc/group|passwd changed" >&2
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
printf '%s\n' '-----BEGIN PGP PUBLIC KEY BLOCK-----' '' 'mQINBFit2ioBEADhWpZ8/wvZ6hUTiXOwQHXMAlaFHcPH9hAtr4F1y2+OYdbtMuth' '-----END PGP PUBLIC KEY BLOCK-----' >/etc/apt/keyrings/docker.asc
chmod a+r /etc/apt/keyrings/docker.asc
cat >/etc/apt/sources.list.d/docker.sources <<'EOF'
Types: deb
URIs: https://download.docker.com/linux/ubuntu
Suites: noble
Components: stable
Architectures: amd64
Signed-By: /etc/apt/keyrings/docker.asc
EOF
run 100 apt-get install -y "${DOCKER_PKGS[@]}"
has "$errf" "E: Unable to locate package docker-ce"

echo "== update, then install"
run 0 apt-get update
has "$out" "https://download.docker.com/linux/ubuntu noble InRelease"
has "$out" "Get:"
run 0 apt-get update
has "$out" "Hit:"
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
echo "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/ubuntu noble stable" >/etc/apt/sources.list.d/docker.list
run 0 apt-get update
has "$errf" "W: Target Packages (stable/binary-amd64/Packages) is configured multiple times in /etc/apt/sources.list.d/docker.list:1 and /etc/apt/sources.list.d/docker.sources:1"
echo "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/ubuntu noble stable" >/etc/apt/sources.list.d/docker.list
run 100 apt-get update
has "$errf" "E: Conflicting values set for option Signed-By regarding source https://download.docker.com/linux/ubuntu/ noble: /etc/apt/keyrings/docker.gpg != /etc/apt/keyrings/docker.asc"
has "$errf" "E: The list of sources could not be read."
echo "deb https://download.docker.com/linux/ubuntu" >/etc/apt/sources.list.d/docker.list
run 100 apt-get update
has "$errf" "E: Malformed entry 1 in list file /etc/apt/sources.list.d/docker.list (Suite)"
rm /etc/apt/sources.list.d/docker.list
chmod 0600 /etc/apt/keyrings/docker.asc
run 100 apt-get update
has "$errf" "are ignored as the file is not readable by user '_apt' executing apt-key."
has "$errf" "E: The repository 'https://download.docker.com/linux/ubuntu noble InRelease' is not signed."
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

echo "$pass passed, $fail failed"
((fail == 0))
