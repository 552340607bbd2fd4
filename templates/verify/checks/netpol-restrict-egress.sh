# 3.5: by name to a pod elsewhere: the name must resolve (DNS egress allowed) and the
# connection be dropped (TIMEOUT); an address in the allowed ipBlock must not be dropped.
connect netpol-restrict-egress pod {{ p.ns | q }} labprov-egress labprov-server.labprov-verify:8080
{% if p.addr %}
connect netpol-restrict-egress cidr {{ p.ns | q }} labprov-egress {{ p.addr | q }}:22
{% endif %}
