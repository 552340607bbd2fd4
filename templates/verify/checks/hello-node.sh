# 2.3: the service by name, from a pod, as the guide's `wget -qO- http://hello-node:8080`.
http hello-node http labprov-verify labprov-curl probe {{ p.url | q }}
