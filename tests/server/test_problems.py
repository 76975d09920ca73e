"""Bad input gets RFC 9457 problem+json, loses nothing recorded, and the server serves on."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

from tests.server.conftest import Live

PROBLEM = "application/problem+json"


def _raw(live: Live, head: str, body_chunks: list[bytes]) -> tuple[int, dict[str, object], int]:
    """Send a request by hand; (status, JSON body, bytes of the body the client got to send)."""
    parts = urlsplit(live.url)
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: what we want
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
                if b"\r\n\r\n" in answer:
                    head_part, _, rest = answer.partition(b"\r\n\r\n")
                    length = [
                        int(line.split(b":")[1])
                        for line in head_part.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ]
                    if length and len(rest) >= length[0]:
                        break
        except ConnectionResetError:
            pass
    head_part, _, rest = answer.partition(b"\r\n\r\n")
    status = int(head_part.split(b" ")[1])
    assert PROBLEM.encode() in head_part
    return status, json.loads(rest), sent


def test_a_50_mb_body_gets_413_before_it_is_read(live: Live) -> None:
    size = 50 * 1024 * 1024
    head = (
        "POST /api/v1/repos HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {live.tokens['admin']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    )
    status, body, sent = _raw(live, head, [b"x" * 65536] * 8)
    assert status == 413 and body["status"] == 413
    assert "limit" in str(body["detail"])
    assert sent < size


def test_a_chunked_body_over_the_limit_gets_413(live: Live) -> None:
    head = (
        "POST /api/v1/repos HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {live.tokens['admin']}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 65536
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    status, body, _ = _raw(live, head, [framed] * 40)  # 2.5 MB, over the 1 MB limit
    assert status == 413 and body["title"] == "Request Entity Too Large"
    with live.client("viewer") as client:
        assert client.get("/api/v1/health").status_code == 200


def test_malformed_json_and_invalid_fields_are_422_with_where(live: Live) -> None:
    with live.client("admin") as client:
        broken = client.post(
            "/api/v1/repos", content=b'{"name": ', headers={"content-type": "application/json"}
        )
        assert broken.status_code == 422
        assert broken.headers["content-type"] == PROBLEM
        assert broken.json()["detail"].startswith("body")
        missing = client.post("/api/v1/repos", json={"name": "web"})
        assert missing.status_code == 422
        assert missing.json()["detail"] == "body.url: Field required"
        assert missing.json()["errors"][0]["loc"] == ["body", "url"]
        bad_role = client.post("/api/v1/users", json={"name": "x", "role": "boss"})
        assert bad_role.status_code == 422 and "role" in bad_role.json()["detail"]


def test_unknown_things_are_404_and_conflicts_409_and_nothing_is_lost(live: Live) -> None:
    with live.client("admin") as client:
        unknown = client.get("/api/v1/repos/nosuch")
        assert unknown.status_code == 404
        assert unknown.json() == {
            "type": "about:blank",
            "title": "Not Found",
            "status": 404,
            "detail": "no repository named 'nosuch' is registered",
        }
        assert client.get("/api/v1/no/such/route").status_code == 404
        assert client.get("/api/v1/no/such/route").headers["content-type"] == PROBLEM
        taken = client.post("/api/v1/users", json={"name": "viewer", "role": "admin"})
        assert taken.status_code == 409
        assert taken.json()["detail"] == "a user named 'viewer' already exists"
        bad_url = client.post("/api/v1/repos", json={"name": "web", "url": "ssh://x/y"})
        assert bad_url.status_code == 400
        assert bad_url.json()["hint"].startswith("use https://")
        wrong_method = client.delete("/api/v1/repos")
        assert wrong_method.status_code == 405 and wrong_method.json()["status"] == 405
        users = client.get("/api/v1/users").json()
    assert sorted(u["name"] for u in users) == [
        "admin",
        "developer",
        "reviewer",
        "viewer",
        "worker",
    ]
    with live.client("viewer") as client:
        assert client.get("/api/v1/users/me").json()["role"] == "viewer"
