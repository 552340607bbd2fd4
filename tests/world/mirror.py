#!/usr/bin/python3
"""HTTP mirror of the lab world (see README.md): serves files under --root over HTTP/1.1.

It stands in for GitHub releases, dl.k8s.io and download.docker.com: GET and HEAD of regular
files with Content-Length, 404 for anything else (no directory listings, no Range support), and
one line `METHOD PATH STATUS BYTES` per request in --log (BYTES = body bytes actually sent),
flushed at once so tests can read it while labprov runs. Python stdlib only.

Faults: before each GET or HEAD the mirror reads --faults (a JSON list, absent or empty: none),
and the first rule whose "path" is a substring of the request path and whose "count" is not 0
applies (its count, when positive, goes down by one; -1 never does):
  {"path": "minikube", "action": "status", "status": 500, "count": 3}
      answer that status with a short text body, as an overloaded mirror or CDN does;
  {"path": "kubectl", "action": "cut", "bytes": 4096, "count": 1}
      send the headers with the full Content-Length, then K body bytes, then close the
      connection: a download cut mid-body;
  {"path": "istio", "action": "stall", "seconds": 60, "count": 1}
      wait that long before answering: a mirror slower than the client's timeout.
  {"path": "docker/", "action": "auth", "user": "U", "password": "P", "count": -1}
      a request without HTTP Basic credentials U:P gets 401 with `WWW-Authenticate: Basic`, as
      a private mirror does; one with them is served as usual.
A rule that fired is logged like any request (its status, the body bytes actually sent).
"""

import base64
import json
import time

import argparse
import mimetypes
import os
import shutil
import sys
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class CountingWriter:
    """Wraps the socket's wfile to count bytes written (headers + body)."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def write(self, data):
        n = self.raw.write(data)
        self.count += len(data) if n is None else n
        return n

    def flush(self):
        self.raw.flush()

    def __getattr__(self, name):
        return getattr(self.raw, name)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real servers
    server_version = "labprov-world-mirror/1"

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        self.wfile = CountingWriter(self.wfile)

    # --- logging: our own format only ---
    def log_message(self, format, *args):  # noqa: A002 (stdlib signature)
        pass

    def send_response(self, code, message=None):
        self._status = int(code)
        super().send_response(code, message)

    def end_headers(self):
        super().end_headers()
        self._body_start = self.wfile.count

    def handle_one_request(self):
        self._status = None
        self._body_start = None
        self.wfile.count = 0
        self.command = None
        self.path = None
        try:
            super().handle_one_request()
        finally:
            if self.command is not None or self._status is not None:
                body = 0
                if self._body_start is not None:
                    body = self.wfile.count - self._body_start
                self.server.log_line(
                    "%s %s %s %d"
                    % (self.command or "-", self.path or "-", self._status or 0, body)
                )

    # --- serving ---
    def _resolve(self):
        """Maps the request path to a regular file under root, or None."""
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            return None  # no way out of the root (symlinks placed by build-mirror are trusted)
        full = os.path.join(self.server.root, *parts)
        return full if os.path.isfile(full) else None

    def _not_found(self, head):
        body = b"404 not found\n"
        self.send_response(HTTPStatus.NOT_FOUND)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _fault(self):
        """The first fault rule that applies to this request, consumed (see the module doc)."""
        path = self.server.faults
        if not path:
            return None
        with self.server.faults_lock:
            try:
                with open(path) as f:
                    rules = json.load(f)
            except (OSError, ValueError):
                return None
            for rule in rules:
                if rule.get("path", "") in self.path and rule.get("count", -1) != 0:
                    if rule.get("count", -1) > 0:
                        rule["count"] -= 1
                        tmp = path + ".new"
                        with open(tmp, "w") as f:
                            json.dump(rules, f)
                        os.replace(tmp, path)
                    return rule
        return None

    def _serve(self, head):
        rule = self._fault()
        if rule is not None and rule.get("action") == "stall":
            time.sleep(float(rule.get("seconds", 60)))
        if rule is not None and rule.get("action") == "auth":
            want = "%s:%s" % (rule.get("user", ""), rule.get("password", ""))
            given = self.headers.get("Authorization", "")
            if given != "Basic " + base64.b64encode(want.encode()).decode():
                rule = {"action": "status", "status": 401}
        if rule is not None and rule.get("action") == "status":
            code = int(rule.get("status", 500))
            body = ("%d %s\n" % (code, HTTPStatus(code).phrase)).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if code == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="mirror"')
            self.end_headers()
            if not head:
                self.wfile.write(body)
            return
        full = self._resolve()
        if full is None:
            self._not_found(head)
            return
        try:
            f = open(full, "rb")
        except OSError:
            self._not_found(head)
            return
        with f:
            st = os.fstat(f.fileno())
            ctype = mimetypes.guess_type(full)[0] or "application/octet-stream"
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(st.st_size))
            self.send_header("Last-Modified", self.date_time_string(int(st.st_mtime)))
            self.end_headers()
            if not head and rule is not None and rule.get("action") == "cut":
                self.wfile.write(f.read(int(rule.get("bytes", 4096))))
                self.wfile.flush()
                self.close_connection = True
                return
            if not head:
                try:
                    shutil.copyfileobj(f, self.wfile, 1 << 16)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

    def do_GET(self):
        self._serve(head=False)

    def do_HEAD(self):
        self._serve(head=True)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # up to 60 hosts downloading at once

    def __init__(self, addr, root, log_path, faults=None):
        self.root = os.path.realpath(root)
        self.faults = faults
        self.faults_lock = threading.Lock()
        self._log = open(log_path, "a", buffering=1)
        self._log_lock = threading.Lock()
        super().__init__(addr, Handler)

    def log_line(self, line):
        with self._log_lock:
            self._log.write(line + "\n")
            self._log.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--root", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--pidfile")
    ap.add_argument("--faults", help="JSON fault rules, read before each request (module doc)")
    a = ap.parse_args()
    srv = Server((a.bind, a.port), a.root, a.log, a.faults)
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    print("mirror: serving %s on %s:%d" % (srv.root, a.bind, a.port), file=sys.stderr, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
