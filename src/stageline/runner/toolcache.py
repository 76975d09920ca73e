"""The tool cache every job sees as RUNNER_TOOL_CACHE (and AGENT_TOOLSDIRECTORY).

The setup-* actions look a toolchain up with `@actions/tool-cache`'s ``find(tool, spec,
arch)``: a directory ``<cache>/<Tool>/<version>/<arch>`` next to a marker file
``<arch>.complete``, where ``<version>`` is a full semver (``3.11.7``) that a spec such as
``3.11`` matches. On GitHub the runner image fills it; here `fill` places the interpreters
and toolchains the host already has in that layout, as symlinks, so a version the host has
is found without a download and a version it lacks falls through to the action's own.

One cache per user (``$XDG_CACHE_HOME/stageline/toolcache``), shared by concurrent runs:
`fill` works under a file lock, and each entry appears complete (made under a temp name,
then renamed) before its marker is written. Entries that Stageline made are symlinks (or,
when the tool has no install prefix of its own, a directory of symlinks holding a
``.stageline`` marker); an entry an action downloaded is never touched.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stageline.runner.places import user_cache

#: what Stageline's own entries carry when they are a directory rather than one symlink
OURS = ".stageline"
#: what the tools answered, by command (see `_run_all`)
_MEMO = ".probes.json"
_PROBE_TIMEOUT_S = 10.0
_PYTHON_NAME = re.compile(r"^python3\.\d+$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")
#: a JDK's ``JAVA_RUNTIME_VERSION``: 9+ (``17.0.15+6-Debian-1``) and 8 (``1.8.0_392-b08``)
_JAVA_RUNTIME = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.[\d.]+)?(?:\+(\d+))?(?:-|$)")
_JAVA_8 = re.compile(r"^1\.8\.0_(\d+)(?:-b(\d+))?")
#: the JVM directory of Debian, Ubuntu, Fedora and their kin
_JVM_DIR = "/usr/lib/jvm"
#: setup-java's folder for `distribution: temurin` (`Java_<distribution>_<package>`)
JAVA_TOOL = "Java_Temurin-Hotspot"
_PY_PROBE = (  # Python 2 can read it too: setup-python still offers 2.7
    "import sys, sysconfig; v = sys.version_info; "
    "pre = {'alpha': 'alpha', 'beta': 'beta', 'candidate': 'rc'}.get(v.releaselevel); "
    "sys.stdout.write('\\n'.join([sys.implementation.name if hasattr(sys, 'implementation') "
    "else 'cpython', '%d.%d.%d' % tuple(v[:3]) + ('-%s.%d' % (pre, v.serial) if pre else ''), "
    "str(int(bool(sysconfig.get_config_var('Py_GIL_DISABLED')))), sys.prefix]) + '\\n')"
)


def root() -> Path:
    """The user's tool cache (it may not exist yet)."""
    return user_cache("toolcache")


def arch() -> str:
    """The machine's architecture as Node's `os.arch()` names it, which the actions use."""
    machine = platform.machine().lower()
    names = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "i686": "x86", "i386": "x86"}
    return names.get(machine, "arm" if machine.startswith("armv") else machine)


@dataclass(frozen=True, slots=True)
class Entry:
    """One toolchain version in the cache: `target` is what ``<tool>/<version>/<arch>``
    points at (for a directory of symlinks, the tool's main executable)."""

    tool: str
    version: str
    arch: str
    target: str

    def place(self, cache: Path) -> Path:
        return cache / self.tool / self.version / self.arch


@dataclass(frozen=True, slots=True)
class _Host:
    """A toolchain found on the host: an install prefix (linked as a whole), or loose
    executables (linked one by one into a ``bin/`` of our own)."""

    entry: Entry
    prefix: str | None
    executables: dict[str, str]  # name in bin/ -> what its link points at


_filled: set[Path] = set()


def ensure_filled() -> Path:
    """The cache, filled from the host once per process (the first job that uses actions
    pays for it; a run without `uses:` never does)."""
    cache = root()
    if cache not in _filled:
        fill(cache)
        _filled.add(cache)
    return cache


def fill(cache: Path) -> list[Entry]:
    """Place the host's toolchains in `cache`; returns what was placed. Entries Stageline
    made earlier for a toolchain the host no longer has are removed."""
    cache.mkdir(parents=True, exist_ok=True)
    memo = _load_memo(cache)
    found = _dedupe([*_pythons(memo), *_node(memo), *_go(memo), *_javas()])
    with _locked(cache):
        _save_memo(cache, memo)
        wanted = {h.entry.place(cache) for h in found}
        for place in _our_places(cache):
            if place not in wanted:
                _remove(place)
        for host in found:
            _place(cache, host)
    return [h.entry for h in found]


def entries(cache: Path | None = None) -> list[Entry]:
    """What the cache offers (Stageline's entries and the actions' downloads), sorted."""
    cache = root() if cache is None else cache
    result = []
    for marker in sorted(cache.glob("*/*/*.complete")):
        place = marker.with_suffix("")
        if not place.exists():
            continue
        own = place / OURS
        target = own.read_text().strip() if own.is_file() else os.path.realpath(place)
        result.append(Entry(place.parent.parent.name, place.parent.name, place.name, target))
    return sorted(result, key=lambda e: (e.tool.lower(), _version_key(e.version), e.arch))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version.split("-")[0]))


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    with open(cache / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _our_places(cache: Path) -> Iterator[Path]:
    for tool in cache.iterdir():
        if not tool.is_dir() or tool.name.startswith("."):
            continue
        for place in tool.glob("*/*"):
            if place.name.endswith(".complete") or place.name.startswith("."):
                continue
            if place.is_symlink() or (place / OURS).is_file():
                yield place


def _remove(place: Path) -> None:
    Path(f"{place}.complete").unlink(missing_ok=True)
    if place.is_symlink():
        place.unlink()
    else:
        shutil.rmtree(place, ignore_errors=True)


def _place(cache: Path, host: _Host) -> None:
    """Make the entry (unless it is there, or an action's download holds its place)."""
    place = host.entry.place(cache)
    marker = Path(f"{place}.complete")
    if place.is_symlink() or (place / OURS).is_file():
        if _current(place, host) and marker.is_file():
            return
        _remove(place)
    elif place.exists():
        return  # downloaded by an action: theirs
    place.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{place.name}-", dir=place.parent))
    if host.prefix is not None:
        tmp.rmdir()
        tmp.symlink_to(host.prefix, target_is_directory=True)
    else:
        tmp.chmod(0o755)
        (tmp / "bin").mkdir()
        for name, real in host.executables.items():
            (tmp / "bin" / name).symlink_to(real)
        (tmp / OURS).write_text(host.entry.target + "\n")
    os.replace(tmp, place)
    marker.write_text("")


def _current(place: Path, host: _Host) -> bool:
    if host.prefix is not None:
        return place.is_symlink() and os.readlink(place) == host.prefix
    return (place / OURS).read_text().strip() == host.entry.target and all(
        os.readlink(place / "bin" / name) == real for name, real in host.executables.items()
    )


def _dedupe(found: list[_Host]) -> list[_Host]:
    """The first of each (tool, version, arch): PATH before pyenv before uv."""
    seen: dict[tuple[str, str, str], _Host] = {}
    for host in found:
        seen.setdefault((host.entry.tool, host.entry.version, host.entry.arch), host)
    return list(seen.values())


def _load_memo(cache: Path) -> dict[str, Any]:
    try:
        memo = json.loads((cache / _MEMO).read_text())
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def _save_memo(cache: Path, memo: dict[str, Any]) -> None:
    tmp = cache / f"{_MEMO}.{os.getpid()}"
    tmp.write_text(json.dumps(memo, sort_keys=True))
    os.replace(tmp, cache / _MEMO)


def _stamp(program: str) -> list[int] | None:
    try:
        st = os.stat(program)
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _run_all(commands: list[list[str]], memo: dict[str, Any]) -> list[str | None]:
    """Each command's stdout (None when it failed). An answer in `memo` for the same
    program file (inode, size, mtime) is reused, so only the first run on a host, or the
    first after an upgrade, waits for the tools; the others run side by side."""
    results: dict[int, str | None] = {}
    procs: list[tuple[int, str, list[int] | None, subprocess.Popen[str]]] = []
    for index, command in enumerate(commands):
        key, stamp = "\0".join(command), _stamp(command[0])
        known = memo.get(key)
        if stamp is not None and isinstance(known, dict) and known.get("stamp") == stamp:
            results[index] = known.get("out")
            continue
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env={**os.environ, "PYTHONNOUSERSITE": "1"},
            )
        except OSError:
            results[index] = None
            continue
        procs.append((index, key, stamp, proc))
    for index, key, stamp, proc in procs:
        try:
            out, _ = proc.communicate(timeout=_PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            results[index] = None
            continue  # not remembered: a busy machine may answer next time
        results[index] = out if proc.returncode == 0 else None
        if stamp is not None:
            memo[key] = {"stamp": stamp, "out": results[index]}
    return [results[i] for i in range(len(commands))]


def _python_candidates() -> list[str]:
    """``python3.X`` on PATH (pyenv's shims left out: pyenv's versions come next), then
    pyenv's and uv's installs."""
    found: list[str] = []
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        if not folder or os.path.basename(folder) == "shims":
            continue
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        found.extend(
            os.path.join(folder, name)
            for name in names
            if _PYTHON_NAME.match(name) and os.access(os.path.join(folder, name), os.X_OK)
        )
    pyenv = os.environ.get("PYENV_ROOT") or os.path.join(os.path.expanduser("~"), ".pyenv")
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    uv = os.environ.get("UV_PYTHON_INSTALL_DIR") or os.path.join(data, "uv", "python")
    for base in (os.path.join(pyenv, "versions"), uv):
        try:
            names = sorted(os.listdir(base))
        except OSError:
            continue
        for name in names:
            exes = (os.path.join(base, name, "bin", n) for n in ("python3", "python"))
            found.extend(exe for exe in exes if os.access(exe, os.X_OK))
    # the real file: a venv's python (on PATH when one is active) stands for its base
    return list(dict.fromkeys(os.path.realpath(exe) for exe in found))


def _pythons(memo: dict[str, Any]) -> list[_Host]:
    """CPython interpreters as setup-python finds them: ``Python/<version>/<arch>`` is the
    install prefix, with ``bin/python`` in it (free-threaded builds: ``<arch>-freethreaded``)."""
    candidates = _python_candidates()
    hosts = []
    for exe, out in zip(
        candidates, _run_all([[c, "-c", _PY_PROBE] for c in candidates], memo), strict=True
    ):
        lines = (out or "").splitlines()
        if len(lines) != 4 or lines[0] != "cpython" or not _SEMVER.match(lines[1]):
            continue
        version, freethreaded, prefix = lines[1], lines[2] == "1", lines[3]
        place_arch = f"{arch()}-freethreaded" if freethreaded else arch()
        real = os.path.realpath(exe)
        own_python = os.path.join(prefix, "bin", "python")
        if os.path.exists(own_python) and os.path.realpath(own_python) == real:
            hosts.append(_Host(Entry("Python", version, place_arch, prefix), prefix, {}))
            continue
        minor = ".".join(version.split(".")[:2])
        links = {name: real for name in ("python", "python3", f"python{minor}")}
        hosts.append(_Host(Entry("Python", version, place_arch, real), None, links))
    return hosts


def _node(memo: dict[str, Any]) -> list[_Host]:
    """The host's ``node`` as setup-node finds it: ``node/<version>/<arch>/bin/node``,
    with npm, npx and corepack when they sit next to it."""
    node = shutil.which("node")
    if node is None:
        return []
    (out,) = _run_all([[node, "--version"]], memo)
    version = (out or "").strip().removeprefix("v")
    if not _SEMVER.match(version):
        return []
    folder = os.path.dirname(node)
    links = {}
    for name in ("node", "npm", "npx", "corepack"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            links[name] = os.path.realpath(path) if name == "node" else path
    return [_Host(Entry("node", version, arch(), os.path.realpath(node)), None, links)]


def _go(memo: dict[str, Any]) -> list[_Host]:
    """The host's ``go`` as setup-go finds it: ``go/<version>/<arch>`` is its GOROOT."""
    go = shutil.which("go")
    if go is None:
        return []
    (out,) = _run_all([[go, "env", "GOVERSION", "GOROOT"]], memo)
    lines = (out or "").splitlines()
    if len(lines) != 2:
        return []
    version, goroot = lines[0].removeprefix("go"), lines[1]
    if version.count(".") == 1:
        version += ".0"  # go1.21 is 1.21.0
    if not _SEMVER.match(version) or not os.path.isfile(os.path.join(goroot, "bin", "go")):
        return []
    return [_Host(Entry("go", version, arch(), goroot), goroot, {})]


def _javas() -> list[_Host]:
    """JDKs as setup-java finds them for `distribution: temurin`:
    ``Java_Temurin-Hotspot_jdk/<version>/<arch>`` is its JAVA_HOME, the version written as
    setup-java writes Temurin's (``17.0.15+6`` as ``17.0.15-6``). A host's JDK declares no
    distribution that setup-java knows; Temurin is the one most workflows ask for, and
    any OpenJDK build runs their steps alike. Found: ``java`` on PATH, ``$JAVA_HOME``, and
    ``/usr/lib/jvm/*``; the version comes from the JDK's ``release`` file (no process)."""
    homes: list[str] = []
    java = shutil.which("java")
    if java is not None:
        homes.append(os.path.dirname(os.path.dirname(os.path.realpath(java))))
    if os.environ.get("JAVA_HOME"):
        homes.append(os.environ["JAVA_HOME"])
    with suppress(OSError):
        homes.extend(os.path.join(_JVM_DIR, name) for name in sorted(os.listdir(_JVM_DIR)))
    hosts = []
    for home in dict.fromkeys(os.path.realpath(h) for h in homes):
        version = _java_version(home)
        if version is None or not os.access(os.path.join(home, "bin", "java"), os.X_OK):
            continue
        package = "jdk" if os.path.exists(os.path.join(home, "bin", "javac")) else "jre"
        entry = Entry(f"{JAVA_TOOL}_{package}", version, arch(), home)
        hosts.append(_Host(entry, home, {}))
    return hosts


def _java_version(home: str) -> str | None:
    """The version setup-java would name this JDK's folder after, from its ``release``
    file; None for an early-access build (setup-java keeps those apart) or no JDK."""
    try:
        with open(os.path.join(home, "release")) as handle:
            fields = dict(line.partition("=")[::2] for line in handle.read().splitlines())
    except OSError:
        return None
    runtime = (fields.get("JAVA_RUNTIME_VERSION") or fields.get("JAVA_VERSION") or "").strip('"')
    if "-ea" in runtime:
        return None
    old = _JAVA_8.match(runtime)
    if old:
        return f"8.0.{old[1]}" + (f"-{int(old[2])}" if old[2] else "")
    new = _JAVA_RUNTIME.match(runtime)
    if not new:
        return None
    version = ".".join(n or "0" for n in new.groups()[:3])
    return f"{version}-{new[4]}" if new[4] else version


__all__ = ["JAVA_TOOL", "Entry", "arch", "ensure_filled", "entries", "fill", "root"]
