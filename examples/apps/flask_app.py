"""A Flask app that shows what it believes about the request.

Behind tlsgate, wrap the app in ProxyFix so request.scheme, request.host and
request.remote_addr come from tlsgate's X-Forwarded-* headers (one proxy hop):

    python3 examples/apps/flask_app.py
"""
import sys

from flask import Flask, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix

app = Flask(__name__)
app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)


@app.route("/", defaults={"path": ""})
@app.route("/<path:path>")
def show(path):
    return jsonify(
        app="flask",
        url=request.url,
        scheme=request.scheme,
        host=request.host,
        client=request.remote_addr,
    )


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    app.run(host="127.0.0.1", port=port)
