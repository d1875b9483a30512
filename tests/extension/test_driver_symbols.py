"""dmfkd.driver_symbols: which symbol source a command reads a dump with (--isf, --pdb, the ISF beside the
dump, the symbol path), how the DMF driver is found among the loaded modules (the one whose PDB has DMF's
globals; several -> the first and a message; --driver picks), and how little a symbol server is asked.

Module lists are synthetic (helpers.module_lists: PsLoadedModuleList + a PE header page per module with
its CodeView record); the DMF PDBs are the clang-cl/lld-link ones dmfemu builds for its driver (x64,
DMF 1.1.154 and 1.0: two builds, two GUIDs), the non-DMF PDB a real MSVC one from tests/data."""
import os
import shutil

import pytest

from dmfkd.driver_symbols import MAX_SERVER_CANDIDATES, SymbolOptions, find_driver_symbols, load_pdb, symbol_loader
from dmfkd.errors import SymbolError, UsageError
from dmfkd.targets.isf import IsfSymbols
from dmfkd.targets.pdb import PdbSymbols, read_identity

from helpers.module_lists import Module, ModuleListTarget
from helpers.paths import DATA
from helpers.pdb_demos import pdb_demo
from helpers.symbol_servers import SymbolHttpServer, store_pdb

PLAIN_PDB = os.path.join(DATA, "msvc-pdb", "x64", "xcpt4.pdb")      # a real PDB without DMF


@pytest.fixture(scope="module")
def dmf_pdbs(tmp_path_factory):
    """Two DMF drivers' PDBs: {"drva": path, "drvb": path} (different GUIDs)."""
    return {"drva": pdb_demo(tmp_path_factory, "x64", "1.1.154").pdb, "drvb": pdb_demo(tmp_path_factory, "x64", "1.0").pdb}


def _module(name, pdb, path=b""):
    identity = read_identity(pdb)
    return Module(name, identity.guid, identity.age, path)


def _store(tmp_path, pdbs):
    """A symbol store holding each PDB under <module>.pdb."""
    store = tmp_path / "store"
    for name, pdb in pdbs.items():
        store_pdb(str(store), pdb, name=name + ".pdb")
    return str(store)


def _find(target, symbols=(), driver=None):
    said = []
    found = find_driver_symbols(target, SymbolOptions(symbols=tuple(symbols), driver=driver, environ={}), said.append)
    return found, said


# -- finding the DMF driver ------------------------------------------------------------------------------

def test_the_dmf_driver_is_the_module_whose_pdb_has_dmfs_globals(tmp_path, dmf_pdbs):
    store = _store(tmp_path, {"plain": PLAIN_PDB, "drvb": dmf_pdbs["drvb"]})
    target = ModuleListTarget([Module("nt", None), _module("plain", PLAIN_PDB), _module("drvb", dmf_pdbs["drvb"])])
    found, said = _find(target, [store])
    assert isinstance(found, PdbSymbols) and said == []
    assert (found.module, found.image_base) == ("drvb", target.bases["drvb"])
    assert found.address_of("drvb!g_DmfModuleCrashDump") == target.bases["drvb"] + found.rva_of("g_DmfModuleCrashDump")
    found.close()


def test_several_dmf_drivers_the_first_is_used_and_the_message_says_driver_picks(tmp_path, dmf_pdbs):
    store = _store(tmp_path, dmf_pdbs)
    target = ModuleListTarget([_module("drva", dmf_pdbs["drva"]), _module("drvb", dmf_pdbs["drvb"])])
    found, said = _find(target, [store])
    assert found.module == "drva"
    assert said == ["several DMF drivers in the dump (drva, drvb): using drva; --driver NAME picks another"]
    found.close()
    picked, said = _find(target, [store], driver="DRVB")        # module names compare case-insensitively
    assert (picked.module, picked.image_base, said) == ("drvb", target.bases["drvb"], [])
    picked.close()


def test_no_dmf_pdb_says_which_pdbs_were_found_and_where(tmp_path):
    store = _store(tmp_path, {"plain": PLAIN_PDB})
    target = ModuleListTarget([_module("plain", PLAIN_PDB)])
    found, said = _find(target, [store])
    assert found is None
    assert said == ["no driver symbols: the PDBs of plain are on %s, and none has DMF's globals "
                    "(g_DmfModuleCrashDump); --driver NAME loads a module's PDB anyway" % store]
    # --driver loads it anyway: the user's word
    found, said = _find(target, [store], driver="plain")
    assert found is not None and found.module == "plain" and said == []
    found.close()


def test_nothing_found_is_one_line_naming_the_modules_and_the_path(tmp_path, dmf_pdbs):
    empty = str(tmp_path / "empty")
    target = ModuleListTarget([Module("nt", None)] + [_module("drv%d" % i, dmf_pdbs["drva"]) for i in range(9)])
    found, said = _find(target, [empty])
    assert found is None and len(said) == 1 and "\n" not in said[0]
    assert said[0] == ("no driver symbols: no PDB of drv0, drv1, drv2, drv3, drv4, drv5 and 3 more in the folders "
                       "and caches of %s" % empty)


def test_a_pdb_of_another_build_is_named_with_the_way_to_load_it(tmp_path, dmf_pdbs):
    folder = tmp_path / "flat"
    folder.mkdir()
    shutil.copy(dmf_pdbs["drvb"], str(folder / "drva.pdb"))      # the other build under the wanted name
    target = ModuleListTarget([_module("drva", dmf_pdbs["drva"])])
    found, said = _find(target, [str(folder)])
    wrong = read_identity(dmf_pdbs["drvb"])
    assert found is None and "for drva only a PDB of another build:" in said[0]
    assert "GUID %s age %d" % (str(wrong.guid).upper(), wrong.age) in said[0]
    assert said[0].endswith("(--pdb FILE --allow-mismatched-pdb loads it anyway)")


def test_windows_modules_and_a_dump_without_codeview_records(tmp_path, dmf_pdbs):
    store = _store(tmp_path, {"ndis": dmf_pdbs["drva"]})
    windows_only = ModuleListTarget([Module("nt", None), _module("ndis", dmf_pdbs["drva"])])
    found, said = _find(windows_only, [store])
    # ndis is Windows' own: never taken for the DMF driver on its own ...
    assert found is None and "every module with a CodeView record in the dump is one Windows ships" in said[0]
    # ... but --driver names any module
    found, said = _find(windows_only, [store], driver="ndis")
    assert found.module == "ndis" and said == []
    found.close()
    triage_like = ModuleListTarget([Module("nt", None), Module("drva", None)])
    found, said = _find(triage_like, [store])
    assert found is None and said == ["no driver symbols: no loaded module's CodeView record is in the dump (a triage "
                                      "dump keeps no image headers): --pdb FILE --driver NAME gives the driver's PDB "
                                      "outright"]
    found, said = _find(triage_like, [store], driver="drva")
    assert found is None and said == ["no symbols for drva: the image has no usable CodeView record (no CodeView "
                                      "record), so its PDB cannot be looked up by GUID (--pdb FILE gives it)"]
    found, said = _find(triage_like, [store], driver="nosuch")
    assert found is None and said == ["--driver nosuch: no loaded module of that name in synthetic.dmp (dmfkd lm "
                                      "lists them)"]


# -- symbol servers: asked about a bounded number of modules ------------------------------------------------

def test_a_server_is_asked_about_a_few_candidates_build_paths_first(tmp_path, dmf_pdbs):
    served = tmp_path / "served"
    served.mkdir()
    modules = [Module("nt", None), _module("ndis", dmf_pdbs["drva"]), _module("tcpip", dmf_pdbs["drva"])]
    modules += [_module("third%02d" % i, dmf_pdbs["drva"]) for i in range(20)]
    modules.append(_module("built", dmf_pdbs["drva"], b"C:\\build\\x64\\Release\\built.pdb"))
    target = ModuleListTarget(modules)
    with SymbolHttpServer(str(served)) as server:
        found, said = _find(target, ["srv*%s*%s" % (tmp_path / "cache", server.url)])
    asked = sorted({request.split("/")[1] for request in server.requests})
    assert found is None
    # the module with a build path first, then load order; never Windows' own modules
    assert asked == sorted(["built.pdb"] + ["third%02d.pdb" % i for i in range(MAX_SERVER_CANDIDATES - 1)])
    assert said[-1].startswith("no driver symbols: no PDB of third00, third01, third02, third03, third04, third05 "
                               "and 15 more in the folders and caches of srv*")
    assert ", nor on %s for built, third00" % server.url in said[-1]
    assert said[-1].endswith("; --driver NAME asks the symbol servers about any module")


def test_a_server_pdb_is_downloaded_into_the_cache_then_found_offline(tmp_path, dmf_pdbs):
    served = _store(tmp_path, {"third03": dmf_pdbs["drva"]})
    target = ModuleListTarget([_module("third%02d" % i, dmf_pdbs["drva"]) for i in range(5)])
    cache = tmp_path / "cache"
    with SymbolHttpServer(served) as server:
        found, said = _find(target, ["srv*%s*%s" % (cache, server.url)])
        # the local pass asked nothing; the server pass stopped at the first DMF driver
        assert sorted({request.split("/")[1] for request in server.requests}) == ["third00.pdb", "third01.pdb",
                                                                                 "third02.pdb", "third03.pdb"]
    assert found.module == "third03" and found.source.startswith(str(cache) + os.sep)
    assert said == ["asking %s for third%02d.pdb" % (server.url, i) for i in range(4)] + [
        "third03.pdb: %.1f MiB downloaded" % (os.path.getsize(dmf_pdbs["drva"]) / 2 ** 20)]
    found.close()
    # the server is gone: the same symbol path finds it in the cache, asking nobody
    found, said = _find(target, ["srv*%s*%s" % (cache, server.url)])
    assert found.module == "third03" and said == []
    found.close()


# -- --pdb FILE ----------------------------------------------------------------------------------------

def _load_pdb(target, pdb, driver=None, allow=False):
    said = []
    options = SymbolOptions(pdb=pdb, driver=driver, allow_mismatched_pdb=allow, environ={})
    return load_pdb(target, options, said.append), said


def test_pdb_belongs_to_the_module_whose_codeview_names_it(tmp_path, dmf_pdbs):
    target = ModuleListTarget([_module("drva", dmf_pdbs["drva"]), _module("drvb", dmf_pdbs["drvb"])])
    symbols, said = _load_pdb(target, dmf_pdbs["drvb"])      # file name dmfdemo.pdb: matched by GUID/age
    assert (symbols.module, symbols.image_base, said) == ("drvb", target.bases["drvb"], [])
    symbols.close()
    # a module whose CodeView record is not in the dump: by the PDB's file name = module name, unchecked
    renamed = str(tmp_path / "drvc.pdb")
    shutil.copy(dmf_pdbs["drva"], renamed)
    symbols, said = _load_pdb(ModuleListTarget([Module("drvc", None)]), renamed)
    assert symbols.module == "drvc" and said == ["%s: the image has no CodeView record in the dump, so this PDB "
                                                 "cannot be checked against it" % renamed]
    symbols.close()
    with pytest.raises(UsageError, match=r"--pdb .*: no loaded module of synthetic.dmp names this PDB; --driver NAME"):
        _load_pdb(ModuleListTarget([Module("other", None)]), renamed)
    with pytest.raises(UsageError, match="--driver nosuch: no loaded module of that name"):
        _load_pdb(target, renamed, driver="nosuch")


def test_pdb_of_another_build_is_refused_unless_allowed(dmf_pdbs):
    target = ModuleListTarget([_module("drva", dmf_pdbs["drva"])])
    with pytest.raises(SymbolError) as refused:
        _load_pdb(target, dmf_pdbs["drvb"], driver="drva")
    wanted, given = read_identity(dmf_pdbs["drva"]), read_identity(dmf_pdbs["drvb"])
    assert str(wanted.guid).upper() in str(refused.value) and str(given.guid).upper() in str(refused.value)
    assert str(refused.value).endswith("not its PDB (--allow-mismatched-pdb loads it anyway)")
    symbols, said = _load_pdb(target, dmf_pdbs["drvb"], driver="drva", allow=True)
    assert symbols.module == "drva" and said[0].endswith("loaded anyway, types and addresses may be wrong")
    symbols.close()


# -- which source ------------------------------------------------------------------------------------------

def test_the_source_order(tmp_path, dmf_pdbs):
    folder = tmp_path / "dump"
    folder.mkdir()
    dump = str(folder / "MEMORY.DMP")
    isf = os.path.join(DATA, "dmfdemo", "driver.isf.json")
    target = ModuleListTarget([_module("dmfdemo", dmf_pdbs["drva"])])

    def source(**options):
        said = []
        loader = symbol_loader(dump, SymbolOptions(environ=options.pop("environ", {}), **options), say=said.append)
        return (loader(target) if loader is not None else None), said

    assert source() == (None, [])
    symbols, said = source(symbols=(str(tmp_path / "nowhere"),))
    assert symbols is None and said[0].startswith("no driver symbols: no PDB of dmfdemo")
    symbols, said = source(environ={"_NT_SYMBOL_PATH": os.path.dirname(dmf_pdbs["drva"])})
    assert isinstance(symbols, PdbSymbols) and said == []
    symbols.close()
    assert isinstance(source(isf=isf, symbols=(os.path.dirname(dmf_pdbs["drva"]),))[0], IsfSymbols)
    with pytest.raises(UsageError, match="give --isf FILE or --pdb FILE, not both"):
        source(isf=isf, pdb=dmf_pdbs["drva"])
    # an ISF beside the dump wins over the symbol path (and says so when --symbols asked for it) ...
    shutil.copy(isf, str(folder / "driver.isf.json"))
    symbols, said = source(environ={"_NT_SYMBOL_PATH": os.path.dirname(dmf_pdbs["drva"])})
    assert isinstance(symbols, IsfSymbols) and said == []
    symbols, said = source(symbols=(os.path.dirname(dmf_pdbs["drva"]),))
    assert isinstance(symbols, IsfSymbols)
    assert said == ["%s is used: an ISF beside the dump wins over --symbols (move it away to use the PDB)"
                    % str(folder / "driver.isf.json")]
    # ... and --pdb, the user's word for this dump, wins over it
    symbols, said = source(pdb=dmf_pdbs["drva"])
    assert isinstance(symbols, PdbSymbols) and symbols.module == "dmfdemo"
    symbols.close()


def test_inside_the_debugger_the_symbol_path_options_say_they_do_not_apply():
    said = []
    assert symbol_loader(None, SymbolOptions(symbols=("C:\\sym",), environ={}), debugger=True, say=said.append) is None
    assert said == ["--symbols and --pdb apply to dump files read directly; the debugger uses its own symbol path "
                    "(.sympath, .reload)"]
    said = []
    assert symbol_loader(None, SymbolOptions(environ={"_NT_SYMBOL_PATH": "C:\\sym"}), debugger=True,
                         say=said.append) is None
    assert said == []
