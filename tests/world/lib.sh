# shellcheck shell=bash
# Shared helpers for tests/world/{start,stop,exec}. Sourced, never run.
# Naming (see README.md): netns lpID-b (bastion) and lpID-hK (targets), root-ns veth lpID-c.

WORLD_MARKER=.labprov-world            # file in DIR that proves DIR is a world dir we may delete
WORLD_BASE=/run/labprov-world          # parent of the default DIR

world_warn() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
world_die() { world_warn "$*"; exit 1; }

# world_check_id ID: worlds are numbered 1..250 (the ID is an octet of their subnets).
world_check_id() {
	if ! [[ $1 =~ ^[1-9][0-9]{0,2}$ ]] || (($1 > 250)); then world_die "bad world id '$1' (want 1..250)"; fi
}

# world_netns ID: prints this world's netns names (only those that exist).
world_netns() {
	ip netns list | awk '{print $1}' | grep -E "^lp$1-(b|h[0-9]+)\$" || true
}

# world_dir_of_running ID: recovers DIR of a running world from its sshds' or holders' command
# lines (for stop/exec/fault called with --id but a non-default --dir). Prints nothing if not found.
world_dir_of_running() {
	local ns pid cmd re='(^| )-f (/[^ ]+)/(bastion|h[0-9]+)/sshd_config( |$)'
	local re_holder='^(/[^ ]+)/(bastion|h[0-9]+)/holder( |$)'
	for ns in $(world_netns "$1"); do
		for pid in $(ip netns pids "$ns" 2>/dev/null || true); do
			# sshd rewrites its argv into one string ("sshd: /usr/sbin/sshd -D -f ..."), so
			# match on the space-joined command line; a holder is "DIR/HOST/holder infinity"
			cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
			if [[ $cmd =~ $re ]]; then
				printf '%s\n' "${BASH_REMATCH[2]}"
				return 0
			fi
			if [[ $cmd =~ $re_holder ]]; then
				printf '%s\n' "${BASH_REMATCH[1]}"
				return 0
			fi
		done
	done
}

# world_resolve_dir ID DIR: prints the world dir to use (DIR if given, else the default,
# else the one a running world with this ID was started with).
world_resolve_dir() {
	local id=$1 dir=$2 found
	if [[ -n $dir ]]; then
		realpath -m -- "$dir"
		return
	fi
	if [[ -e $WORLD_BASE/$id/$WORLD_MARKER ]]; then
		printf '%s\n' "$WORLD_BASE/$id"
		return
	fi
	found=$(world_dir_of_running "$id")
	printf '%s\n' "${found:-$WORLD_BASE/$id}"
}

# world_pid_ok PID DIR: true if PID is alive and its command line mentions DIR, i.e. it
# really is one of this world's processes (pid files may be stale and pids reused).
world_pid_ok() {
	local cmd
	[[ $1 =~ ^[0-9]+$ ]] || return 1
	cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
	[[ $cmd == *"$2/"* ]]
}

# world_pids ID DIR: every process of the world: members of its netns, the processes named
# by its pid files, and anything sharing a mount namespace with those (e.g. `nsenter -m`).
# Written to be safe under `set -e` inside a process substitution (it must never fail quietly).
world_pids() {
	local id=$1 dir=$2 ns f pid ino self_ino stats
	local -A seen=() mnts=()
	for ns in $(world_netns "$id"); do
		for pid in $(ip netns pids "$ns" 2>/dev/null || true); do seen[$pid]=1; done
	done
	if [[ -d $dir ]]; then
		for f in "$dir"/*/pid; do
			[[ -f $f ]] || continue
			pid=$(<"$f")
			if world_pid_ok "$pid" "$dir"; then seen[$pid]=1; fi
		done
	fi
	# mount namespace inode of every process, in one go ("/proc/PID/ns/mnt INODE" lines)
	self_ino=$(stat -L -c %i /proc/self/ns/mnt)
	stats=$(stat -L -c '%n %i' /proc/[0-9]*/ns/mnt 2>/dev/null || true)
	while read -r f ino; do
		pid=${f#/proc/}
		pid=${pid%%/*}
		# never treat our own (the machine's) mount namespace as the world's
		if [[ -n ${seen[$pid]:-} && $ino != "$self_ino" ]]; then mnts[$ino]=1; fi
	done <<<"$stats"
	if ((${#mnts[@]})); then
		while read -r f ino; do
			pid=${f#/proc/}
			if [[ -n ${mnts[$ino]:-} ]]; then seen[${pid%%/*}]=1; fi
		done <<<"$stats"
	fi
	unset "seen[$$]" "seen[$BASHPID]"
	if ((${#seen[@]})); then printf '%s\n' "${!seen[@]}"; fi
}

# world_dir_safe DIR: refuses paths we must never create or delete.
world_dir_safe() {
	local d=$1
	[[ $d == /* && $d =~ ^/[A-Za-z0-9._/+-]+$ ]] || return 1
	[[ $d != *//* && $d != */ && $d != */./* && $d != */../* && $d != */. && $d != */.. ]] || return 1
	# at least two levels deep, and not inside the dirs the targets overlay (nor /tmp):
	# sshd in a target re-execs and must still see DIR there.
	[[ $d == /*/* ]] || return 1
	case $d in
	/etc | /etc/* | /usr | /usr/* | /var | /var/* | /opt | /opt/* | /home | /home/* | /root | /root/* | /tmp | /tmp/* | /proc/* | /sys/* | /dev/* | /boot/* | /bin/* | /sbin/* | /lib/* | /lib64/*) return 1 ;;
	esac
	return 0
}

# world_teardown ID DIR: kills the world's processes, deletes its netns/links/route,
# lazily unmounts leftovers under DIR and removes DIR (only if it carries our marker).
world_teardown() {
	local id=$1 dir=$2 i sig pids ns mp
	for ((i = 0; i < 60; i++)); do
		mapfile -t pids < <(world_pids "$id" "$dir")
		((${#pids[@]})) || break
		# TERM first (sshd/mirror exit cleanly), KILL after ~2s
		if ((i < 20)); then sig=TERM; else sig=KILL; fi
		kill -s "$sig" "${pids[@]}" 2>/dev/null || true
		sleep 0.1
	done
	if ((${#pids[@]})); then
		world_warn "world $id: processes still alive after KILL: ${pids[*]}"
	fi

	# Deleting lpID-c also deletes its peer in the bastion; do it explicitly because netns
	# destruction is asynchronous and a quick restart would otherwise find the name taken.
	if ip link show "lp$id-c" >/dev/null 2>&1; then ip link del "lp$id-c" 2>/dev/null || true; fi
	ip route del unreachable "10.211.$id.0/24" 2>/dev/null || true
	for ns in $(world_netns "$id"); do
		ip netns del "$ns" 2>/dev/null || world_warn "could not delete netns $ns"
	done

	[[ -n $dir ]] || return 0
	world_dir_safe "$dir" || {
		world_warn "refusing to clean up unsafe dir '$dir'"
		return 1
	}
	# Overlays live in the targets' private mount namespaces and vanish with them; anything
	# still mounted under DIR in this namespace is a leftover: detach it lazily.
	while IFS= read -r mp; do
		umount -l -- "$mp" 2>/dev/null || world_warn "could not unmount $mp"
	done < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r)

	if [[ -d $dir ]]; then
		if [[ -e $dir/$WORLD_MARKER ]]; then
			rm -rf --one-file-system -- "$dir"
		elif rmdir -- "$dir" 2>/dev/null; then
			: # was empty
		else
			world_warn "not removing $dir: it has no $WORLD_MARKER, so it is not a lab world dir"
			return 1
		fi
	fi
	# drop the default parent once the last world is gone
	if [[ $dir == "$WORLD_BASE"/* ]]; then rmdir -- "$WORLD_BASE" 2>/dev/null || true; fi
	return 0
}
