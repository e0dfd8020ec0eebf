"""A tiny forward-auth service for TestForwardAuth (stdlib only).

GET /ready answers 200. Anything else decides from the request tlsgate
sends: a Cookie "session=good" is allowed (200 with X-User and X-Email),
"session=bad" gets 403, no cookie gets a 302 to a login page. The
X-Forwarded-* headers it saw are echoed back as X-Saw-* on every answer.
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Auth(BaseHTTPRequestHandler):
    def handle_any(self):
        if self.path == "/ready":
            self.send_response(200)
            self.end_headers()
            return
        cookie = self.headers.get("Cookie", "")
        saw = {k: self.headers.get("X-Forwarded-" + k, "") for k in ("Method", "Proto", "Host", "Uri", "For")}
        if "session=good" in cookie:
            self.send_response(200)
            self.send_header("X-User", "alice")
            self.send_header("X-Email", "alice@example.com")
        elif "session=bad" in cookie:
            self.send_response(403)
        else:
            self.send_response(302)
            self.send_header("Location", "https://login.example/?rd=" + saw["Uri"])
        for k, v in saw.items():
            self.send_header("X-Saw-" + k, v)
        body = b"auth says no\n"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Auth).serve_forever()
