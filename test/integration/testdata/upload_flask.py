"""A Flask upload endpoint that says what it saw, for tlsgate's body-limit
tests: one stdout line when a request reaches it, one when its body ends
(complete, with the byte count) or breaks off (aborted).

Usage: python3 upload_flask.py PORT
"""
import sys

from flask import Flask, request
from werkzeug.serving import run_simple

app = Flask(__name__)


@app.route("/ready")
def ready():
    return "ok\n"


@app.route("/upload/<tag>", methods=["POST"])
def upload(tag):
    print(f"upload started {tag}", flush=True)
    n = 0
    try:
        while True:
            chunk = request.stream.read(65536)
            if not chunk:
                break
            n += len(chunk)
    except Exception as e:  # werkzeug's ClientDisconnected, OSError
        print(f"upload aborted {tag} after {n} bytes: {type(e).__name__}", flush=True)
        raise
    if request.content_length is not None and n < request.content_length:
        print(f"upload aborted {tag} after {n} of {request.content_length} bytes", flush=True)
        return "short\n", 400
    print(f"upload complete {tag} {n} bytes", flush=True)
    return f"{n}\n"


if __name__ == "__main__":
    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True)
