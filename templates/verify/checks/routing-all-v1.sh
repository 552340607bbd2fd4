# 4.5 step 3: every request lands on reviews-v1.
versions routing-all-v1 {{ p.ns | q }} {{ p.pod | q }} {{ p.url | q }} {{ p.n }}
