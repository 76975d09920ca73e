"""Notifications delivered through Apprise to a real local webhook and SMTP server."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from stageline.notify import EVENTS, Notification, Notifier, RetryPolicy, urls_for
from stageline.notify.delivery import apprise_deliver
from tests.notify.receivers import smtp_server, webhook
from tests.support.http import free_port

FAST = RetryPolicy(attempts=3, backoff=0.01)


@dataclass
class Route:
    url: str
    events: list[str] = field(default_factory=lambda: ["*"])


def note(event: str, text: str, level: str = "info") -> Notification:
    return Notification(event, f"[stageline] {event}", text, level)  # type: ignore[arg-type]


def test_routing_by_glob() -> None:
    routes = [
        Route("json://a/hook", ["run.*", "deployment.*"]),
        Route("json://b/hook", ["approval.*", "deployment.failed"]),
        Route("json://a/hook", ["*"]),
    ]
    assert urls_for("run.started", routes) == ["json://a/hook"]
    assert urls_for("deployment.failed", routes) == ["json://a/hook", "json://b/hook"]
    assert urls_for("approval.timed_out", routes) == ["json://b/hook", "json://a/hook"]
    assert urls_for("monitor.check_failed", routes[:2]) == []
    assert all(urls_for(event, [Route("x://", ["*"])]) for event in EVENTS)


def test_webhook_receives_in_order_and_only_what_it_subscribed() -> None:
    with webhook() as hook:
        routes = [
            Route(f"json://{hook.url}/deploys", ["run.*", "deployment.*"]),
            Route(f"json://{hook.url}/approvals", ["approval.*"]),
        ]
        events = [
            ("run.started", "run 1 of ci started", "info"),
            ("approval.requested", "production waits for alice, bob", "info"),
            ("job.failed", "nobody listens for this", "failure"),
            ("deployment.started", "staging 1a2b3c", "info"),
            ("approval.granted", "approved by bob, dave", "success"),
            ("deployment.succeeded", "staging 1a2b3c", "success"),
            ("run.finished", "success", "success"),
        ]
        with Notifier(routes, retry=FAST) as notifier:
            for event, text, level in events:
                notifier.send(note(event, text, level))
        deploys = hook.bodies("/deploys")
        approvals = hook.bodies("/approvals")
    assert [(b["title"], b["message"]) for b in deploys] == [
        ("[stageline] run.started", "run 1 of ci started"),
        ("[stageline] deployment.started", "staging 1a2b3c"),
        ("[stageline] deployment.succeeded", "staging 1a2b3c"),
        ("[stageline] run.finished", "success"),
    ]
    assert [b["type"] for b in deploys] == ["info", "info", "success", "success"]
    assert [b["message"] for b in approvals] == [
        "production waits for alice, bob",
        "approved by bob, dave",
    ]


def test_failed_deliveries_are_retried_in_order() -> None:
    with webhook(fail_first=2) as hook:
        notifier = Notifier([Route(f"json://{hook.url}/hook")], retry=FAST)
        for n in range(3):
            notifier.send(note("run.started", f"message {n}"))
        assert notifier.close(timeout=20)
        assert [b["message"] for b in hook.bodies("/hook")] == [
            "message 0",
            "message 1",
            "message 2",
        ]
        assert hook.attempts == 5  # two refused attempts, then three deliveries


def test_an_unreachable_channel_is_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    url = f"json://127.0.0.1:{free_port()}/hook"
    with caplog.at_level(logging.WARNING, logger="stageline.notify"):
        notifier = Notifier([Route(url)], retry=FAST)
        notifier.send(note("deployment.failed", "boom", "failure"))
        assert notifier.flush(timeout=20)
        notifier.close()
    mine = [r for r in caplog.records if r.name == "stageline.notify"]
    assert [r.levelname for r in mine] == ["WARNING", "WARNING", "ERROR"]
    assert "deployment.failed" in mine[-1].getMessage()
    assert "after 3 attempts" in mine[-1].getMessage()
    assert "127.0.0.1" in mine[-1].getMessage() and "/hook" not in mine[-1].getMessage()


def test_a_delivery_function_that_raises_is_contained(caplog: pytest.LogCaptureFixture) -> None:
    delivered: list[str] = []

    def flaky(url: str, notification: Notification) -> bool:
        if notification.body == "bad":
            raise RuntimeError("channel exploded")
        delivered.append(notification.body)
        return True

    with (
        caplog.at_level(logging.ERROR, logger="stageline.notify"),
        Notifier([Route("json://x/y")], deliver=flaky, retry=FAST) as notifier,
    ):
        for body in ("one", "bad", "two"):
            notifier.send(note("run.started", body))
    assert delivered == ["one", "two"]
    assert "RuntimeError: channel exploded" in caplog.records[-1].getMessage()


def test_send_after_close_is_dropped_quietly() -> None:
    delivered: list[object] = []
    notifier = Notifier([Route("json://x/y")], deliver=lambda *args: delivered.append(args) or True)
    notifier.close()
    notifier.send(note("run.started", "late"))
    assert delivered == []


def test_email_through_a_local_smtp_server() -> None:
    with smtp_server() as box:
        url = f"mailto://127.0.0.1:{box.port}?from=ci@example.com&to=team@example.com&mode=insecure"
        assert apprise_deliver(url, note("rollback.finished", "production restored to 1a2b3c"))
        with Notifier([Route(url, ["rollback.*"])], retry=FAST) as notifier:
            notifier.send(note("run.started", "not routed to mail"))
            notifier.send(note("rollback.started", "production: health failed 3 times"))
    assert len(box.messages) == 2
    sender, recipients, message = box.messages[-1]
    assert (sender, recipients) == ("ci@example.com", ["team@example.com"])
    assert message["Subject"] == "[stageline] rollback.started"
    texts = [
        part.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for part in message.walk()
        if part.get_content_type() == "text/plain"
    ]
    assert texts and "production: health failed 3 times" in texts[0]


def test_routes_from_stageline_yml() -> None:
    from stageline.deploy.config import parse_config

    with webhook() as hook:
        config = parse_config(
            "notifications:\n"
            f"  - url: json://{hook.url}/all\n"
            f"  - url: json://{hook.url}/rollbacks\n"
            "    events: [rollback.*]\n"
        )
        with Notifier(config.notifications, retry=FAST) as notifier:
            notifier.send(note("deployment.started", "one"))
            notifier.send(note("rollback.started", "two"))
        assert [b["message"] for b in hook.bodies("/all")] == ["one", "two"]
        assert [b["message"] for b in hook.bodies("/rollbacks")] == ["two"]
