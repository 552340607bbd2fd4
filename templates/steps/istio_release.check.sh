home={{ istio_home | q }}
link={{ cfg.paths.bin_dir | q }}/istioctl
if [ ! -x "$home/bin/istioctl" ] || [ ! -d "$home/samples" ]; then
  reason "Istio {{ artifact.version }} is not unpacked in $home"
  exit 1
fi
if [ "$(readlink "$link" 2>/dev/null)" != "$home/bin/istioctl" ]; then
  reason "$link does not point to Istio {{ artifact.version }}"
  exit 1
fi
exit 0
