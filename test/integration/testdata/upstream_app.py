"""A Flask backend for the upstream tests: it names itself in every answer,
and its health check answer can be changed while it runs.

  GET  /healthz         answers the current health status (200 at start)
  POST /_health/<code>  sets that status
  GET  /ready           200, for the harness
  any other path        {"backend": NAME, "path": PATH}

Usage: python3 upstream_app.py NAME PORT
"""
import sys

from flask import Flask, jsonify, request
from werkzeug.serving import run_simple

app = Flask(__name__)
NAME = sys.argv[1]
state = {"health": 200}


@app.route("/healthz")
def healthz():
    return "health %d\n" % state["health"], state["health"]


@app.route("/_health/<int:code>", methods=["POST"])
def set_health(code):
    state["health"] = code
    return "ok\n"


@app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE"])
@app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE"])
def view(path):
    return jsonify(backend=NAME, path="/" + path, method=request.method)


if __name__ == "__main__":
    run_simple("127.0.0.1", int(sys.argv[2]), app, threaded=True)
