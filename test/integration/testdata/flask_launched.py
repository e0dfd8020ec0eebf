"""The Flask app `tlsgate proxy -- CMD` starts in test/integration/proxyapp_test.go.

    GET /env        the PORT tlsgate gave it, its own PID and the scheme it
                    believes (ProxyFix trusts tlsgate's X-Forwarded-Proto)
    GET /exit/CODE  answers, then the app exits with CODE (as a crash or
                    sys.exit in a real app would end it)

Usage: python3 -m flask --app flask_launched run --port "$PORT"
"""
import os
import threading

from flask import Flask, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix

app = Flask(__name__)
app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)


@app.route("/env")
def env():
    return jsonify(port=os.environ.get("PORT", ""), pid=os.getpid(), scheme=request.scheme)


@app.route("/exit/<int:code>")
def exit_with(code):
    # After the answer has gone out: os._exit ends the whole server at once,
    # which sys.exit in a request thread would not.
    threading.Timer(0.2, os._exit, [code]).start()
    return "bye\n"
