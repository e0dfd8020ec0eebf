"""A FastAPI app that shows what it believes about the request.

Run it behind tlsgate with Uvicorn's proxy headers on, so request.url has the
https scheme and request.client is the real client, not tlsgate:

    uvicorn fastapi_app:app --app-dir examples/apps --port 8000 \
        --proxy-headers --forwarded-allow-ips 127.0.0.1
"""
from fastapi import FastAPI, Request

app = FastAPI()


@app.get("/{path:path}")
def show(request: Request, path: str = ""):
    return {
        "app": "fastapi",
        "url": str(request.url),
        "scheme": request.url.scheme,
        "client": request.client.host if request.client else None,
        "forwarded_for": request.headers.get("x-forwarded-for"),
    }
