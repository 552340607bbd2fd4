# 3.3: one pod of the namespace to another, by IP as the guide does; then the same source to
# a pod outside every policy, which must connect (or a block would prove nothing).
connect netpol-deny-all blocked {{ p.ns | q }} labprov-source "$(pod_ip {{ p.ns | q }} labprov-target):8080"
connect netpol-deny-all control {{ p.ns | q }} labprov-source "$(pod_ip labprov-verify labprov-server):8080"
