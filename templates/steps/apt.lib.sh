# A fresh cloud VM's first boot (cloud-init, then unattended-upgrades) holds the dpkg and apt
# lists locks for minutes. `apt_get ARGS` runs apt-get as root and waits for them, up to
# run.apt_lock_timeout seconds, saying who holds them (::progress) while it waits.
# DPkg::Lock::Timeout makes apt wait for the dpkg lock itself; update's lists lock is taken
# without waiting (pkgAcquire), so a refusal that names a lock is retried here.
apt_get() {
  local limit={{ cfg.run.apt_lock_timeout }} start=$SECONDS out rc held lock pid name what waited
  while :; do
    rc=0
    out=$(as_root apt-get -o DPkg::Lock::Timeout=5 "$@" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then
      if [ -n "$out" ]; then printf '%s\n' "$out" >&2; fi
      return 0
    fi
    held=$(printf '%s\n' "$out" |
      sed -n 's/^E: Could not get lock \([^ ]*\)\. It is held by process \([0-9]*\) (\(.*\)).*$/\1 \2 \3/p' | head -n 1)
    waited=$((SECONDS - start))
    if [ -z "$held" ] || [ "$waited" -ge "$limit" ]; then
      printf '%s\n' "$out" >&2
      if [ -n "$held" ]; then
        echo "gave up after ${waited}s waiting for ${held%% *} (run.apt_lock_timeout)" >&2
      fi
      return "$rc"
    fi
    read -r lock pid name <<<"$held"
    case $lock in */lists/*) what="apt lists lock" ;; *) what="dpkg lock" ;; esac
    printf '::progress waiting for the %s held by PID %s (%s), %d:%02d so far\n' \
      "$what" "$pid" "$name" $((waited / 60)) $((waited % 60))
    sleep 3
  done
}
# cloud-init may still be installing packages or writing sources on a fresh VM: wait for it
# to finish first (as `cloud-init status --wait` would), up to the same limit.
wait_cloud_init() {
  command -v cloud-init >/dev/null 2>&1 || return 0
  local limit={{ cfg.run.apt_lock_timeout }} start=$SECONDS waited
  while cloud-init status 2>/dev/null | grep -q '^status: running'; do
    waited=$((SECONDS - start))
    if [ "$waited" -ge "$limit" ]; then
      echo "cloud-init is still running after ${waited}s (run.apt_lock_timeout)" >&2
      return 1
    fi
    printf '::progress waiting for cloud-init to finish, %d:%02d so far\n' $((waited / 60)) $((waited % 60))
    sleep 3
  done
}
