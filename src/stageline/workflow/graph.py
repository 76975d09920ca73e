"""The job graph: `needs` as a DAG, its cycles and its topological layers.

Everything here takes a plain ``needs`` mapping (job id → the ids it needs, in
file order), so validation, compile and the CLI share one implementation and
none of them needs a `Workflow` to ask a graph question. Names in ``needs``
that are not keys of the mapping are ignored: reporting them is validation's
job, not the graph's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
