"""`stageline hook install`: a post-receive hook that tells the server of each push.

This is how a team without a forge uses the server: a bare repository on a shared
machine gets the hook, and a plain `git push` to it starts the runs. The hook is a
Python 3 script using only the standard library (a fresh machine has python3, not
necessarily curl). For each pushed ref it POSTs `{ref, before, after, pusher}` to
`/hooks/git?repo=NAME`, signed as GitHub signs (`sha256=` HMAC of the body, in
`X-Stageline-Signature-256`) with the repository's webhook secret, which it reads from
`hooks/stageline.secret` (0600) next to it. A push is never refused because the server
is unreachable: post-receive runs after the refs moved, so it only reports.
"""

from __future__ import annotations

import os
from pathlib import Path

from stageline.errors import ConfigError

HOOK_NAME = "post-receive"
SECRET_NAME = "stageline.secret"
#: Marks a hook this command wrote, so installing again replaces it and nothing else.
_MARK = "# written by `stageline hook install`"

_SCRIPT = """#!/usr/bin/env python3
{mark}: reports each pushed ref to Stageline.
import getpass
import hashlib
import hmac
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

SERVER = {server!r}
REPO = {repo!r}
SECRET = os.path.join(os.path.dirname(os.path.abspath(__file__)), {secret_name!r})


def report(opener, secret, before, after, ref):
    body = json.dumps(
        {{"ref": ref, "before": before, "after": after,
          "pusher": os.environ.get("STAGELINE_PUSHER") or getpass.getuser()}}
    ).encode()
    url = SERVER.rstrip("/") + "/hooks/git?" + urllib.parse.urlencode({{"repo": REPO}})
    headers = {{
        "Content-Type": "application/json",
        "X-Stageline-Delivery": str(uuid.uuid4()),
        "X-Stageline-Signature-256": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest(),
    }}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with opener.open(request, timeout=60) as answer:
            reply = json.load(answer)
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")
        try:
            detail = json.loads(detail).get("detail") or detail
        except ValueError:
            pass
        print("stageline: %s: the server refused it (%s): %s" % (ref, err.code, detail))
        return
    except (OSError, ValueError) as err:
        print("stageline: %s: cannot reach %s: %s" % (ref, SERVER, err))
        return
    runs = reply.get("run_ids") or []
    if runs:
        print("stageline: %s: started run %s" % (ref, ", ".join(str(r) for r in runs)))
    else:
        print("stageline: %s: %s" % (ref, reply.get("reason") or reply.get("outcome")))


def main():
    try:
        with open(SECRET, "rb") as handle:
            secret = handle.read().strip()
    except OSError as err:
        print("stageline: cannot read the webhook secret: %s" % err)
        return 0
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
    for line in sys.stdin:
        parts = line.split()
        if len(parts) == 3:
            report(opener, secret, *parts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
"""


def install(bare: Path, server: str, repo: str, secret: str) -> Path:
    """Write the hook (executable) and its secret (0600) into bare repository `bare`;
    the hook's path. Refuses to replace a post-receive hook someone else wrote."""
    if not (bare / "HEAD").is_file() or not (bare / "objects").is_dir():
        raise ConfigError(
            f"{bare} is not a bare git repository",
            hint="make one with `git init --bare`, or name the repository's .git directory",
        )
    if not server.startswith(("http://", "https://")):
        raise ConfigError(f"--server {server!r} is not an http(s) URL")
    if not secret.strip():
        raise ConfigError("the webhook secret is empty")
    hooks = bare / "hooks"
    hooks.mkdir(exist_ok=True)
    hook = hooks / HOOK_NAME
    if hook.exists() and _MARK not in hook.read_text(errors="replace"):
        raise ConfigError(
            f"{hook} exists and was not written by stageline",
            hint="move it away (or call it from another hook) and install again",
        )
    secret_path = hooks / SECRET_NAME
    fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret.strip() + "\n")
    os.chmod(secret_path, 0o600)
    script = _SCRIPT.format(mark=_MARK, server=server, repo=repo, secret_name=SECRET_NAME)
    hook.write_text(script)
    hook.chmod(0o755)
    return hook


__all__ = ["HOOK_NAME", "SECRET_NAME", "install"]
