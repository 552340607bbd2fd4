# 4.4: the page through the ingress gateway, as a browser at GATEWAY_URL gets it.
http gateway page labprov-verify labprov-curl probe {{ p.gateway | q }}
