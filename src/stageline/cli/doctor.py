"""`stageline doctor`: what a run here would find on this machine.

Three tables: the tool cache (filled first, as a job that runs actions would fill it), the
programs actions need (node, git), and where each `uses:` of the repository's workflows
comes from. Exit code 1 when a workflow cannot be read or an action is not at hand (not
cached, vendored or built in), so a script can check before going offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from stageline.app.doctor import Report


def doctor(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Show the tool cache, the versions of node and git, and which actions are cached."""
    from stageline.app.doctor import doctor as build_report

    report = build_report(Path.cwd())
    failed = bool(report.problems) or any(a.source == "missing" for a in report.actions)
    if json_output:
        _print_json(report)
    else:
        _print_text(report)
    return 1 if failed else 0


def _print_text(report: Report) -> None:
    from stageline.cli.tables import print_table

    print(f"tool cache: {report.tool_cache}")
    if report.tools:
        print_table(
            ["TOOL", "VERSION", "ARCH", "TARGET"],
            [[e.tool, e.version, e.arch, e.target] for e in report.tools],
        )
    else:
        print("  (empty: no Python, node, go or java found on this host)")
    print()
    print_table(
        ["PROGRAM", "VERSION"],
        [[name, version or "not installed"] for name, version in report.programs.items()],
    )
    print()
    if report.actions:
        print_table(
            ["ACTION", "SOURCE", "DETAIL"],
            [[a.uses, a.source, a.detail] for a in report.actions],
        )
    else:
        print("no actions in this repository's workflows")
    for problem in report.problems:
        print(f"error: {problem}")


def _print_json(report: Report) -> None:
    import json
    from dataclasses import asdict

    data = asdict(report)
    data["tool_cache"] = str(report.tool_cache)
    print(json.dumps(data, indent=2))
