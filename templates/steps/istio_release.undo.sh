home={{ istio_home | q }}
link={{ cfg.paths.bin_dir | q }}/istioctl
if [ ! -e "$home" ] && [ ! -L "$link" ]; then
  echo "::unchanged"
  exit 0
fi
if [ "$(readlink "$link" 2>/dev/null)" = "$home/bin/istioctl" ]; then
  as_root rm -f "$link"
fi
as_root rm -rf "$home"
