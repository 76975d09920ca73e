"""`.stageline.yml`: the issue's example loads; each kind of mistake is reported, positioned."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from stageline.deploy.config import (
    CONFIG_FILE,
    DEFAULT_APPROVAL_TIMEOUT,
    load_config,
    load_config_file,
    parse_config,
)
from stageline.errors import Diagnostic, WorkflowError

EXAMPLE = """\
environments:
  staging:
    url: http://127.0.0.1:18081
    monitor:
      duration: 30s
      interval: 2s
      checks:
        - name: health
          http: {url: http://127.0.0.1:18081/health, status: 200, max_latency: 500ms, body_contains: ok}
          failure_limit: 2
        - name: error-rate
          prometheus: {url: http://127.0.0.1:9090, query: 'sum(rate(http_errors_total[1m]))', fail_if: 'result > 0.05'}
          on_fail: pause
        - name: smoke
          command: ./smoke.sh
    rollback: {mode: auto}
  production:
    branches: [main, 'release/*']
    approval:
      rules:
        - {reviewers: [alice, bob, carol], required: 2}
        - {reviewers: ['@sre'], required: 1}
      prevent_self_review: true
      wait_timer: 0s
      timeout: 24h
      on_timeout: reject
      remind_every: 1h
      auto_approve: ${{ needs.test.result == 'success' && github.ref == 'refs/heads/main' }}
    monitor: {duration: 1m, checks: [{name: up, command: 'true'}]}
    rollback: {mode: manual, run: ./rollback.sh}
  dev:
teams: {sre: [dave, erin]}
users: {Alice@Example.com: alice}
notifications:
  - url: json://127.0.0.1:9000/hook
    events: [run.*, approval.*, deployment.*, rollback.*]
"""  # noqa: E501 (the issue's example, verbatim)


def where(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based line and column of the `nth` occurrence of `needle` in `text`."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    line = text.count("\n", 0, at) + 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1
    return line, col


def errors_of(text: str) -> list[Diagnostic]:
    with pytest.raises(WorkflowError) as caught:
        parse_config(text, "cfg.yml")
    return caught.value.diagnostics


def test_the_issue_example_loads() -> None:
    config = parse_config(EXAMPLE, "cfg.yml")
    assert list(config.environments) == ["staging", "production", "dev"]
    staging = config.environments["staging"]
    assert staging.url == "http://127.0.0.1:18081"
    assert staging.branches is None and staging.approval is None
    monitor = staging.monitor
    assert monitor is not None
    assert monitor.duration == timedelta(seconds=30)
    assert monitor.interval == timedelta(seconds=2)
    health, rate, smoke = monitor.checks
    assert health.kind == "http" and health.http is not None
    assert health.http.url == "http://127.0.0.1:18081/health"
    assert health.http.status == 200
    assert health.http.max_latency == timedelta(milliseconds=500)
    assert health.http.body_contains == "ok"
    assert health.failure_limit == 2 and health.on_fail == "rollback"
    assert rate.kind == "prometheus" and rate.prometheus is not None
    assert rate.prometheus.query == "sum(rate(http_errors_total[1m]))"
    assert rate.prometheus.fail_if == "result > 0.05"
    assert rate.on_fail == "pause" and rate.failure_limit == 0
    assert smoke.kind == "command" and smoke.command == "./smoke.sh"
    assert staging.rollback is not None and staging.rollback.mode == "auto"

    production = config.environments["production"]
    assert production.branches == ["main", "release/*"]
    approval = production.approval
    assert approval is not None
    assert [(r.reviewers, r.required) for r in approval.rules] == [
        (["alice", "bob", "carol"], 2),
        (["@sre"], 1),
    ]
    assert approval.prevent_self_review is True
    assert approval.wait_timer == timedelta(0)
    assert approval.timeout == timedelta(hours=24)
    assert approval.on_timeout == "reject"
    assert approval.remind_every == timedelta(hours=1)
    assert approval.auto_approve is not None and "needs.test.result" in approval.auto_approve
    assert production.rollback is not None
    assert (production.rollback.mode, production.rollback.run) == ("manual", "./rollback.sh")
    assert config.environments["dev"].monitor is None
    assert config.teams == {"sre": ["dave", "erin"]}
    assert config.user_for_email("alice@example.COM") == "alice"
    assert config.user_for_email("nobody@example.com") is None
    (route,) = config.notifications
    assert route.url == "json://127.0.0.1:9000/hook"
    assert route.events == ["run.*", "approval.*", "deployment.*", "rollback.*"]


def test_positions_point_into_the_file() -> None:
    config = parse_config(EXAMPLE, "cfg.yml")
    production = config.environments["production"]
    assert (production.pos.line, production.pos.col) == where(EXAMPLE, "production:")
    assert production.approval is not None
    rule = production.approval.rules[1]
    assert (rule.at("reviewers").line, rule.at("reviewers").col) == where(EXAMPLE, "['@sre']")
    assert production.at("branches").path == "cfg.yml"


def test_defaults() -> None:
    config = parse_config(
        "environments:\n  prod:\n    approval: {rules: [{reviewers: [a]}]}\n"
        "    monitor: {duration: 10s, checks: [{name: x, command: 'true'}]}\n"
        "    rollback: {}\n"
    )
    prod = config.environments["prod"]
    assert prod.approval is not None and prod.monitor is not None and prod.rollback is not None
    assert prod.approval.rules[0].required == 1
    assert prod.approval.timeout == DEFAULT_APPROVAL_TIMEOUT == timedelta(days=30)
    assert prod.approval.on_timeout == "reject" and prod.approval.prevent_self_review is False
    assert prod.monitor.interval == timedelta(seconds=10)
    assert prod.monitor.checks[0].on_fail == "rollback"
    assert prod.rollback.mode == "auto" and prod.rollback.run is None
    assert config.environment("unconfigured").approval is None


def test_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config.environments == {} and config.notifications == []
    (tmp_path / CONFIG_FILE).write_text("teams: {ops: [x]}\n")
    assert load_config(tmp_path).teams == {"ops": ["x"]}
    assert load_config_file(tmp_path / CONFIG_FILE).path.endswith(CONFIG_FILE)


def test_unknown_keys_get_a_did_you_mean() -> None:
    text = (
        "enviroments: {}\n"
        "environments:\n"
        "  prod:\n"
        "    aproval: {}\n"
        "    monitor:\n"
        "      duration: 5s\n"
        "      checks:\n"
        "        - {name: h, http: {url: 'http://x', stauts: 200}}\n"
    )
    found = errors_of(text)
    assert [(d.position.line, d.position.col) for d in found if d.position] == [
        where(text, "enviroments"),
        where(text, "aproval"),
        where(text, "stauts"),
    ]
    assert found[0].message == "unknown key 'enviroments' in the configuration"
    assert found[0].hint == "did you mean 'environments'?"
    assert found[1].hint == "did you mean 'approval'?"
    assert found[2].hint == "did you mean 'status'?"
    rendered = found[0].render()
    assert rendered.startswith("cfg.yml:1:1: error: unknown key 'enviroments'")
    assert "\n  hint: did you mean 'environments'?" in rendered


def test_bad_durations_are_reported_where_written() -> None:
    text = (
        "environments:\n"
        "  prod:\n"
        "    approval: {timeout: 24, wait_timer: 5 minutes}\n"
        "    monitor: {duration: 1d, interval: 0s, checks: [{name: a, command: x}]}\n"
    )
    found = errors_of(text)
    by_place = {(d.position.line, d.position.col): d for d in found if d.position}
    timeout = by_place[where(text, "24")]
    assert "timeout" in timeout.message and "has no unit" in timeout.message
    assert timeout.hint == "did you mean 24s?"
    assert "invalid duration '5 minutes'" in by_place[where(text, "5 minutes")].message
    assert "invalid duration '1d'" in by_place[where(text, "1d")].message
    assert "interval must be more than 0s" in by_place[where(text, "0s")].message
    assert len(found) == 4


def test_undefined_team_and_unreachable_required() -> None:
    text = (
        "teams: {sre: [dave, erin]}\n"
        "environments:\n"
        "  prod:\n"
        "    approval:\n"
        "      rules:\n"
        "        - {reviewers: ['@sres'], required: 1}\n"
        "        - {reviewers: [alice, '@sre'], required: 4}\n"
        "        - {reviewers: [alice, alice], required: 2}\n"
    )
    found = errors_of(text)
    assert [d.message for d in found] == [
        "approver team '@sres' is not defined",
        "approval of environment 'prod'.rules[1].required is 4 but only 3 reviewer(s) "
        "can approve (alice, dave, erin)",
        "approval of environment 'prod'.rules[2].required is 2 but only 1 reviewer(s) "
        "can approve (alice)",
    ]
    assert found[0].hint == "did you mean '@sre'?"
    assert found[0].position is not None
    assert (found[0].position.line, found[0].position.col) == where(text, "['@sres']")


def test_wrong_types_and_choices() -> None:
    text = (
        "teams: [a, b]\n"
        "environments:\n"
        "  prod:\n"
        "    url: 5\n"
        "    approval:\n"
        "      prevent_self_review: yes\n"
        "      on_timeout: rejct\n"
        "      rules: [{reviewers: [a], required: 0}]\n"
        "    monitor:\n"
        "      duration: 5s\n"
        "      checks:\n"
        "        - {name: a, command: x, http: {url: 'http://h'}, on_fail: stop}\n"
        "        - {command: y, failure_limit: -1}\n"
        "        - {name: p, prometheus: {url: 'http://p'}}\n"
        "    rollback: {mode: automatic}\n"
        "notifications:\n"
        "  - {url: 'bogus://nowhere', events: [deploy.*]}\n"
    )
    messages = [d.message for d in errors_of(text)]
    expected = [
        "teams must be a mapping, got a list",
        "environment 'prod'.url must be a string, got an integer",
        "prevent_self_review must be true or false, got a string",
        "on_timeout must be one of reject, approve, got 'rejct'",
        "required must be at least 1, got 0",
        "checks[0] must have exactly one of http, command, prometheus (found http and command)",
        "checks[0].on_fail must be one of observe, pause, rollback, got 'stop'",
        "checks[1] is missing required key 'name'",
        "failure_limit must be at least 0, got -1",
        "checks[2].prometheus is missing required key 'query'",
        "checks[2].prometheus is missing required key 'fail_if'",
        "rollback of environment 'prod'.mode must be one of auto, manual, got 'automatic'",
        "notifications[0].url: Apprise does not understand the URL",
        "notifications[0].events: 'deploy.*' matches no event",
    ]
    assert len(messages) == len(expected)
    for message, fragment in zip(messages, expected, strict=True):
        assert fragment in message


def test_yaml_syntax_error_is_positioned() -> None:
    (found,) = errors_of("environments:\n  prod: [\n")
    assert found.message.startswith("invalid YAML")
    assert found.position is not None and found.position.line == 3


def test_monitor_requires_duration_and_checks() -> None:
    text = "environments:\n  prod:\n    monitor: {interval: 1s, checks: []}\n"
    messages = [d.message for d in errors_of(text)]
    assert messages == [
        "monitor of environment 'prod' is missing required key 'duration'",
        "monitor of environment 'prod'.checks must be a non-empty list, got an empty list",
    ]


def test_expressions_are_checked_at_load() -> None:
    text = (
        "environments:\n"
        "  prod:\n"
        "    approval: {auto_approve: '${{ needs.test.result == }}'}\n"
        "    monitor:\n"
        "      duration: 5s\n"
        "      checks:\n"
        "        - {name: p, prometheus: {url: 'http://p', query: up, fail_if: 'reslt > 1'}}\n"
    )
    auto, fail_if = errors_of(text)
    assert auto.position is not None
    assert (auto.position.line, auto.position.col) == where(text, "'${{")
    assert auto.message.startswith("approval of environment 'prod': Unexpected end")
    assert fail_if.message.endswith("Unrecognized named-value: 'reslt' at column 1")


# --- services: a job's services mapped to ones running on this machine ----------------


def test_services_map_a_port_or_container_ports_to_host_ports() -> None:
    config = parse_config(
        "services:\n"
        "  postgres: {port: 5432}\n"
        "  redis:\n"
        "    host: cache.local\n"
        "    ports: {6379: 6380, 8001: 8001}\n",
        "cfg.yml",
    )
    postgres, redis = config.services["postgres"], config.services["redis"]
    assert (postgres.name, postgres.host, postgres.port, postgres.ports) == (
        "postgres",
        "127.0.0.1",
        5432,
        {},
    )
    assert (redis.host, redis.port, redis.ports) == ("cache.local", None, {6379: 6380, 8001: 8001})
    assert parse_config("teams: {}\n").services == {}


def test_bad_services_are_reported_where_written() -> None:
    text = (
        "services:\n"
        "  pg: {hots: x, port: 0}\n"
        "  redis: {ports: {a: 70000}}\n"
        "  mq: amqp\n"
        "  both: {port: 1, ports: {1: 1}}\n"
        "  none: {host: 127.0.0.1}\n"
        "  empty: {ports: {}}\n"
    )
    found = [(d.position.line, d.position.col, d.message) for d in errors_of(text) if d.position]
    assert found == [
        (*where(text, "hots"), "unknown key 'hots' in services.pg"),
        (*where(text, "0}"), "services.pg.port must be at least 1, got 0"),
        (
            *where(text, "a:"),
            "a container port in services.redis.ports must be an integer, got a string",
        ),
        (*where(text, "70000"), "services.redis.ports must be at most 65535, got 70000"),
        (*where(text, "amqp"), "services.mq must be a mapping, got a string"),
        (*where(text, "{port: 1"), "services.both must have exactly one of port, ports"),
        (*where(text, "{host"), "services.none must have exactly one of port, ports"),
        (*where(text, "{}"), "services.empty.ports must map at least one container port"),
    ]


@pytest.mark.parametrize(
    ("check", "bad", "message"),
    [
        (
            "http: {url: 'http://'}",
            "'http://'",
            "checks[0].http.url has no host: 'http://'",
        ),
        ("http: {url: 'https:///x'}", "'https:///x'", "http.url has no host"),
        ("http: {url: 'http://h:99999/'}", "'http://h:99999/'", "http.url is not a valid URL"),
        ("http: {url: 'http://h', status: 99999}", "99999", "status must be an HTTP status"),
        (
            "prometheus: {url: not a url, query: up, fail_if: 'result > 1'}",
            "not a url",
            "prometheus.url must start with http:// or https://, got 'not a url'",
        ),
        (
            "prometheus: {url: 'ftp://p', query: up, fail_if: 'result > 1'}",
            "'ftp://p'",
            "prometheus.url must start with http:// or https://",
        ),
    ],
)
def test_check_urls_and_status_codes_are_checked_where_written(
    check: str, bad: str, message: str
) -> None:
    text = (
        "environments:\n  prod:\n    monitor:\n      duration: 5s\n      checks:\n"
        f"        - {{name: h, {check}}}\n"
    )
    [found] = errors_of(text)
    assert message in found.message
    assert found.position is not None
    assert (found.position.line, found.position.col) == where(text, bad)


def test_a_file_that_is_not_utf8_is_a_positioned_error(tmp_path: Path) -> None:
    path = tmp_path / CONFIG_FILE
    path.write_bytes(b"environments:\n  prod:\n    url: caf\xe9\n")
    with pytest.raises(WorkflowError) as caught:
        load_config_file(path)
    [found] = caught.value.diagnostics
    assert found.render().startswith(f"{path}:3:13: error: the file is not valid UTF-8")


def test_approval_where_allow_action_and_the_server() -> None:
    from stageline.deploy.config import configured_server

    config = parse_config(
        "server: http://ci.example:8750\n"
        "environments:\n"
        "  production:\n"
        "    approval: {rules: [{reviewers: [bob]}], where: server, allow_action: true}\n"
        "  staging:\n"
        "    approval: {rules: [{reviewers: [bob]}]}\n"
    )
    production = config.environments["production"].approval
    staging = config.environments["staging"].approval
    assert production is not None and staging is not None
    assert (production.where, production.allow_action) == ("server", True)
    assert (staging.where, staging.allow_action) == ("any", False)
    assert configured_server(config, {}) == "http://ci.example:8750"
    bare = parse_config("environments: {}\n")
    assert configured_server(bare, {"STAGELINE_SERVER": "http://x"}) == "http://x"
    assert configured_server(bare, {}) is None
    with pytest.raises(WorkflowError, match="where"):
        parse_config("environments:\n  p:\n    approval: {where: anywhere}\n")


def test_the_sandbox_section_loads_with_sizes_and_defaults() -> None:
    config = parse_config(
        "executor: sandbox\nsandbox:\n  memory: 512m\n  file_size: 2G\n"
        "  network_jobs: [deploy]\n  network_environments: [production]\n"
    )
    assert config.executor == "sandbox"
    assert config.sandbox is not None
    assert config.sandbox.memory == 512 << 20 and config.sandbox.file_size == 2 << 30
    assert config.sandbox.processes == 512 and config.sandbox.network == "none"
    assert config.sandbox.network_jobs == ["deploy"]
    assert config.sandbox.network_environments == ["production"]
    assert parse_config("environments: {}\n").executor is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("executor: docker\n", "x.yml:1:11: error: the configuration.executor must be one of"),
        ("sandbox:\n  memory: lots\n", "x.yml:2:11: error: sandbox.memory must be a size"),
        ("sandbox:\n  memory: 10k\n", "at least 1m, got '10k'"),
        ("sandbox:\n  processes: 2\n", "x.yml:2:14: error: sandbox.processes must be at least 8"),
        ("sandbox:\n  network: open\n", "x.yml:2:12: error: sandbox.network must be one of"),
        ("sandbox:\n  memroy: 1g\n", "x.yml:2:3: error: unknown key 'memroy' in sandbox"),
        ("sandbox: [1]\n", "x.yml:1:10: error: sandbox must be a mapping"),
    ],
)
def test_bad_sandbox_settings_are_positioned_errors(text: str, expected: str) -> None:
    with pytest.raises(WorkflowError) as caught:
        parse_config(text, "x.yml")
    assert expected in str(caught.value)
