"""A small forward-auth service in Flask for TestForwardAuth, the kind of
thing an operator writes before reaching for oauth2-proxy.

Usage: python3 forward_auth.py PORT

GET /ready answers 200. Anything else decides from the request tlsgate
sends: a Cookie "session=good" is allowed (200 with X-User and X-Email),
"session=bad" gets 403, no cookie gets a 302 to a login page carrying the
original URI. The X-Forwarded-* headers it saw are echoed back as X-Saw-*
on every answer, and whether a client's Authorization reached it as
X-Saw-Authorization.
"""
import sys

from flask import Flask, Response, request
from werkzeug.serving import run_simple

app = Flask(__name__)
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


@app.route("/ready")
def ready():
    return "ready\n"


@app.route("/", defaults={"path": ""}, methods=METHODS)
@app.route("/<path:path>", methods=METHODS)
def verify(path):
    saw = {k: request.headers.get("X-Forwarded-" + k, "") for k in ("Method", "Proto", "Host", "Uri", "For")}
    cookie = request.cookies.get("session", "")
    if cookie == "good":
        resp = Response("", status=200)
        resp.headers["X-User"] = "alice"
        resp.headers["X-Email"] = "alice@example.com"
    elif cookie == "bad":
        resp = Response("auth says no\n", status=403, content_type="text/plain")
    else:
        resp = Response("", status=302)
        resp.headers["Location"] = "https://login.example/?rd=" + saw["Uri"]
    for k, v in saw.items():
        resp.headers["X-Saw-" + k] = v
    resp.headers["X-Saw-Authorization"] = request.headers.get("Authorization", "")
    return resp


if __name__ == "__main__":
    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True)
