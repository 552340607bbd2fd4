{% include "steps/download.lib.sh" %}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch_verified "$work/istio.tar.gz"
parent={{ cfg.paths.istio_dir | q }}
home={{ istio_home | q }}
link={{ cfg.paths.bin_dir | q }}/istioctl
as_root install -d -m 0755 "$parent" "$(dirname "$link")"
# Unpack next to the final directory and rename into place, so samples/ is complete or absent.
stage=$(as_root mktemp -d "$parent/.istio-unpack.XXXXXX")
# A failed unpack (a corrupt archive) must not leave a partial release beside the final one.
trap 'rm -rf "$work"; as_root rm -rf "$stage"' EXIT
as_root tar -xzf "$work/istio.tar.gz" -C "$stage" --no-same-owner
if ! as_root test -x "$stage/istio-{{ artifact.version }}/bin/istioctl"; then
  as_root rm -rf "$stage"
  echo "the Istio archive has no istio-{{ artifact.version }}/bin/istioctl" >&2
  exit 1
fi
as_root chmod 0755 "$stage"
as_root rm -rf "$home"
as_root mv "$stage/istio-{{ artifact.version }}" "$home"
as_root rm -rf "$stage"
as_root ln -sfn "$home/bin/istioctl" "$link.labprov-new"
as_root mv -Tf "$link.labprov-new" "$link"
did "unpacked Istio {{ artifact.version }} in $home (istioctl, samples/)"
