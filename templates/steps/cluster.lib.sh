mk={{ cfg.paths.bin_dir | q }}/minikube
cluster_running() {
  [ -x "$mk" ] && "$mk" status -o json >/dev/null 2>&1
}
