# labprov tunnel: helpers of the scripts that start and stop forwarders.
# Alive and not a zombie (kill -0 succeeds on a zombie until it is reaped).
alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  case "$st" in
    Z*) return 1 ;;
  esac
}
