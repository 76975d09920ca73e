"""The job graph: `needs` as a DAG, its cycles, its topological layers and its renderings.

The graph questions (`find_cycle`, `layers`) take a plain ``needs`` mapping (job id →
the ids it needs, in file order), so validation, compile and the CLI share one
implementation. Names in ``needs`` that are not keys of the mapping are ignored:
reporting them is validation's job, not the graph's.

`job_graph` turns a `Workflow` into a `JobGraph` (layers plus each job's matrix legs)
that `to_text`, `to_mermaid`, `to_dot` and `to_json` render. Given the workflow's
callees (`workflow.calls.load_callees`), a job that calls a reusable workflow becomes a
cluster named after it holding the called jobs (``deploy / build``), as GitHub draws
them; a job needing the caller needs the cluster's last jobs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from stageline.errors import Diagnostic, WorkflowError
from stageline.workflow import matrix as matrices
from stageline.workflow.model import Job, Workflow

Needs = Mapping[str, Sequence[str]]


def find_cycle(needs: Needs) -> list[str] | None:
    """The jobs of one cycle in dependency order (``a`` needs ``b`` needs ... needs ``a``),
    or None when the graph is acyclic. Deterministic: the first cycle met walking the jobs
    in file order."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in needs:
        if root in state:
            continue
        path: list[str] = [root]
        index: dict[str, int] = {root: 0}
        state[root] = 1
        stack = [iter(needs[root])]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                done = path.pop()
                del index[done]
                state[done] = 2
                continue
            if child not in needs:
                continue
            mark = state.get(child)
            if mark == 1:
                return path[index[child] :]
            if mark is None:
                state[child] = 1
                index[child] = len(path)
                path.append(child)
                stack.append(iter(needs[child]))
    return None


def layers(needs: Needs) -> list[list[str]]:
    """Topological layers: a job sits one layer below the deepest job it needs, so each
    layer can run once the layers above it are done. File order within a layer.

    Raises `WorkflowError` naming the cycle when there is one.
    """
    waiting = {job: len({n for n in deps if n in needs}) for job, deps in needs.items()}
    dependents: dict[str, list[str]] = {job: [] for job in needs}
    for job, deps in needs.items():
        for dep in dict.fromkeys(deps):
            if dep in needs:
                dependents[dep].append(job)
    depth = dict.fromkeys((job for job, count in waiting.items() if count == 0), 0)
    ready = list(depth)
    while ready:
        job = ready.pop()
        for child in dependents[job]:
            depth[child] = max(depth.get(child, 0), depth[job] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(depth) < len(needs):
        cycle = find_cycle(needs) or [job for job in needs if job not in depth]
        raise WorkflowError([Diagnostic(None, cycle_message(cycle))])
    result: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for job in needs:
        result[depth[job]].append(job)
    return result


def through_calls(needs: Needs) -> dict[str, list[str]]:
    """`needs` of a plan, where a job needing a caller of a reusable workflow
    (``deploy``) needs its called jobs instead (``deploy / build``, ``deploy.2 / build``
    for a matrix of calls), so that `layers` places it after them."""
    resolved: dict[str, list[str]] = {}
    for job, deps in needs.items():
        listed: list[str] = []
        for dep in deps:
            if dep in needs:
                listed.append(dep)
                continue
            called = re.compile(re.escape(dep) + r"(\.\d+)? / ")
            listed.extend(other for other in needs if called.match(other))
        resolved[job] = listed
    return resolved


def cycle_message(cycle: Sequence[str]) -> str:
    """``jobs form a cycle: a → b → a`` (the first job repeated to close the loop)."""
    return "jobs form a cycle in 'needs': " + " → ".join([*cycle, cycle[0]])


#: Legs listed in a node label before the rest is summarised as "... and N more".
_LEGS_SHOWN = 8


@dataclass(frozen=True, slots=True)
class GraphNode:
    """One job as the graph shows it.

    `legs` holds each matrix leg's values (``3.11, ubuntu``) when the matrix can be
    expanded now; `matrix` holds the matrix as written when it can only be expanded
    at run time (it depends on ``needs`` outputs or on contexts not given).
    """

    id: str
    name: str
    needs: tuple[str, ...]
    legs: tuple[str, ...] = ()
    matrix: str | None = None
    #: The callers it sits in, outermost first (a job of a called workflow).
    clusters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Cluster:
    """A job that calls a reusable workflow, drawn around the jobs it calls."""

    id: str
    name: str
    uses: str
    parent: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.uses})"


@dataclass(frozen=True, slots=True)
class JobGraph:
    title: str
    path: str
    nodes: tuple[GraphNode, ...]
    layers: tuple[tuple[str, ...], ...]
    clusters: tuple[Cluster, ...] = ()

    def node(self, job_id: str) -> GraphNode:
        return next(n for n in self.nodes if n.id == job_id)

    def edges(self) -> list[tuple[str, str]]:
        """(needed, needing) pairs in file order."""
        return [(dep, n.id) for n in self.nodes for dep in n.needs]


def job_graph(
    workflow: Workflow,
    contexts: Mapping[str, Any] | None = None,
    callees: Mapping[str, Workflow] | None = None,
) -> JobGraph:
    """The graph of a workflow. Matrices with ``${{ }}`` are expanded only when `contexts`
    is given and they do not depend on ``needs``; otherwise they are shown as written.
    A call whose callee is in `callees` (by `uses:`) is drawn as a cluster."""
    nodes: list[GraphNode] = []
    clusters: list[Cluster] = []
    _add_jobs(workflow, contexts, callees or {}, nodes, clusters, "", (), [])
    nodes = _through_clusters(nodes, clusters)
    needs = {node.id: list(node.needs) for node in nodes}
    return JobGraph(
        title=workflow.display_name,
        path=workflow.path,
        nodes=tuple(nodes),
        layers=tuple(tuple(layer) for layer in layers(needs)),
        clusters=tuple(clusters),
    )


def _add_jobs(
    workflow: Workflow,
    contexts: Mapping[str, Any] | None,
    callees: Mapping[str, Workflow],
    nodes: list[GraphNode],
    clusters: list[Cluster],
    prefix: str,
    inside: tuple[str, ...],
    waits: list[str],
) -> None:
    """The nodes of `workflow`'s jobs, ids prefixed (inside a call); a root job waits
    for `waits` (its caller's needs)."""
    for job in workflow.jobs.values():
        needs = [prefix + n for n in job.needs] or list(waits)
        callee = callees.get(job.uses) if job.uses is not None else None
        if callee is None or len(inside) >= len(callees) + 1:
            node = _node(job, None if inside else contexts)
            nodes.append(
                GraphNode(
                    prefix + node.id,
                    node.name,
                    tuple(needs),
                    node.legs,
                    node.matrix,
                    inside,
                )
            )
            continue
        cluster = prefix + job.id
        name = job.name or job.id
        if job.strategy is not None and job.strategy.matrix is not None:
            name += f" [matrix: {_written(job.strategy.matrix)}]"
        clusters.append(Cluster(cluster, name, job.uses or "", inside[-1] if inside else None))
        _add_jobs(
            callee, None, callees, nodes, clusters, f"{cluster} / ", (*inside, cluster), needs
        )


def _through_clusters(nodes: list[GraphNode], clusters: list[Cluster]) -> list[GraphNode]:
    """A need naming a caller becomes a need of the caller's last jobs (those no other
    job of the call needs)."""
    ids = {c.id for c in clusters}
    if not ids:
        return nodes
    members = {c: [n for n in nodes if c in n.clusters] for c in ids}
    needed = {need for n in nodes for need in n.needs}
    last = {
        c: [n.id for n in inner if n.id not in needed] or [inner[-1].id]
        for c, inner in members.items()
        if inner
    }
    resolved = []
    for node in nodes:
        needs: list[str] = []
        for need in node.needs:
            needs.extend(last.get(need, [need]) if need in ids else [need])
        resolved.append(replace(node, needs=tuple(dict.fromkeys(needs))))
    return resolved


def _node(job: Job, contexts: Mapping[str, Any] | None) -> GraphNode:
    name = job.name if job.name and "${{" not in job.name else job.id
    needs = tuple(job.needs)
    raw = job.strategy.matrix if job.strategy else None
    if raw is None:
        return GraphNode(job.id, name, needs)
    assert job.strategy is not None
    pos = job.strategy.at("matrix")
    where = matrices.key_positions(job.strategy)
    if isinstance(raw, str) or matrices.has_templates(raw):
        if contexts is None or matrices.references(raw, "needs"):
            return GraphNode(job.id, name, needs, matrix=_written(raw))
        combos = matrices.expand_strategy(raw, contexts, pos, positions=where)
    else:
        combos = matrices.expand(raw, pos, positions=where)
    legs = tuple(matrices.leg_values(c) for c in combos)
    return GraphNode(job.id, name, needs, legs=legs)


def _written(raw: Mapping[str, Any] | str) -> str:
    if isinstance(raw, str):
        return raw.strip()
    return json.dumps(raw, separators=(", ", ": "), default=str)


def _coerce(graph: JobGraph | Workflow) -> JobGraph:
    return graph if isinstance(graph, JobGraph) else job_graph(graph)


def _shown_legs(node: GraphNode) -> Iterator[str]:
    yield from node.legs[:_LEGS_SHOWN]
    if len(node.legs) > _LEGS_SHOWN:
        yield f"... and {len(node.legs) - _LEGS_SHOWN} more"


def _summary(node: GraphNode) -> str | None:
    if node.legs:
        return f"matrix: {len(node.legs)} job{'s' if len(node.legs) != 1 else ''}"
    if node.matrix:
        return f"matrix: {node.matrix}"
    return None


def to_text(graph: JobGraph | Workflow) -> str:
    """A plain listing: one block per stage (layer), each job with what it needs and
    its matrix legs."""
    g = _coerce(graph)
    lines = [f"{g.title} ({g.path})" if g.path and g.path != g.title else g.title]
    for number, layer in enumerate(g.layers, 1):
        lines.append(f"stage {number}:")
        for job_id in layer:
            node = g.node(job_id)
            own = node.id.rpartition(" / ")[2]  # a called job's id inside its callee
            head = f"  {node.id}" + (f" ({node.name})" if node.name != own else "")
            if node.needs:
                head += f"  needs: {', '.join(node.needs)}"
            summary = _summary(node)
            if summary:
                head += f"  [{summary}]"
            lines.append(head)
            lines.extend(f"    - {node.name} ({leg})" for leg in _shown_legs(node))
    if g.clusters:
        lines.append("calls:")
        for cluster in g.clusters:
            depth = len(_ancestry(g, cluster))
            inner = [n.id for n in g.nodes if n.clusters and n.clusters[-1] == cluster.id]
            inner += [c.id for c in g.clusters if c.parent == cluster.id]
            lines.append(f"{'  ' * depth}{cluster.id} → {cluster.uses}: {', '.join(inner)}")
    return "\n".join(lines) + "\n"


def _ancestry(g: JobGraph, cluster: Cluster) -> list[str]:
    """`cluster` and the clusters around it, innermost first."""
    found = [cluster.id]
    parent = cluster.parent
    while parent is not None:
        found.append(parent)
        parent = next(c.parent for c in g.clusters if c.id == parent)
    return found


def _in_clusters(
    g: JobGraph,
    draw: Callable[[GraphNode, str], list[str]],
    open_: Callable[[Cluster, str], list[str]],
    close: str,
    indent: str,
) -> list[str]:
    """The clusters as nested blocks: each opened by `open_`, its nodes drawn by
    `draw`, the clusters inside it, then `close`; indented by depth."""
    lines: list[str] = []

    def emit(cluster: Cluster, at: str) -> None:
        lines.extend(open_(cluster, at))
        for node in g.nodes:
            if node.clusters and node.clusters[-1] == cluster.id:
                lines.extend(draw(node, at + "  "))
        for inner in g.clusters:
            if inner.parent == cluster.id:
                emit(inner, at + "  ")
        lines.append(at + close)

    for cluster in g.clusters:
        if cluster.parent is None:
            emit(cluster, indent)
    return lines


_MERMAID_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*")
_MERMAID_RESERVED = frozenset(
    {"end", "graph", "subgraph", "flowchart", "style", "class", "classdef", "click"}
    | {"linkstyle", "direction", "call", "href", "default"}
)


def _mermaid_label(text: str) -> str:
    escaped = text.replace("#", "#35;").replace("&", "#amp;").replace('"', "#quot;")
    return escaped.replace("<", "#lt;").replace(">", "#gt;")


def to_mermaid(graph: JobGraph | Workflow) -> str:
    """A ``flowchart TD``: linear runs of needs as one chain
    (``build --> test --> deploy-staging``), matrix jobs labelled with their legs."""
    g = _coerce(graph)
    ids: dict[str, str] = {}
    for index, node in enumerate(g.nodes):
        safe = _MERMAID_ID.fullmatch(node.id) and node.id.lower() not in _MERMAID_RESERVED
        ids[node.id] = node.id if safe else f"job{index}"
    lines = ["flowchart TD"]
    linked = {job for edge in g.edges() for job in edge}

    def declare(node: GraphNode, indent: str) -> list[str]:
        label = [node.name]
        summary = _summary(node)
        if summary:
            label.append(summary)
            label.extend(_shown_legs(node))
        if len(label) > 1 or ids[node.id] != node.name or node.id not in linked or node.clusters:
            text = "<br/>".join(_mermaid_label(part) for part in label)
            return [f'{indent}{ids[node.id]}["{text}"]']
        return []

    for node in g.nodes:
        if not node.clusters:
            lines.extend(declare(node, "    "))
    calls = {c.id: f"call{i}" for i, c in enumerate(g.clusters)}
    lines += _in_clusters(
        g,
        declare,
        lambda c, at: [f'{at}subgraph {calls[c.id]}["{_mermaid_label(c.label)}"]'],
        "end",
        "    ",
    )
    for chain in _chains(g):
        lines.append("    " + " --> ".join(ids[job] for job in chain))
    return "\n".join(lines) + "\n"


def _chains(g: JobGraph) -> list[list[str]]:
    """Every edge exactly once, grouped into chains that follow a job's only remaining
    outgoing edge, so a pipeline reads as one line."""
    outgoing: dict[str, list[str]] = {n.id: [] for n in g.nodes}
    for dep, job in g.edges():
        if dep in outgoing and job not in outgoing[dep]:
            outgoing[dep].append(job)
    order = [job for layer in g.layers for job in layer]
    chains: list[list[str]] = []
    for start in order:
        while outgoing[start]:
            chain = [start, outgoing[start].pop(0)]
            while len(outgoing[chain[-1]]) == 1:
                chain.append(outgoing[chain[-1]].pop())
            chains.append(chain)
    return chains


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: JobGraph | Workflow) -> str:
    """Graphviz ``digraph``, top to bottom, one box per job."""
    g = _coerce(graph)
    lines = [f"digraph {_dot_string(g.title)} {{", "  rankdir=TB;", "  node [shape=box];"]

    def declare(node: GraphNode, indent: str) -> list[str]:
        label = [node.name]
        summary = _summary(node)
        if summary:
            label.append(summary)
            label.extend(_shown_legs(node))
        joined = "\\n".join(part.replace("\\", "\\\\").replace('"', '\\"') for part in label)
        return [f'{indent}{_dot_string(node.id)} [label="{joined}"];']

    for node in g.nodes:
        if not node.clusters:
            lines.extend(declare(node, "  "))
    calls = {c.id: f"cluster_{i}" for i, c in enumerate(g.clusters)}
    lines += _in_clusters(
        g,
        declare,
        lambda c, at: [f"{at}subgraph {calls[c.id]} {{", f"{at}  label={_dot_string(c.label)};"],
        "}",
        "  ",
    )
    for dep, job in g.edges():
        lines.append(f"  {_dot_string(dep)} -> {_dot_string(job)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_json(graph: JobGraph | Workflow) -> str:
    """A JSON document: workflow name and path, layers, and per job its needs, layer
    and matrix (legs, or the expression deferred to run time)."""
    g = _coerce(graph)
    depth = {job: number for number, layer in enumerate(g.layers) for job in layer}
    document = {
        "workflow": g.title,
        "path": g.path,
        "layers": [list(layer) for layer in g.layers],
        "jobs": [
            {
                "id": n.id,
                "name": n.name,
                "needs": list(n.needs),
                "layer": depth[n.id],
                "matrix": (
                    {"legs": list(n.legs), "deferred": n.matrix} if n.legs or n.matrix else None
                ),
                "call": n.clusters[-1] if n.clusters else None,
            }
            for n in g.nodes
        ],
        "calls": [{"id": c.id, "name": c.name, "uses": c.uses, "in": c.parent} for c in g.clusters],
        "edges": [list(edge) for edge in g.edges()],
    }
    return json.dumps(document, indent=2) + "\n"
