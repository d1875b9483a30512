"""Which files a batch reads: folders walked for *.dmp, patterns, @LIST files, in a stable order, each
file once, and a named file that is missing kept (it becomes an error row)."""
import os

import pytest

from dmfkd.batch.inputs import discover
from dmfkd.errors import UsageError


@pytest.fixture
def tree(tmp_path):
    for name in ("b/MEMORY.DMP", "a/x.dmp", "a/deep/LIVEDUMP.DMP", "a/notes.txt", "a/driver.isf.json",
                 "c/crash.Dmp"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"PAGE")
    return tmp_path


def _names(paths, root):
    return [os.path.relpath(p, str(root)) for p in paths]


def test_a_folder_is_walked_for_dump_names_in_sorted_order(tree):
    paths, warnings = discover([str(tree)])
    assert _names(paths, tree) == ["a/x.dmp", "a/deep/LIVEDUMP.DMP", "b/MEMORY.DMP", "c/crash.Dmp"]
    assert all(os.path.isabs(p) for p in paths) and warnings == []


def test_arguments_keep_their_order_and_a_file_is_read_once(tree):
    paths, _ = discover([str(tree / "b"), str(tree), str(tree / "b" / "MEMORY.DMP")])
    assert _names(paths, tree) == ["b/MEMORY.DMP", "a/x.dmp", "a/deep/LIVEDUMP.DMP", "c/crash.Dmp"]


def test_a_symbolic_link_to_a_file_already_listed_is_not_read_twice(tree):
    os.symlink(str(tree / "a" / "x.dmp"), str(tree / "c" / "link.dmp"))
    paths, _ = discover([str(tree)])
    assert _names(paths, tree) == ["a/x.dmp", "a/deep/LIVEDUMP.DMP", "b/MEMORY.DMP", "c/crash.Dmp"]


def test_patterns_take_dump_files_and_walk_folders(tree):
    paths, _ = discover([str(tree / "*" / "*.DMP")])
    assert _names(paths, tree) == ["b/MEMORY.DMP"]
    paths, _ = discover([str(tree / "**" / "*")])
    assert set(_names(paths, tree)) == {"a/x.dmp", "a/deep/LIVEDUMP.DMP", "b/MEMORY.DMP", "c/crash.Dmp"}
    paths, warnings = discover([str(tree / "[ab]"), str(tree / "nothing*")])
    assert _names(paths, tree) == ["a/x.dmp", "a/deep/LIVEDUMP.DMP", "b/MEMORY.DMP"]
    assert warnings == ["nothing matches %s" % (tree / "nothing*")]


def test_a_file_named_explicitly_is_taken_whatever_its_name(tree):
    paths, _ = discover([str(tree / "a" / "notes.txt")])
    assert _names(paths, tree) == ["a/notes.txt"]


def test_a_list_file_names_paths_and_patterns(tree, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("# the week's dumps\n\n%s\n  %s  \n%s\n" % (
        tree / "c" / "crash.Dmp", tree / "b", tree / "gone" / "MEMORY.DMP"))
    paths, _ = discover(["@%s" % listing])
    assert _names(paths, tree) == ["c/crash.Dmp", "b/MEMORY.DMP", "gone/MEMORY.DMP"]   # the missing one stays


def test_what_finds_nothing_is_one_line(tree, tmp_path):
    with pytest.raises(UsageError, match="no dump found"):
        discover([str(tmp_path / "empty*")])
    with pytest.raises(UsageError, match="cannot read the list"):
        discover(["@%s" % (tmp_path / "no-list.txt")])
    nested = tmp_path / "nested.txt"
    nested.write_text("@other.txt\n")
    with pytest.raises(UsageError, match="cannot name another list"):
        discover(["@%s" % nested])
    with pytest.raises(UsageError, match="give the dumps"):
        discover([])


def test_a_missing_file_and_a_fifo_become_error_rows_not_a_stop(tmp_path, cli):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / "pipe.dmp"
    os.mkfifo(str(fifo))
    out = tmp_path / "out"
    cli("batch", str(fifo), str(tmp_path / "missing.dmp"), "--out", str(out), "--format", "jsonl",
        "--progress", "none", "--jobs", "1")
    from helpers.batch_runs import jsonl_rows

    rows = jsonl_rows(str(out), "summary")
    assert [(r["error_kind"], r["error"]) for r in rows] == [
        ("input", "%s: not a regular file" % fifo), ("input", "%s: No such file or directory" % (tmp_path / "missing.dmp"))]
