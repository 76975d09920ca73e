import hashlib
from pathlib import Path

from stageline.runner.globs import hash_files, match_files


def tree(root: Path, names: list[str]) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)


def rel(paths: list[str], root: Path) -> list[str]:
    return [str(Path(p).relative_to(root)) for p in paths]


def test_star_stays_in_one_segment_and_double_star_spans(tmp_path: Path) -> None:
    tree(tmp_path, ["a.txt", "b.log", "src/c.txt", "src/deep/d.txt"])
    assert rel(match_files("*.txt", str(tmp_path)), tmp_path) == ["a.txt"]
    assert rel(match_files("**/*.txt", str(tmp_path)), tmp_path) == [
        "a.txt",
        "src/c.txt",
        "src/deep/d.txt",
    ]


def test_directory_matches_its_descendants_and_negation_order_matters(tmp_path: Path) -> None:
    tree(tmp_path, ["dist/app.js", "dist/app.map", "dist/sub/x.js"])
    got = match_files("dist\n!dist/**/*.map\n# comment\n", str(tmp_path))
    assert rel(got, tmp_path) == ["dist/app.js", "dist/sub/x.js"]
    got = match_files("!dist/app.js\ndist", str(tmp_path))
    assert "dist/app.js" in rel(got, tmp_path)


def test_hidden_files_question_mark_and_classes(tmp_path: Path) -> None:
    tree(tmp_path, [".env", "f1", "f2", "fx"])
    assert rel(match_files("*", str(tmp_path)), tmp_path) == [".env", "f1", "f2", "fx"]
    assert rel(match_files("f?", str(tmp_path)), tmp_path) == ["f1", "f2", "fx"]
    assert rel(match_files("f[0-9]", str(tmp_path)), tmp_path) == ["f1", "f2"]


def test_hash_files_is_sha256_of_each_file_sha256(tmp_path: Path) -> None:
    tree(tmp_path, ["lock/a.json", "lock/b.json", "other.txt"])
    expected = hashlib.sha256()
    for name in ["lock/a.json", "lock/b.json"]:
        expected.update(hashlib.sha256((tmp_path / name).read_bytes()).digest())
    assert hash_files(["lock/*.json"], str(tmp_path)) == expected.hexdigest()


def test_hash_files_changes_with_content_and_is_empty_without_matches(tmp_path: Path) -> None:
    tree(tmp_path, ["package-lock.json"])
    before = hash_files(["**/package-lock.json"], str(tmp_path))
    (tmp_path / "package-lock.json").write_text("changed")
    assert hash_files(["**/package-lock.json"], str(tmp_path)) != before
    assert hash_files(["**/nothing"], str(tmp_path)) == ""


def test_hash_files_ignores_files_outside_the_workspace(tmp_path: Path) -> None:
    tree(tmp_path, ["outside.txt", "ws/in.txt"])
    assert hash_files(["../outside.txt"], str(tmp_path / "ws")) == ""
