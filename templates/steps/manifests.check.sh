if ! cluster_up; then
  reason "cluster not running yet"
  exit 1
fi
# Which cluster: state recorded for a cluster since deleted must not count.
uid=$(kube_field ns kube-system)
if [ -z "$uid" ]; then
  reason "cannot read the cluster"
  exit 1
fi
printf '::data cluster_uid %s\n' "$(printf '%s' "$uid" | base64 -w0)"
state="{{ state_path }}"
if [ -r "$state" ]; then
  printf '::data state %s\n' "$(base64 -w0 "$state")"
fi
# The release's sample files by content hash (sha256), not by content: the controller asks
# for a file only when it does not hold that content yet (src/manifests.rs, release_from_cache).
python3 -c '
import base64, glob, hashlib, json, os, sys
home = sys.argv[1]
files, rc = {}, 0
for pattern in sys.argv[2:]:
    found = sorted(p for p in glob.glob(os.path.join(glob.escape(home), pattern)) if os.path.isfile(p))
    if not found:
        print("::reason the Istio release has no %s yet" % pattern)
        rc = 1
    for p in found:
        with open(p, "rb") as f:
            files[os.path.relpath(p, home)] = hashlib.sha256(f.read()).hexdigest()
doc = json.dumps({"home": home, "files": files}, sort_keys=True)
print("::data release_sha256 %s" % base64.b64encode(doc.encode()).decode())
# Exit 0 means "all data is here": the controller decides what changes.
sys.exit(rc)
' {{ istio_home | q }}{% for f in release_files %} {{ f | q }}{% endfor %}
