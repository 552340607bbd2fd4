# 4.5 step 6: the split, for the controller's chi-square test.
versions routing-weighted {{ p.ns | q }} {{ p.pod | q }} {{ p.url | q }} {{ p.n }}
