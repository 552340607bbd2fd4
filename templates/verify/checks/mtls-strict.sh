# 4.6: plaintext from a pod without a sidecar in the legacy namespace, then the same request
# from inside the mesh.
http mtls-strict legacy {{ p.legacy | q }} labprov-legacy probe {{ p.url | q }}
http mtls-strict mesh {{ p.ns | q }} {{ p.pod | q }} ratings {{ p.url | q }}
