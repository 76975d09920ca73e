"""`.stageline.yml`: environments, their protection rules, teams, identities, notifications.

Workflows stay GitHub-compatible; what GitHub keeps in repository settings lives in
this file at the repository root. `load_config` reads and validates it in one pass
and raises a `WorkflowError` carrying every diagnostic (``path:line:col: error:
...`` with a hint), or returns typed dataclasses whose `positions` point back into
the file (for lint findings and runtime errors). The schema is documented in
docs/config.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from stageline.deploy.yamlread import Reader, describe, load_document, suggest
from stageline.errors import ConfigError, Diagnostic, ExpressionError, Position, WorkflowError
from stageline.executors.bwrap import DEFAULT_FILE_SIZE, DEFAULT_MEMORY, DEFAULT_PROCESSES
from stageline.workflow.model import Node

CONFIG_FILE = ".stageline.yml"

OnTimeout = Literal["reject", "approve"]
#: Where an environment's gates accept decisions: anywhere (a terminal, the prompt of
#: `stageline run`, the server), or only authenticated through the team server.
DecideWhere = Literal["any", "server"]
OnFail = Literal["observe", "pause", "rollback"]
RollbackMode = Literal["auto", "manual"]
NetworkMode = Literal["none", "host"]

#: GitHub's own limit on how long a deployment review may stay pending.
DEFAULT_APPROVAL_TIMEOUT = timedelta(days=30)
DEFAULT_MONITOR_INTERVAL = timedelta(seconds=10)
DEFAULT_CHECK_TIMEOUT = timedelta(seconds=10)
DEFAULT_SERVICE_HOST = "127.0.0.1"
#: Named values a Prometheus check's `fail_if` sees: the sample value and its labels.
FAIL_IF_CONTEXTS = ("result", "labels")


@dataclass(slots=True)
class ApprovalRule(Node):
    """N-of-M: `required` of `reviewers` (user names or ``@team``) must approve."""

    reviewers: list[str] = field(default_factory=list)
    required: int = 1


@dataclass(slots=True)
class ApprovalConfig(Node):
    rules: list[ApprovalRule] = field(default_factory=list)
    prevent_self_review: bool = False
    wait_timer: timedelta = timedelta(0)
    timeout: timedelta = DEFAULT_APPROVAL_TIMEOUT
    on_timeout: OnTimeout = "reject"
    remind_every: timedelta | None = None
    #: An expression (``${{ ... }}`` or bare) over the run's contexts.
    auto_approve: str | None = None
    #: Whether an upstream `hmarr/auto-approve-action` counts (as one approver, for the
    #: run's author: see `gates`).
    allow_action: bool = False
    where: DecideWhere = "any"


@dataclass(slots=True)
class HttpCheck(Node):
    url: str = ""
    status: int = 200
    max_latency: timedelta | None = None
    body_contains: str | None = None


@dataclass(slots=True)
class PrometheusCheck(Node):
    """An instant query; `fail_if` is an expression over ``result`` (the sample value)."""

    url: str = ""
    query: str = ""
    fail_if: str = ""


@dataclass(slots=True)
class CheckConfig(Node):
    """One health check; exactly one of `http`, `command`, `prometheus` is set."""

    name: str = ""
    http: HttpCheck | None = None
    command: str | None = None
    prometheus: PrometheusCheck | None = None
    #: Failures tolerated in one window; the check fails on failure number limit + 1.
    failure_limit: int = 0
    on_fail: OnFail = "rollback"
    #: How long one probe may take (an extension: not in issue 4's example).
    timeout: timedelta = DEFAULT_CHECK_TIMEOUT

    @property
    def kind(self) -> str:
        return "http" if self.http else "prometheus" if self.prometheus else "command"


@dataclass(slots=True)
class MonitorConfig(Node):
    duration: timedelta = timedelta(0)
    interval: timedelta = DEFAULT_MONITOR_INTERVAL
    checks: list[CheckConfig] = field(default_factory=list)


@dataclass(slots=True)
class RollbackConfig(Node):
    mode: RollbackMode = "auto"
    #: A script to run instead of redeploying the last good deployment.
    run: str | None = None


@dataclass(slots=True)
class EnvironmentConfig(Node):
    name: str = ""
    url: str | None = None
    #: Deployment branch policy (Ruby fnmatch patterns, see `deploy.branches`); None = any.
    branches: list[str] | None = None
    approval: ApprovalConfig | None = None
    monitor: MonitorConfig | None = None
    rollback: RollbackConfig | None = None


@dataclass(slots=True)
class NotificationRoute(Node):
    """Events matching any of `events` (globs such as ``deployment.*``) go to `url`."""

    url: str = ""
    events: list[str] = field(default_factory=lambda: ["*"])


@dataclass(slots=True)
class ServiceConfig(Node):
    """A service running on this machine that a job's `services.<name>` stands for:
    exactly one of `port` (its one port) and `ports` (container port → host port)."""

    name: str = ""
    host: str = DEFAULT_SERVICE_HOST
    port: int | None = None
    ports: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class SandboxConfig(Node):
    """`sandbox:`: the limits and network of jobs run by the sandbox executor."""

    memory: int = DEFAULT_MEMORY
    processes: int = DEFAULT_PROCESSES
    file_size: int = DEFAULT_FILE_SIZE
    network: NetworkMode = "none"
    network_jobs: list[str] = field(default_factory=list)
    network_environments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StagelineConfig(Node):
    path: str = CONFIG_FILE
    environments: dict[str, EnvironmentConfig] = field(default_factory=dict)
    teams: dict[str, list[str]] = field(default_factory=dict)
    #: git e-mail address → user name, for identity when no --as/STAGELINE_USER.
    users: dict[str, str] = field(default_factory=dict)
    notifications: list[NotificationRoute] = field(default_factory=list)
    #: A job's service name → the service running on this machine that stands for it.
    services: dict[str, ServiceConfig] = field(default_factory=dict)
    #: The team server this repository's runs are decided on (`server:`), for lint.
    server: str | None = None
    #: Where `stageline run` runs jobs when no --executor is given (None: local).
    executor: str | None = None
    sandbox: SandboxConfig | None = None

    def environment(self, name: str) -> EnvironmentConfig:
        """The named environment's rules; an environment not configured has none."""
        found = self.environments.get(name)
        return found if found is not None else EnvironmentConfig(Position(self.path), name=name)

    def user_for_email(self, email: str) -> str | None:
        wanted = email.strip().lower()
        for address, user in self.users.items():
            if address.lower() == wanted:
                return user
        return None


_TOP_KEYS = (
    "environments",
    "teams",
    "users",
    "notifications",
    "services",
    "server",
    "executor",
    "sandbox",
)
_EXECUTORS = ("local", "sandbox")
_SANDBOX_KEYS = (
    "memory",
    "processes",
    "file_size",
    "network",
    "network_jobs",
    "network_environments",
)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"(\d+)\s*([kmgt]?)i?b?", re.IGNORECASE)
_ENV_KEYS = ("url", "branches", "approval", "monitor", "rollback")
_APPROVAL_KEYS = (
    "rules",
    "prevent_self_review",
    "wait_timer",
    "timeout",
    "on_timeout",
    "remind_every",
    "auto_approve",
    "allow_action",
    "where",
)
_RULE_KEYS = ("reviewers", "required")
_MONITOR_KEYS = ("duration", "interval", "checks")
_CHECK_KEYS = ("name", "http", "command", "prometheus", "failure_limit", "on_fail", "timeout")
_CHECK_KINDS = ("http", "command", "prometheus")
_HTTP_KEYS = ("url", "status", "max_latency", "body_contains")
_PROMETHEUS_KEYS = ("url", "query", "fail_if")
_ROLLBACK_KEYS = ("mode", "run")
_ROUTE_KEYS = ("url", "events")
_SERVICE_KEYS = ("host", "port", "ports")


def configured_server(config: StagelineConfig, environ: Mapping[str, str]) -> str | None:
    """The team server this repository uses: `server:` in `.stageline.yml`, else
    `$STAGELINE_SERVER` (what `--server` defaults to); None when there is none."""
    return config.server or environ.get("STAGELINE_SERVER") or None


def load_config(repo_dir: str | Path) -> StagelineConfig:
    """The repository's `.stageline.yml`, or an empty configuration when there is none."""
    path = Path(repo_dir) / CONFIG_FILE
    if not path.exists():
        return StagelineConfig(Position(str(path)), path=str(path))
    return load_config_file(path)


def load_config_file(path: str | Path) -> StagelineConfig:
    """Read and validate one configuration file; raise WorkflowError listing every error."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}") from err
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        before = data[: err.start]
        line = before.count(b"\n") + 1
        col = err.start - (before.rfind(b"\n") + 1) + 1
        where = Position(str(path), line, col)
        raise WorkflowError([Diagnostic(where, "the file is not valid UTF-8")]) from None
    return parse_config(text, str(path))


def parse_config(text: str, path: str = CONFIG_FILE) -> StagelineConfig:
    """Validate `text` as `.stageline.yml` (reported as `path`)."""
    document, syntax_error = load_document(text, path)
    if syntax_error:
        raise WorkflowError([syntax_error])
    reader = Reader(path)
    config = _Builder(reader).build(document)
    if reader.diagnostics:
        raise WorkflowError(sorted(reader.diagnostics, key=_file_order))
    return config


def _file_order(diagnostic: Diagnostic) -> tuple[int, int]:
    where = diagnostic.position
    return (where.line, where.col) if where else (0, 0)


class _Builder:
    """The schema, one method per node type."""

    def __init__(self, reader: Reader) -> None:
        self.r = reader
        self.top = Position(reader.path)

    def build(self, document: Any) -> StagelineConfig:
        config = StagelineConfig(self.top, path=self.r.path)
        if document is None:
            return config
        root = self.r.mapping(document, self.top, "the configuration")
        if root is None:
            return config
        self.r.check_keys(root, _TOP_KEYS, "the configuration")
        config.positions = self.r.positions(root)
        # Teams first: approval rules are checked against them.
        if "teams" in root:
            config.teams = self.teams(root["teams"], config.at("teams"))
        if "users" in root:
            config.users = self.users(root["users"], config.at("users"))
        if "environments" in root:
            config.environments = self.environments(
                root["environments"], config.at("environments"), config.teams
            )
        if "notifications" in root:
            config.notifications = self.notifications(
                root["notifications"], config.at("notifications")
            )
        if "services" in root:
            config.services = self.services(root["services"], config.at("services"))
        config.server = self.r.field(root, "server", self.r.string, "the configuration", None)
        config.executor = self.r.field(
            root, "executor", self._choice(*_EXECUTORS), "the configuration", None
        )
        if "sandbox" in root:
            config.sandbox = self.sandbox(root["sandbox"], config.at("sandbox"))
        return config

    def sandbox(self, value: Any, where: Position) -> SandboxConfig | None:
        what = "sandbox"
        node = self.r.mapping(value, where, what)
        if node is None:
            return None
        self.r.check_keys(node, _SANDBOX_KEYS, what)
        sandbox = SandboxConfig(where, positions=self.r.positions(node))
        sandbox.memory = self.r.field(node, "memory", self._size, what, DEFAULT_MEMORY)
        sandbox.processes = self.r.field(
            node, "processes", lambda v, w, n: self.r.integer(v, w, n, 8), what, DEFAULT_PROCESSES
        )
        sandbox.file_size = self.r.field(node, "file_size", self._size, what, DEFAULT_FILE_SIZE)
        sandbox.network = cast(
            NetworkMode, self.r.field(node, "network", self._choice("none", "host"), what, "none")
        )
        sandbox.network_jobs = self.r.field(node, "network_jobs", self.r.strings, what, [])
        sandbox.network_environments = self.r.field(
            node, "network_environments", self.r.strings, what, []
        )
        return sandbox

    def _size(self, value: Any, where: Position, what: str) -> int | None:
        """Bytes: an integer, or a number with k, m, g or t (powers of 1024)."""
        found = None if isinstance(value, bool) else _SIZE.fullmatch(str(value).strip())
        size = int(found[1]) * _SIZE_UNITS[found[2].lower()] if found else 0
        if size < 1 << 20:
            shown = repr(value) if isinstance(value, str | int) else describe(value)
            self.r.error(
                where,
                f"{what} must be a size of at least 1m, got {shown}",
                hint="e.g. 512m or 4g (powers of 1024)",
            )
            return None
        return size

    def teams(self, value: Any, where: Position) -> dict[str, list[str]]:
        node = self.r.mapping(value, where, "teams")
        teams: dict[str, list[str]] = {}
        if node is None:
            return teams
        for name in node:
            members = self.r.strings(node[name], self.r.value_pos(node, name), f"teams.{name}")
            if members is not None:
                teams[str(name).removeprefix("@")] = members
        return teams

    def users(self, value: Any, where: Position) -> dict[str, str]:
        node = self.r.mapping(value, where, "users")
        users: dict[str, str] = {}
        if node is None:
            return users
        for email in node:
            user = self.r.string(node[email], self.r.value_pos(node, email), f"users.{email}")
            if user is not None:
                users[str(email)] = user
        return users

    def environments(
        self, value: Any, where: Position, teams: dict[str, list[str]]
    ) -> dict[str, EnvironmentConfig]:
        node = self.r.mapping(value, where, "environments")
        result: dict[str, EnvironmentConfig] = {}
        if node is None:
            return result
        for name in node:
            at = self.r.key_pos(node, name)
            env = EnvironmentConfig(at, name=str(name))
            body = node[name]
            if body is not None:
                result[str(name)] = self.environment(env, body, teams)
            else:
                result[str(name)] = env
        return result

    def environment(
        self, env: EnvironmentConfig, value: Any, teams: dict[str, list[str]]
    ) -> EnvironmentConfig:
        what = f"environment {env.name!r}"
        node = self.r.mapping(value, env.pos, what)
        if node is None:
            return env
        self.r.check_keys(node, _ENV_KEYS, what)
        env.positions = self.r.positions(node)
        env.url = self.r.field(node, "url", self.r.string, what, None)
        env.branches = self.r.field(node, "branches", self.r.strings, what, None)
        if "approval" in node:
            env.approval = self.approval(node["approval"], env.at("approval"), what, teams)
        if "monitor" in node:
            env.monitor = self.monitor(node["monitor"], env.at("monitor"), what)
        if "rollback" in node:
            env.rollback = self.rollback(node["rollback"], env.at("rollback"), what)
        return env

    def approval(
        self, value: Any, where: Position, owner: str, teams: dict[str, list[str]]
    ) -> ApprovalConfig | None:
        what = f"approval of {owner}"
        node = self.r.mapping(value, where, what)
        if node is None:
            return None
        self.r.check_keys(node, _APPROVAL_KEYS, what)
        approval = ApprovalConfig(where, positions=self.r.positions(node))
        if "rules" in node:
            approval.rules = self.rules(node["rules"], approval.at("rules"), what, teams)
        approval.prevent_self_review = self.r.field(
            node, "prevent_self_review", self.r.boolean, what, False
        )
        approval.wait_timer = self.r.field(node, "wait_timer", self.r.duration, what, timedelta(0))
        approval.timeout = self.r.field(
            node, "timeout", self.r.duration, what, DEFAULT_APPROVAL_TIMEOUT
        )
        approval.on_timeout = cast(
            OnTimeout,
            self.r.field(node, "on_timeout", self._choice("reject", "approve"), what, "reject"),
        )
        approval.remind_every = self.r.field(node, "remind_every", self.r.duration, what, None)
        if approval.remind_every is not None and not approval.remind_every:
            self.r.error(approval.at("remind_every"), f"{what}.remind_every must be more than 0s")
        approval.allow_action = self.r.field(node, "allow_action", self.r.boolean, what, False)
        approval.where = cast(
            DecideWhere, self.r.field(node, "where", self._choice("any", "server"), what, "any")
        )
        approval.auto_approve = self.r.field(node, "auto_approve", self.r.string, what, None)
        if approval.auto_approve is not None:
            self.expression(approval.auto_approve, approval.at("auto_approve"), what, None)
        return approval

    def rules(
        self, value: Any, where: Position, owner: str, teams: dict[str, list[str]]
    ) -> list[ApprovalRule]:
        rules: list[ApprovalRule] = []
        for what, at, node in self.r.mappings(
            value, where, f"{owner}.rules", _RULE_KEYS, ["reviewers"]
        ):
            rule = ApprovalRule(at, positions=self.r.positions(node))
            rule.reviewers = self.r.field(node, "reviewers", self.r.strings, what, [])
            rule.required = self.r.field(
                node, "required", lambda v, w, n: self.r.integer(v, w, n, 1), what, 1
            )
            self.check_reviewers(rule, node, what, teams)
            rules.append(rule)
        return rules

    def check_reviewers(
        self, rule: ApprovalRule, node: CommentedMap, what: str, teams: dict[str, list[str]]
    ) -> None:
        """Teams must exist, and `required` must be reachable by the people named."""
        if "reviewers" not in node:
            return
        if not rule.reviewers:
            self.r.error(rule.at("reviewers"), f"{what}.reviewers must name at least one reviewer")
            return
        people: set[str] = set()
        complete = True
        for reviewer in rule.reviewers:
            if reviewer.startswith("@"):
                team = reviewer[1:]
                if team in teams:
                    people.update(teams[team])
                    continue
                complete = False
                known = [f"@{t}" for t in teams]
                hint = suggest(reviewer, known) or (
                    f"define it under teams: ({', '.join(known)})"
                    if known
                    else f"define it: teams: {{{team}: [user, ...]}}"
                )
                self.r.error(
                    rule.at("reviewers"), f"approver team {reviewer!r} is not defined", hint
                )
            else:
                people.add(reviewer)
        if complete and rule.required > len(people):
            self.r.error(
                rule.at("required"),
                f"{what}.required is {rule.required} but only {len(people)} "
                f"reviewer(s) can approve ({', '.join(sorted(people))})",
            )

    def monitor(self, value: Any, where: Position, owner: str) -> MonitorConfig | None:
        what = f"monitor of {owner}"
        node = self.r.mapping(value, where, what)
        if node is None:
            return None
        self.r.check_keys(node, _MONITOR_KEYS, what, required=["duration", "checks"], where=where)
        monitor = MonitorConfig(where, positions=self.r.positions(node))
        monitor.duration = self.r.field(node, "duration", self.r.duration, what, timedelta(0))
        monitor.interval = self.r.field(
            node, "interval", self.r.duration, what, DEFAULT_MONITOR_INTERVAL
        )
        if "interval" in node and not monitor.interval:
            self.r.error(monitor.at("interval"), f"{what}.interval must be more than 0s")
        if "checks" in node:
            monitor.checks = self.checks(node["checks"], monitor.at("checks"), what)
        return monitor

    def checks(self, value: Any, where: Position, owner: str) -> list[CheckConfig]:
        if not isinstance(value, CommentedSeq) or not value:
            got = "an empty list" if isinstance(value, CommentedSeq) else describe(value)
            self.r.error(where, f"{owner}.checks must be a non-empty list, got {got}")
            return []
        checks: list[CheckConfig] = []
        seen: set[str] = set()
        for index, item in enumerate(value):
            at = self.r.item_pos(value, index)
            check = self.check(item, at, f"{owner}.checks[{index}]")
            if check is None:
                continue
            if check.name in seen:
                self.r.error(check.at("name"), f"duplicate check name {check.name!r} in {owner}")
            seen.add(check.name)
            checks.append(check)
        return checks

    def check(self, value: Any, where: Position, what: str) -> CheckConfig | None:
        node = self.r.mapping(value, where, what)
        if node is None:
            return None
        self.r.check_keys(node, _CHECK_KEYS, what, required=["name"], where=where)
        check = CheckConfig(where, positions=self.r.positions(node))
        check.name = self.r.field(node, "name", self.r.string, what, "")
        kinds = [kind for kind in _CHECK_KINDS if kind in node]
        if len(kinds) != 1:
            found = f"found {' and '.join(kinds)}" if kinds else "found none"
            self.r.error(
                where,
                f"{what} must have exactly one of http, command, prometheus ({found})",
            )
        if "http" in node:
            check.http = self.http(node["http"], check.at("http"), what)
        if "command" in node:
            check.command = self.r.string(node["command"], check.at("command"), f"{what}.command")
        if "prometheus" in node:
            check.prometheus = self.prometheus(node["prometheus"], check.at("prometheus"), what)
        check.failure_limit = self.r.field(node, "failure_limit", self.r.integer, what, 0)
        check.on_fail = cast(
            OnFail,
            self.r.field(
                node, "on_fail", self._choice("observe", "pause", "rollback"), what, "rollback"
            ),
        )
        check.timeout = self.r.field(node, "timeout", self.r.duration, what, DEFAULT_CHECK_TIMEOUT)
        return check

    def http(self, value: Any, where: Position, owner: str) -> HttpCheck | None:
        what = f"{owner}.http"
        node = self.r.mapping(value, where, what)
        if node is None:
            return None
        self.r.check_keys(node, _HTTP_KEYS, what, required=["url"], where=where)
        http = HttpCheck(where, positions=self.r.positions(node))
        http.url = self.r.field(node, "url", self.r.string, what, "")
        self.url(http.url, http.at("url"), f"{what}.url")
        http.status = self.r.field(
            node, "status", lambda v, w, n: self.r.integer(v, w, n, 100), what, 200
        )
        if http.status is not None and http.status > 599:
            self.r.error(
                http.at("status"),
                f"{what}.status must be an HTTP status code (100 to 599), got {http.status}",
            )
        http.max_latency = self.r.field(node, "max_latency", self.r.duration, what, None)
        http.body_contains = self.r.field(node, "body_contains", self.r.string, what, None)
        return http

    def url(self, url: str, where: Position, what: str) -> None:
        """Report a URL a check could not request: only http(s) with a host is one."""
        if not url:
            return
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises for a port that is not a number in range
        except ValueError as err:
            self.r.error(where, f"{what} is not a valid URL: {err}")
            return
        if parts.scheme not in ("http", "https"):
            self.r.error(where, f"{what} must start with http:// or https://, got {url!r}")
        elif not parts.hostname:
            self.r.error(
                where, f"{what} has no host: {url!r}", hint="e.g. http://127.0.0.1:8080/health"
            )

    def prometheus(self, value: Any, where: Position, owner: str) -> PrometheusCheck | None:
        what = f"{owner}.prometheus"
        node = self.r.mapping(value, where, what)
        if node is None:
            return None
        self.r.check_keys(node, _PROMETHEUS_KEYS, what, required=_PROMETHEUS_KEYS, where=where)
        prom = PrometheusCheck(where, positions=self.r.positions(node))
        prom.url = self.r.field(node, "url", self.r.string, what, "")
        self.url(prom.url, prom.at("url"), f"{what}.url")
        prom.query = self.r.field(node, "query", self.r.string, what, "")
        prom.fail_if = self.r.field(node, "fail_if", self.r.string, what, "")
        if prom.fail_if:
            self.expression(prom.fail_if, prom.at("fail_if"), what, FAIL_IF_CONTEXTS)
        return prom

    def rollback(self, value: Any, where: Position, owner: str) -> RollbackConfig | None:
        what = f"rollback of {owner}"
        node = self.r.mapping(value, where, what)
        if node is None:
            return None
        self.r.check_keys(node, _ROLLBACK_KEYS, what)
        rollback = RollbackConfig(where, positions=self.r.positions(node))
        rollback.mode = cast(
            RollbackMode, self.r.field(node, "mode", self._choice("auto", "manual"), what, "auto")
        )
        rollback.run = self.r.field(node, "run", self.r.string, what, None)
        return rollback

    def notifications(self, value: Any, where: Position) -> list[NotificationRoute]:
        from stageline.notify.events import EVENTS, pattern_matches_any
        from stageline.notify.routing import check_url

        routes: list[NotificationRoute] = []
        for what, at, node in self.r.mappings(value, where, "notifications", _ROUTE_KEYS, ["url"]):
            route = NotificationRoute(at, positions=self.r.positions(node))
            route.url = self.r.field(node, "url", self.r.string, what, "")
            problem = check_url(route.url) if route.url else None
            if problem:
                self.r.error(route.at("url"), f"{what}.url: {problem}", "see Apprise's URL list")
            route.events = self.r.field(node, "events", self.r.strings, what, ["*"])
            for pattern in route.events:
                if not pattern_matches_any(pattern):
                    hint = suggest(pattern, EVENTS) or f"events are: {', '.join(EVENTS)}"
                    self.r.error(
                        route.at("events"), f"{what}.events: {pattern!r} matches no event", hint
                    )
            routes.append(route)
        return routes

    def services(self, value: Any, where: Position) -> dict[str, ServiceConfig]:
        node = self.r.mapping(value, where, "services")
        services: dict[str, ServiceConfig] = {}
        if node is None:
            return services
        for name in node:
            what = f"services.{name}"
            at = self.r.value_pos(node, name)
            body = self.r.mapping(node[name], at, what)
            if body is None:
                continue
            self.r.check_keys(body, _SERVICE_KEYS, what)
            service = ServiceConfig(at, positions=self.r.positions(body), name=str(name))
            service.host = self.r.field(body, "host", self.r.string, what, service.host)
            service.port = self.r.field(body, "port", self._port, what, None)
            if "ports" in body:
                service.ports = self.ports(body["ports"], service.at("ports"), f"{what}.ports")
            if ("port" in body) == ("ports" in body):
                self.r.error(at, f"{what} must have exactly one of port, ports")
            services[str(name)] = service
        return services

    def ports(self, value: Any, where: Position, what: str) -> dict[int, int]:
        """Container port → host port, as Docker's `-p HOST:CONTAINER` reversed."""
        node = self.r.mapping(value, where, what)
        ports: dict[int, int] = {}
        if node is None:
            return ports
        if not node:
            self.r.error(where, f"{what} must map at least one container port")
        for container in node:
            at = self.r.key_pos(node, container)
            inner = self._port(container, at, f"a container port in {what}")
            outer = self._port(node[container], self.r.value_pos(node, container), what)
            if inner is not None and outer is not None:
                ports[inner] = outer
        return ports

    def _port(self, value: Any, where: Position, what: str) -> int | None:
        port = self.r.integer(value, where, what, 1)
        if port is not None and port > 65535:
            self.r.error(where, f"{what} must be at most 65535, got {port}")
            return None
        return port

    def expression(
        self, text: str, where: Position, what: str, contexts: tuple[str, ...] | None
    ) -> None:
        """Report a syntax error now rather than at the gate or in the monitor window;
        named values are checked only where the contexts are known (`contexts`)."""
        from stageline.expressions import check, parse

        bare = text.strip()
        if bare.startswith("${{") and bare.endswith("}}"):
            bare = bare[3:-2]
        try:
            if contexts is None:
                parse(bare)
            else:
                check(bare, contexts)
        except ExpressionError as err:
            self.r.error(where, f"{what}: {err.message}", err.hint)

    def _choice(self, *choices: str) -> Callable[[Any, Position, str], str | None]:
        def convert(value: Any, where: Position, what: str) -> str | None:
            return self.r.choice(value, where, what, choices)

        return convert


__all__ = [
    "CONFIG_FILE",
    "ApprovalConfig",
    "ApprovalRule",
    "CheckConfig",
    "EnvironmentConfig",
    "HttpCheck",
    "MonitorConfig",
    "NotificationRoute",
    "OnFail",
    "OnTimeout",
    "PrometheusCheck",
    "RollbackConfig",
    "RollbackMode",
    "SandboxConfig",
    "ServiceConfig",
    "StagelineConfig",
    "configured_server",
    "load_config",
    "load_config_file",
    "parse_config",
]
