"""Python requests as the client of a compressed site: prints, as JSON, what
it received for a plain GET (requests asks for gzip and decodes it) and for
a Range request.

Usage: python3 compress_client.py URL ROOT_CA
"""
import hashlib
import json
import sys

import requests

url, root = sys.argv[1], sys.argv[2]
out = {}
for name, headers in (("full", {}), ("range", {"Range": "bytes=0-99"})):
    r = requests.get(url, verify=root, headers=headers, timeout=20)
    out[name] = {
        "status": r.status_code,
        "accept_encoding": r.request.headers.get("Accept-Encoding", ""),
        "content_encoding": r.headers.get("Content-Encoding", ""),
        "vary": r.headers.get("Vary", ""),
        "length": len(r.content),
        "sha256": hashlib.sha256(r.content).hexdigest(),
    }
print(json.dumps(out))
