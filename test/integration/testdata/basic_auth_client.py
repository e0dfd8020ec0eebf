"""Python requests against a tlsgate site with basic auth, for
TestBasicAuthRequests. It reports what it saw as one JSON object; the Go
test decides whether that is right.

Usage: python3 basic_auth_client.py URL CA_FILE USER PASSWORD

It prints the status, WWW-Authenticate and body of the answers to the right
password, a wrong password, an unknown user and no credentials.
"""
import json
import sys

import requests

url, ca, user, password = sys.argv[1:5]
s = requests.Session()
s.verify = ca


def answer(auth):
    r = s.get(url, auth=auth, timeout=10)
    return {"status": r.status_code, "www_authenticate": r.headers.get("WWW-Authenticate", ""), "body": r.text}


cases = {
    "right": answer((user, password)),
    "wrong_password": answer((user, password + "-wrong")),
    "unknown_user": answer(("nobody-" + user, password)),
    "missing": answer(None),
}

json.dump(cases, sys.stdout)
