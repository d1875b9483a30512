"""The PDB name in a dump is hostile input: an emulator dump whose driver image has a real CodeView record,
patched here to name `..\\..\\x\\evil.pdb`, a drive, a UNC share, control bytes, a stream, a device, a
1,000-character name or a 10 MB record. With a local store and with a symbol server, `dmfkd crashdump`,
`lm` and `datasources` must never read or write outside the stores, the cache and the dump's folder
(every open, stat and listing is recorded), ask a server only about a plain file name, and never load a
decoy PDB (the right GUID/age, planted where the path leads)."""
import builtins
import json
import os
import shutil
import struct

import pytest

from dmfkd import cli
from dmfkd.nt import pe
from dmfkd.nt.loaded_modules import loaded_modules
from dmfkd.targets.dumpfile import DumpFile

from helpers.pdb_demos import pdb_demo
from helpers.symbol_servers import SymbolHttpServer, store_pdb

# (CodeView path as stored, the file name looked up or None when refused)
HOSTILE = [
    (b"..\\..\\x\\evil.pdb", "evil.pdb"),
    (b"../../x/evil.pdb", "evil.pdb"),
    (b"C:\\Windows\\evil.pdb", "evil.pdb"),
    (b"\\\\attacker\\share\\evil.pdb", "evil.pdb"),
    (b"\\\\?\\C:\\x\\evil.pdb", "evil.pdb"),
    (b"evil\x01.pdb", None),
    (b"..\\..\\x\\evil.pdb\x1b[2J", None),
    (b"evil.pdb:stream", None),
    (b"..\\..\\x\\..", None),
    (b"CON.pdb", None),
    (b"x" * 996 + b".pdb", None),
    (b"\xff\xfe.pdb", None),
]


def _patch_codeview(dump: str, path: bytes, declared: int = None) -> None:
    """Rewrite the driver image's CodeView record in the dump file: its PDB path, and the debug directory
    entry's SizeOfData (to `declared` when given)."""
    with DumpFile(dump) as target:
        driver = [row for row in loaded_modules(target)[0] if row.name == "dmfdemo"][0]
        codeview = driver.codeview
        lfanew = struct.unpack_from("<I", target.read(driver.base, 0x40), 0x3C)[0]
        directory_rva = struct.unpack_from("<I", target.read(driver.base + lfanew + 0x18 + 0x70 + 8 * 6, 4))[0]
        entry = target.read(driver.base + directory_rva, pe.DEBUG_DIRECTORY_SIZE)
    with open(dump, "rb") as handle:
        data = bytearray(handle.read())
    record_at = data.find(b"RSDS" + codeview.guid.bytes_le + struct.pack("<I", codeview.age))
    entry_at = data.find(entry)
    assert record_at > 0 and entry_at > 0 and data.count(entry) == 1
    old = len(codeview.raw_path) + 1
    data[record_at + 24:record_at + 24 + max(old, len(path) + 1)] = path + bytes(max(old, len(path) + 1) - len(path))
    struct.pack_into("<I", data, entry_at + 16, declared if declared is not None else 24 + len(path) + 1)
    with open(dump, "wb") as handle:
        handle.write(data)


class Touches(object):
    """Every path opened, stat'ed or listed under `root` while it is installed."""

    def __init__(self, monkeypatch, root):
        self.root = os.path.realpath(str(root))
        self.paths = []
        for module, name in ((builtins, "open"), (os, "open"), (os, "stat"), (os, "lstat"), (os, "listdir"),
                             (os, "scandir")):
            monkeypatch.setattr(module, name, self._wrap(getattr(module, name)))

    def _wrap(self, function):
        def recorded(path, *args, **kwargs):
            if isinstance(path, (str, bytes, os.PathLike)):
                text = os.fsdecode(path)
                if os.path.isabs(text) and text.startswith(self.root):
                    self.paths.append(text)
            return function(path, *args, **kwargs)
        return recorded

    def outside(self, *allowed):
        """Paths touched outside the allowed folders; the folders above them do not count (resolving a
        path looks at each of its components)."""
        roots = [os.path.realpath(str(folder)) for folder in allowed]
        return sorted({path for path in self.paths
                       if not any(path == root or path.startswith(root + os.sep) or root.startswith(path + os.sep)
                                  for root in roots)})


def _tree(folder):
    return sorted(os.path.join(top, name) for top, dirs, names in os.walk(str(folder)) for name in dirs + names)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return pdb_demo(tmp_path_factory, "x64", "1.1.154")


@pytest.mark.parametrize("codeview, looked_up", HOSTILE, ids=[repr(c[0][:24]) for c in HOSTILE])
def test_a_hostile_codeview_name_stays_inside_the_stores(tmp_path, monkeypatch, capsys, demo, codeview, looked_up):
    root = tmp_path / "a" / "b"
    dump_folder, store, cache, served = root / "dump", root / "store", root / "cache", root / "served"
    for folder in (dump_folder, store, served):
        folder.mkdir(parents=True)
    dump = str(dump_folder / "MEMORY.DMP")
    shutil.copyfile(demo.dump, dump)
    _patch_codeview(dump, codeview)
    # decoys with the right GUID/age wherever the path would lead: outside every symbol folder
    for decoy in (tmp_path / "a" / "x", tmp_path / "x", root / "x"):
        decoy.mkdir(exist_ok=True)
        shutil.copyfile(demo.pdb, str(decoy / "evil.pdb"))
    store_pdb(str(served), demo.pdb, name="evil.pdb")
    before = [path for path in _tree(tmp_path) if not path.startswith(str(cache))]
    with SymbolHttpServer(str(served)) as server:
        touches = Touches(monkeypatch, tmp_path)
        for symbols in (str(store), "srv*%s*%s" % (cache, server.url)):
            for argv in (["crashdump", dump, "--symbols", symbols, "--format", "json"],
                         ["lm", dump, "--symbols", symbols, "--driver", "dmfdemo", "--format", "json"]):
                assert cli.main(argv) == 0, argv
            # --driver: the server is asked about that module whatever its name; without its symbols
            # the command ends in one line
            assert cli.main(["datasources", dump, "--symbols", symbols, "--driver", "dmfdemo"]) in (0, 2)
        monkeypatch.undo()
    captured = capsys.readouterr()
    # it watched: the dump was read, and the store looked into unless the name was refused outright
    assert dump in touches.paths
    assert any(path.startswith(str(store)) for path in touches.paths) == (looked_up is not None)
    # `served` is the HTTP server's own folder (it runs in this process)
    assert touches.outside(dump_folder, store, cache, served) == []
    assert [path for path in _tree(tmp_path) if not path.startswith(str(cache))] == before
    assert all("\n" not in line and len(line) < 1200 for line in captured.err.splitlines())
    asked = {request.split("/")[1] for request in server.requests}
    if looked_up is None:
        assert asked == set() and not os.path.exists(str(cache))
        assert '"symbol_status": "not found"' in captured.out
        assert "no g_DmfModuleCrashDump symbol" not in captured.out      # no symbols at all: blobs only
    else:
        # only the plain name was asked for, and what the server had is in the cache, checked and used
        assert asked == {looked_up}
        assert os.listdir(str(cache)) == [looked_up]
        assert '"symbol_status": "matched"' in captured.out


def test_a_ten_megabyte_codeview_record_is_not_read(tmp_path, capsys, demo):
    dump = str(tmp_path / "MEMORY.DMP")
    shutil.copyfile(demo.dump, dump)
    _patch_codeview(dump, b"dmfdemo.pdb", declared=10 * 2 ** 20)
    assert cli.main(["lm", dump, "--symbols", demo.symbols, "--format", "json"]) == 0
    driver = [row for row in json.loads(capsys.readouterr().out) if row["name"] == "dmfdemo"][0]
    assert driver["symbol_status"] == "no CodeView in dump" and driver["pdb_guid"] is None
    assert driver["detail"] == "CodeView record of %d bytes is not an RSDS record" % (10 * 2 ** 20)
    assert cli.main(["crashdump", dump, "--symbols", demo.symbols]) == 0
    err = capsys.readouterr().err
    assert err == ("dmfkd: symbols: no driver symbols: no loaded module's CodeView record is in the dump (a triage "
                   "dump keeps no image headers): --pdb FILE --driver NAME gives the driver's PDB outright\n")
