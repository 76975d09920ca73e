"""How a `run:` script is turned into a command line, exactly as GitHub builds it.

=============  ===========================================  =========
shell          command                                      script
=============  ===========================================  =========
(unspecified)  ``bash -e {0}``, or ``sh -e {0}`` w/o bash   ``.sh``
bash           ``bash --noprofile --norc -eo pipefail {0}``  ``.sh``
sh             ``sh -e {0}``                                ``.sh``
python         ``python {0}``                               ``.py``
pwsh           ``pwsh -command ". '{0}'"``                  ``.ps1``
custom         the string, ``{0}`` replaced by the script   by its command
=============  ===========================================  =========

For a custom shell the first word is the program; the rest is split like a command line.
The program is looked up on the step's PATH (GITHUB_PATH additions included).
"""

from __future__ import annotations

import os
import shlex
import shutil
import uuid
from dataclasses import dataclass

BUILTIN: dict[str, tuple[str, list[str]]] = {
    "bash": ("bash", ["--noprofile", "--norc", "-eo", "pipefail", "{0}"]),
    "sh": ("sh", ["-e", "{0}"]),
    "python": ("python", ["{0}"]),
    "pwsh": ("pwsh", ["-command", ". '{0}'"]),
    "powershell": ("powershell", ["-command", ". '{0}'"]),
}
EXTENSIONS = {"bash": ".sh", "sh": ".sh", "python": ".py", "pwsh": ".ps1", "powershell": ".ps1"}
PWSH_PRELUDE = "$ErrorActionPreference = 'stop'\n"
PWSH_EPILOGUE = "\nif ((Test-Path -LiteralPath variable:\\LASTEXITCODE)) { exit $LASTEXITCODE }\n"


class ShellError(Exception):
    """The shell cannot be used (not found, malformed); the message is for the user."""


@dataclass(frozen=True, slots=True)
class Prepared:
    argv: list[str]
    script_path: str


def _which(program: str, path: str) -> str | None:
    if os.sep in program:
        return program if os.access(program, os.X_OK) else None
    return shutil.which(program, path=path)


def _command(shell: str | None, path: str) -> tuple[str, str, list[str]]:
    """(kind, program path, argument templates) for `shell`."""
    if not shell:
        bash = _which("bash", path)
        if bash:
            return "bash", bash, ["-e", "{0}"]
        sh = _which("sh", path)
        if sh:
            return "sh", sh, ["-e", "{0}"]
        raise ShellError("neither bash nor sh was found on PATH to run the script")
    if shell in BUILTIN:
        program, args = BUILTIN[shell]
        found = _which(program, path)
        if not found:
            raise ShellError(f"shell '{shell}' was not found on PATH ({path})")
        return shell, found, list(args)
    if "{0}" not in shell:
        raise ShellError(
            f"invalid custom shell '{shell}': it must contain '{{0}}' where the script "
            "file goes, e.g. 'perl {0}'"
        )
    program, _, rest = shell.strip().partition(" ")
    found = _which(program, path)
    if not found:
        raise ShellError(f"shell program '{program}' was not found on PATH ({path})")
    return os.path.basename(program), found, [rest]


def prepare(shell: str | None, script: str, temp_dir: str, path: str) -> Prepared:
    """Write `script` to a new file in `temp_dir` and build the command that runs it."""
    shell = shell.lower() if shell and shell.lower() in BUILTIN else shell  # as GitHub's runner
    kind, program, templates = _command(shell, path)
    custom = bool(shell) and shell not in BUILTIN
    os.makedirs(temp_dir, exist_ok=True)  # a previous step may have removed it
    script_path = os.path.join(temp_dir, uuid.uuid4().hex + EXTENSIONS.get(kind, ""))
    if kind in ("pwsh", "powershell"):
        script = PWSH_PRELUDE + script + PWSH_EPILOGUE
    with open(script_path, "w", encoding="utf-8") as f:
        f.write(script)
    if custom:
        args = shlex.split(templates[0].replace("{0}", shlex.quote(script_path)))
    else:
        args = [t.replace("{0}", script_path) for t in templates]
    return Prepared([program, *args], script_path)
