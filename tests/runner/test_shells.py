"""Shell command lines, from the table on GitHub's workflow syntax page."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from stageline.runner.shells import ShellError, prepare

PATH = os.environ["PATH"]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def test_unspecified_shell_is_bash_e(tmp_path: Path) -> None:
    prepared = prepare(None, "echo hi", str(tmp_path), PATH)
    assert prepared.argv == [shutil.which("bash"), "-e", prepared.script_path]
    assert prepared.script_path.endswith(".sh")
    assert Path(prepared.script_path).read_text() == "echo hi"


def test_unspecified_shell_falls_back_to_sh_without_bash(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sh").symlink_to(shutil.which("sh") or "/bin/sh")
    prepared = prepare(None, "echo hi", str(tmp_path), str(bin_dir))
    assert prepared.argv == [str(bin_dir / "sh"), "-e", prepared.script_path]


def test_bash_is_noprofile_norc_eo_pipefail(tmp_path: Path) -> None:
    prepared = prepare("bash", "false | true", str(tmp_path), PATH)
    assert prepared.argv[1:] == ["--noprofile", "--norc", "-eo", "pipefail", prepared.script_path]
    assert _run(prepared.argv).returncode == 1  # pipefail


def test_sh_is_sh_e(tmp_path: Path) -> None:
    prepared = prepare("sh", "false\necho unreachable", str(tmp_path), PATH)
    assert prepared.argv[1:] == ["-e", prepared.script_path]
    result = _run(prepared.argv)
    assert result.returncode == 1 and "unreachable" not in result.stdout


def test_python_script_gets_py_extension(tmp_path: Path) -> None:
    prepared = prepare("python", "print(6 * 7)", str(tmp_path), PATH)
    assert prepared.script_path.endswith(".py")
    assert _run(prepared.argv).stdout == "42\n"


def test_pwsh_command_line_when_present(tmp_path: Path) -> None:
    if shutil.which("pwsh") is None:
        with pytest.raises(ShellError, match="'pwsh' was not found"):
            prepare("pwsh", "Write-Output 1", str(tmp_path), PATH)
        return
    prepared = prepare("pwsh", "Write-Output 1", str(tmp_path), PATH)
    assert prepared.argv[1:] == ["-command", f". '{prepared.script_path}'"]
    assert prepared.script_path.endswith(".ps1")


def test_custom_shell_replaces_placeholder(tmp_path: Path) -> None:
    prepared = prepare("bash -x {0} arg", "echo custom", str(tmp_path), PATH)
    assert prepared.argv == [shutil.which("bash"), "-x", prepared.script_path, "arg"]
    assert _run(prepared.argv).stdout == "custom\n"


def test_custom_shell_without_placeholder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ShellError, match=r"must contain '\{0\}'"):
        prepare("perl", "print 1", str(tmp_path), PATH)


def test_missing_shell_program_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ShellError, match="no-such-shell"):
        prepare("no-such-shell {0}", "x", str(tmp_path), PATH)
    with pytest.raises(ShellError, match="'python' was not found"):
        prepare("python", "x", str(tmp_path), str(tmp_path))


@pytest.mark.parametrize(
    ("written", "kind"), [("BASH", "bash"), ("Sh", "sh"), ("Python", "python")]
)
def test_shell_names_are_compared_ignoring_case(tmp_path: Path, written: str, kind: str) -> None:
    """GitHub's runner takes `shell: BASH` as bash, with bash's own command line."""
    folded = prepare(written, "print(1)" if kind == "python" else "echo 1", str(tmp_path), PATH)
    plain = prepare(kind, "", str(tmp_path), PATH)
    assert folded.argv[:-1] == plain.argv[:-1]
    assert Path(folded.script_path).suffix == Path(plain.script_path).suffix
    assert _run(folded.argv).stdout == "1\n"


def test_powershell_in_another_case_is_powershell(tmp_path: Path) -> None:
    if shutil.which("pwsh") is None:
        with pytest.raises(ShellError, match="'pwsh' was not found"):
            prepare("PWSH", "Write-Output 1", str(tmp_path), PATH)
        return
    assert prepare("PWSH", "Write-Output 1", str(tmp_path), PATH).script_path.endswith(".ps1")
