"""A FastAPI app behind tlsgate, run on Uvicorn with --proxy-headers
--forwarded-allow-ips=127.0.0.1. Every path answers with what the app
believes about the request, as JSON.

Usage: python3 -m uvicorn fastapi_app:app --host 127.0.0.1 --port PORT \
           --proxy-headers --forwarded-allow-ips=127.0.0.1
"""
from fastapi import FastAPI, Request

app = FastAPI()

SHOWN = ("host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded")


@app.api_route("/{path:path}", methods=["GET", "POST"])
async def view(request: Request, path: str):
    return {
        "scheme": request.url.scheme,
        "host": request.url.netloc,
        "url": str(request.url),
        "remote_addr": request.client.host if request.client else "",
        "headers": {h: request.headers.get(h, "") for h in SHOWN},
    }
