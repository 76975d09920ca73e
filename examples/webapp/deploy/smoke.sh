#!/usr/bin/env bash
# Smoke-test a running service: /health says ok (and, if EXPECT_RELEASE is set, that
# release) and the greeting endpoint answers. Usage: deploy/smoke.sh URL
set -euo pipefail
url=${1:?usage: smoke.sh URL}
exec python3 - "$url" <<'PY'
import json
import os
import sys
import urllib.request

base = sys.argv[1].rstrip("/")


def get(path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=5) as reply:
        if reply.status != 200:
            sys.exit(f"smoke: {path} answered {reply.status}")
        return json.loads(reply.read())


health = get("/health")
if health.get("status") != "ok":
    sys.exit(f"smoke: /health is not ok: {health}")
expected = os.environ.get("EXPECT_RELEASE")
if expected and health.get("release") != expected:
    sys.exit(f"smoke: release {health.get('release')} is live, expected {expected}")
greeting = get("/api/greet?name=smoke")
if greeting.get("message") != "Hello, smoke!":
    sys.exit(f"smoke: unexpected greeting {greeting}")
print(f"smoke: {base} ok, version {health['version']}, release {health['release']}")
PY
