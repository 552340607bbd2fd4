# Facts: what the host is, so the plan can say what will happen and refuse early.
if [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091
  . /etc/os-release
fi
fact os "${ID:-unknown}"
fact os_version "${VERSION_ID:-unknown}"
fact codename "${UBUNTU_CODENAME:-${VERSION_CODENAME:-unknown}}"
fact arch "$(dpkg --print-architecture 2>/dev/null || uname -m)"
fact cpus "$(nproc)"
fact mem_mib "$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)"
fact disk_free_mib "$(df -Pm / | awk 'NR == 2 {print $4}')"
# Docker's data root holds the node image and every image of the lab: its file system (the
# nearest existing directory's, before Docker is installed) is the disk that must be big enough.
d=/var/lib/docker
while [ ! -e "$d" ]; do d=${d%/*}; d=${d:-/}; done
fact docker_free_mib "$(df -Pm "$d" | awk 'NR == 2 {print $4}')"
# Whether the cluster's node exists (running, paused, exited; empty: none): resources and disk
# matter for a cluster still to be made. Asked once per check (the cluster step reuses it).
fact node "$(node_state)"
case "$(node_state)" in
  running | paused) ;;
  *)
    # What a new cluster is measured against (labprov decides from these whether it fits, and
    # what cluster.cpus/memory = "auto" pick): the runtime's CPUs and memory as minikube reads
    # them (docker info NCPU and MemTotal, in bytes), or, while Docker cannot be asked yet,
    # the host's own, which is what dockerd will report.
    rt_cpus='' rt_bytes='' rt_cgroup=''
    if rt=$(docker info --format '{% raw %}{{.NCPU}} {{.MemTotal}} {{.CgroupVersion}}{% endraw %}' 2>/dev/null); then
      read -r rt_cpus rt_bytes rt_cgroup <<<"$rt" || true
    fi
    # And what else decides whether a new cluster works (src/doctor/judge.rs judges them, for
    # plan and doctor alike): the cgroup version its kubelet gets (Docker's, else the file
    # system at /sys/fs/cgroup), and the routes minikube's network and the pod pool must miss.
    fact docker_cgroup "$rt_cgroup"
    fact cgroup_fs "$(stat -fc %T /sys/fs/cgroup 2>/dev/null || echo unknown)"
    printf '::data routes %s\n' "$(ip -4 route show table main 2>&1 | base64 -w0)"
    if [[ $rt_cpus =~ ^[1-9][0-9]*$ && $rt_bytes =~ ^[1-9][0-9]*$ ]]; then
      fact runtime_cpus "$rt_cpus"
      fact runtime_mem_mb "$((rt_bytes / 1048576))"
      fact runtime_from docker
    else
      fact runtime_cpus "$(nproc)"
      fact runtime_mem_mb "$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)"
      fact runtime_from host
    fi
    ;;
esac
# The host's clock (ms since the epoch): labprov compares it with its own when it sent this
# check; one far off breaks TLS and apt's Release files.
fact clock_ms "$(date +%s%3N)"
fact user "$(id -un)"
fact uid "$(id -u)"
if [ "$(id -u)" -eq 0 ]; then
  fact sudo root
elif sudo -n true 2>/dev/null; then
  fact sudo ok
elif command -v sudo >/dev/null 2>&1; then
  fact sudo password
else
  fact sudo missing
fi
fact nameserver "$(awk '$1 == "nameserver" {print $2; exit}' /etc/resolv.conf 2>/dev/null)"
# How many runs took labprov's lock on this host so far: a run that takes it later and finds
# another number knows this check may be stale (another run changed the host in between).
lock_gen=$(cat "$HOME/.local/state/labprov-lock/lock.gen" 2>/dev/null || echo 0)
printf '::data lock_gen %s\n' "$(printf '%s' "$lock_gen" | base64 -w0)"
exit 0
