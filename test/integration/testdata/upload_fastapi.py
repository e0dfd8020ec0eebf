"""A FastAPI upload endpoint that says what it saw, for tlsgate's body-limit
tests: one stdout line when a request reaches it, one when its body ends
(complete, with the byte count) or breaks off (aborted).

Usage: python3 -m uvicorn upload_fastapi:app --host 127.0.0.1 --port PORT
"""
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from starlette.requests import ClientDisconnect

app = FastAPI()


@app.get("/ready")
async def ready():
    return PlainTextResponse("ok\n")


@app.post("/upload/{tag}")
async def upload(tag: str, request: Request):
    print(f"upload started {tag}", flush=True)
    n = 0
    try:
        async for chunk in request.stream():
            n += len(chunk)
    except ClientDisconnect:
        print(f"upload aborted {tag} after {n} bytes: ClientDisconnect", flush=True)
        raise
    print(f"upload complete {tag} {n} bytes", flush=True)
    return PlainTextResponse(f"{n}\n")
