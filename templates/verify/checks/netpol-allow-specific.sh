# 3.4: access=allowed -> app=web must connect; a pod without the label must be dropped.
web=$(pod_ip {{ p.ns | q }} labprov-web)
connect netpol-allow-specific allowed {{ p.ns | q }} labprov-allowed "$web:8080"
connect netpol-allow-specific other {{ p.ns | q }} labprov-source "$web:8080"
