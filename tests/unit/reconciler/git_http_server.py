#!/usr/bin/env python3
"""A git smart-HTTP server for tests, with HTTP Basic authentication.

Serves the bare repositories under --root through `git http-backend` (CGI)
on 127.0.0.1. Every request must carry the --user and --password given,
else the answer is 401 with `WWW-Authenticate: Basic realm="git"`.
Request bodies may be sent with `Transfer-Encoding: chunked` (libgit2 does
for git-upload-pack). Prints the port it listens on as one line on stdout,
then serves until killed. Standard library only; for tests on loopback.

    git_http_server.py --root DIR --user U --password P [--port N]
"""

import argparse
import base64
import hmac
import http.server
import os
import subprocess
import sys
import urllib.parse


def read_chunked(rfile):
    """The body of a chunked request, without its framing."""
    body = bytearray()
    while True:
        line = rfile.readline(1024)
        if not line:
            raise ValueError("chunked body cut short")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return bytes(body)
        body += rfile.read(size)
        rfile.readline(1024)  # the CRLF after the chunk


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "git-http-test"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("git_http_server: " + (fmt % args) + "\n")

    def do_GET(self):
        self.serve()

    def do_POST(self):
        self.serve()

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return read_chunked(self.rfile)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def authorized(self):
        h = self.headers.get("Authorization", "")
        if not h.startswith("Basic "):
            return None
        try:
            user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        ok = hmac.compare_digest(user, self.server.user) and \
            hmac.compare_digest(pw, self.server.password)
        return user if ok else None

    def answer(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def serve(self):
        try:
            body = self.read_body()
        except ValueError:
            self.close_connection = True
            self.answer(400, [("Content-Type", "text/plain")],
                        b"bad request body\n")
            return
        user = self.authorized()
        if user is None:
            self.server.refused += 1
            self.answer(401, [("WWW-Authenticate", 'Basic realm="git"'),
                              ("Content-Type", "text/plain")],
                        b"authentication required\n")
            return
        url = urllib.parse.urlsplit(self.path)
        env = dict(os.environ)
        env.update({
            "GIT_PROJECT_ROOT": self.server.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": urllib.parse.unquote(url.path),
            "QUERY_STRING": url.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": self.client_address[0],
            "AUTH_TYPE": "Basic",
        })
        for h, var in (("Git-Protocol", "HTTP_GIT_PROTOCOL"),
                       ("Content-Encoding", "HTTP_CONTENT_ENCODING")):
            if self.headers.get(h):
                env[var] = self.headers[h]
        p = subprocess.run([self.server.backend], input=body, env=env,
                           stdout=subprocess.PIPE, check=False)
        out = p.stdout
        # The CGI headers end at the first empty line (CRLF or LF).
        ends = [(i, len(m)) for m in (b"\r\n\r\n", b"\n\n")
                for i in (out.find(m),) if i >= 0]
        if not ends:
            self.answer(502, [("Content-Type", "text/plain")],
                        b"git http-backend gave no headers\n")
            return
        sep, skip = min(ends)
        status, headers = 200, []
        for line in out[:sep].decode("latin-1").splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.answer(status, headers, out[sep + skip:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    exec_path = subprocess.run(["git", "--exec-path"], check=True,
                               stdout=subprocess.PIPE, text=True).stdout
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.root = os.path.abspath(a.root)
    srv.user, srv.password = a.user, a.password
    srv.verbose = a.verbose
    srv.refused = 0
    srv.backend = os.path.join(exec_path.strip(), "git-http-backend")
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
