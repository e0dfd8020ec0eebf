"""A Flask app behind tlsgate, set up the way tlsgate's README recommends:
ProxyFix trusts one proxy for X-Forwarded-For/Proto/Host. Every path answers
with what the app believes about the request, as JSON.

Usage: python3 flask_app.py PORT
"""
import sys

from flask import Flask, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import run_simple

app = Flask(__name__)
app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

SHOWN = ("Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded")


@app.route("/", defaults={"path": ""})
@app.route("/<path:path>")
def view(path):
    return jsonify(
        scheme=request.scheme,
        host=request.host,
        url=request.url,
        remote_addr=request.remote_addr,
        headers={h: request.headers.get(h, "") for h in SHOWN},
    )


if __name__ == "__main__":
    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True)
