"""The symbol path: parsing WinDbg's syntax, finding a PDB by (name, GUID, age) in folders and
symbol stores, HTTP symbol servers (a real server on 127.0.0.1), and the hostile CodeView name.

The PDBs are the real MSVC ones in tests/data/msvc-pdb (x64 and x86 xcpt4.pdb: same name, different
GUIDs, so one is the other's mismatch)."""
import os
import uuid

import pytest

from dmfkd.errors import FormatError, SymbolError, UsageError
from dmfkd.targets import symbol_path
from dmfkd.targets.pdb import read_identity
from dmfkd.targets.symbol_path import MATCHED, MISMATCHED, NOT_FOUND, SymbolPath, check_pdb, pdb_file_name

from helpers.paths import DATA
from helpers.symbol_servers import SilentServer, SymbolHttpServer, closed_port_url, store_key, store_pdb

X64_PDB = os.path.join(DATA, "msvc-pdb", "x64", "xcpt4.pdb")
X86_PDB = os.path.join(DATA, "msvc-pdb", "x86", "xcpt4.pdb")
WANTED = read_identity(X64_PDB)
OTHER = read_identity(X86_PDB)
CODEVIEW = "D:\\a01\\_work\\s\\out\\xcpt4.pdb"


def _locate(path_text, tmp_path, codeview=CODEVIEW, identity=WANTED, **limits):
    path = SymbolPath.parse(path_text, default_cache=str(tmp_path / "default-cache"), **limits)
    return path.locate(codeview, identity.guid, identity.age)


def _files(folder):
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, _, names in os.walk(folder) for name in names)


# -- the hostile CodeView name -----------------------------------------------------------------------

@pytest.mark.parametrize("codeview, name", [
    ("dmfdemo.pdb", "dmfdemo.pdb"),
    ("C:\\build\\x64\\Release\\DmfDemo.PDB", "DmfDemo.PDB"),
    ("..\\..\\x\\evil.pdb", "evil.pdb"),
    ("../../etc/evil.pdb", "evil.pdb"),
    ("\\\\server\\share\\sym\\drv.pdb", "drv.pdb"),
    (b"C:\\out\\drv.pdb", "drv.pdb"),
])
def test_only_the_last_component_of_the_codeview_path_is_used(codeview, name):
    assert pdb_file_name(codeview) == name


@pytest.mark.parametrize("codeview, why", [
    ("C:evil.pdb", "drive"),
    ("drv.pdb:stream.pdb", "drive"),
    ("\\\\server\\share\\", "names no file"),
    ("C:\\out\\..", "names no file"),
    ("evil.pdb\0.txt", "NUL or control"),
    (b"ev\x1bil.pdb", "NUL or control"),
    (b"\xff\xfe.pdb", "UTF-8"),
    ("x" * (10 << 20) + ".pdb", "too long"),
    ("y" * 300 + ".pdb", "longer than 255"),
    ("driver.sys", "does not end in .pdb"),
    (".pdb", "does not end in .pdb"),
    ("wild*.pdb", "wildcard"),
    ("con.pdb", "device name"),
    (".hidden.pdb", "starts with a dot"),
])
def test_a_codeview_name_that_is_not_a_plain_file_name_is_refused(codeview, why):
    with pytest.raises(SymbolError, match=why) as info:
        pdb_file_name(codeview)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_a_refused_name_is_a_not_found_with_the_reason_and_touches_nothing(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    result = _locate("srv*%s*%s" % (tmp_path / "cache", closed_port_url()), tmp_path, codeview="..\\..\\x\\..")
    assert result.status == NOT_FOUND and result.name is None and "names no file" in result.notes[0]
    assert not (tmp_path / "cache").exists()


# -- parsing ---------------------------------------------------------------------------------------

def test_parse_understands_windbg_elements(tmp_path):
    default = str(tmp_path / "default")
    path = SymbolPath.parse("C:\\sym; cache*%s ;srv*http://a.example/sym;srv*X*https://b.example;"
                            "SRV**https://c.example;symsrv*symsrv.dll*Y*http://d.example;srv*Z;srv*" % (tmp_path / "c"),
                            default_cache=default)
    kinds = [(e.kind, e.stores) for e in path.elements]
    cache = str(tmp_path / "c")
    assert kinds == [
        ("folder", ("C:\\sym",)),
        ("cache", (cache,)),
        ("server", (cache, "http://a.example/sym")),         # srv*URL caches into the cache* before it
        ("server", ("X", "https://b.example")),
        ("server", (cache, "https://c.example")),
        ("server", ("Y", "http://d.example")),
        ("server", ("Z",)),                                    # srv*DIR: a local store
        ("server", (cache, symbol_path.MICROSOFT_SYMBOL_SERVER)),
    ]
    assert SymbolPath.parse("srv*http://a.example", default_cache=default).elements[0].stores == \
        (default, "http://a.example")
    assert not SymbolPath.parse(" ; ;", default_cache=default)


@pytest.mark.parametrize("text, why", [
    ("srv*ftp://example.com/sym", "ftp:// symbol servers are not supported"),
    ("srv*C:\\c*file:///etc", "file:// symbol servers are not supported"),
    ("https://example.com/sym", "needs srv\\*"),
    ("cache*http://example.com", "local folder"),
    ("what*ever", "expected a folder"),
])
def test_parse_refuses_what_it_does_not_support_in_one_line(text, why):
    with pytest.raises(UsageError, match=why) as info:
        SymbolPath.parse(text, default_cache="/tmp/c")
    assert "\n" not in str(info.value)


def test_symbols_options_come_before_nt_symbol_path(tmp_path):
    path = SymbolPath.from_sources(["A;B", "C"], environ={"_NT_SYMBOL_PATH": "D;srv*E*http://x.example"},
                                   default_cache=str(tmp_path))
    assert [e.text for e in path.elements] == ["A", "B", "C", "D", "srv*E*http://x.example"]
    assert SymbolPath.from_sources([], environ={}).elements == []


def test_default_cache_is_under_the_users_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setattr(symbol_path.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert symbol_path.default_cache_dir() == os.path.join(str(tmp_path), "dmfkd", "symbols")


# -- folders and stores ------------------------------------------------------------------------------

def test_flat_folder_match_and_mismatch(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    (folder / "xcpt4.pdb").write_bytes(open(X86_PDB, "rb").read())
    result = _locate(str(folder), tmp_path)
    assert result.status == MISMATCHED and result.path is None
    (mismatch,) = result.mismatches
    assert (mismatch.guid, mismatch.age) == (OTHER.guid, OTHER.age)
    assert str(OTHER.guid).upper() in result.describe()
    (folder / "xcpt4.pdb").write_bytes(open(X64_PDB, "rb").read())
    result = _locate(str(folder), tmp_path)
    assert result.status == MATCHED and result.path == str(folder / "xcpt4.pdb") and result.name == "xcpt4.pdb"


@pytest.mark.parametrize("two_tier", [False, True], ids=["one-tier", "two-tier"])
def test_symbol_store_layouts(tmp_path, two_tier):
    store = tmp_path / "store"
    stored = store_pdb(str(store), X64_PDB, two_tier=two_tier)
    store_pdb(str(tmp_path / "decoy"), X86_PDB)
    for text in (str(store), "srv*%s" % store, "cache*%s" % store):
        result = _locate("%s;%s" % (tmp_path / "decoy", text), tmp_path)
        assert result.status == MATCHED and result.path == stored, text
    expected = ["xc", "xcpt4.pdb"] if two_tier else ["xcpt4.pdb"]
    assert os.path.relpath(stored, str(store)).split(os.sep)[:-2] == expected


def test_store_entries_match_case_insensitively(tmp_path):
    store = tmp_path / "store"
    stored = store_pdb(str(store), X64_PDB, name="XCPT4.PDB")
    result = _locate(str(store), tmp_path, codeview="c:\\out\\xcpt4.pdb")
    assert result.status == MATCHED and result.path == stored


def test_local_file_ptr_inside_the_folders_is_followed_outside_is_not(tmp_path):
    store = tmp_path / "store"
    real = tmp_path / "store" / "real" / "xcpt4.pdb"
    real.parent.mkdir(parents=True)
    real.write_bytes(open(X64_PDB, "rb").read())
    key_folder = store / "xcpt4.pdb" / store_key(X64_PDB)
    key_folder.mkdir(parents=True)
    (key_folder / "file.ptr").write_text("PATH:%s" % real)
    assert _locate(str(store), tmp_path).path == str(real)
    outside = tmp_path / "elsewhere.pdb"
    outside.write_bytes(open(X64_PDB, "rb").read())
    (key_folder / "file.ptr").write_text("PATH:%s" % outside)
    result = _locate(str(store), tmp_path)
    assert result.status == NOT_FOUND and any("outside the symbol folders" in n for n in result.notes)
    (key_folder / "file.ptr").write_text("MSG: not shipped to the public")
    assert any("not shipped to the public" in n for n in _locate(str(store), tmp_path).notes)


def test_a_symbolic_link_out_of_the_folder_is_not_read(tmp_path):
    folder = tmp_path / "sym"
    folder.mkdir()
    secret = tmp_path / "secret.pdb"
    secret.write_bytes(open(X64_PDB, "rb").read())
    os.symlink(str(secret), str(folder / "xcpt4.pdb"))
    result = _locate(str(folder), tmp_path)
    assert result.status == NOT_FOUND and "outside the symbol folders" in result.notes[0]


def test_special_and_broken_files_are_mismatches_with_a_reason(tmp_path):
    folder = tmp_path / "sym"
    folder.mkdir()
    os.mkfifo(str(folder / "xcpt4.pdb"))
    result = _locate(str(folder), tmp_path)
    assert result.status == NOT_FOUND and result.mismatches[0].reason == "not a regular file"
    os.remove(str(folder / "xcpt4.pdb"))
    (folder / "xcpt4.pdb").write_bytes(b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\0\0\0" + b"\xff" * 100)
    result = _locate(str(folder), tmp_path)
    assert result.status == NOT_FOUND and "block size" in result.mismatches[0].reason


# -- HTTP symbol servers -----------------------------------------------------------------------------

def test_download_from_a_server_into_the_cache_then_offline(tmp_path):
    served = tmp_path / "served"
    store_pdb(str(served), X86_PDB, name="other.pdb")
    store_pdb(str(served), X64_PDB)
    cache = tmp_path / "cache"
    lines = []
    with SymbolHttpServer(str(served)) as server:
        path = SymbolPath.parse("srv*%s*%s" % (cache, server.url), default_cache=str(tmp_path / "unused"))
        result = path.locate(CODEVIEW, WANTED.guid, WANTED.age, progress=lines.append)
    key = store_key(X64_PDB)
    assert result.status == MATCHED and result.path == str(cache / "xcpt4.pdb" / key / "xcpt4.pdb")
    assert open(result.path, "rb").read() == open(X64_PDB, "rb").read()
    assert _files(str(cache)) == [os.path.join("xcpt4.pdb", key, "xcpt4.pdb")]     # no temporary left
    assert lines[0].startswith("asking http://127.0.0.1:") and lines[0].endswith(" for xcpt4.pdb")
    assert lines[-1] == "xcpt4.pdb: %.1f MiB downloaded" % (os.path.getsize(X64_PDB) / 2 ** 20)
    assert all("\n" not in line for line in lines)
    # the server is gone; the cache answers
    again = path.locate(CODEVIEW, WANTED.guid, WANTED.age)
    assert again.status == MATCHED and again.path == result.path and not again.notes


def test_default_cache_is_used_for_srv_url(tmp_path):
    served = tmp_path / "served"
    store_pdb(str(served), X64_PDB)
    with SymbolHttpServer(str(served)) as server:
        result = _locate("srv*" + server.url, tmp_path)
    assert result.status == MATCHED and result.path.startswith(str(tmp_path / "default-cache") + os.sep)


def test_a_server_answer_with_the_wrong_pdb_is_not_kept(tmp_path):
    served = tmp_path / "served"
    wrong = store_pdb(str(served), X86_PDB)
    # put the x86 PDB where the x64 one's key says
    right_folder = served / "xcpt4.pdb" / store_key(X64_PDB)
    right_folder.mkdir(parents=True)
    os.rename(wrong, str(right_folder / "xcpt4.pdb"))
    with SymbolHttpServer(str(served)) as server:
        result = _locate("srv*%s*%s" % (tmp_path / "cache", server.url), tmp_path)
    assert result.status == NOT_FOUND and "not the one asked for" in result.notes[0]
    assert _files(str(tmp_path / "cache")) == []


def test_a_redirect_to_file_is_refused(tmp_path):
    secret = tmp_path / "secret.pdb"
    secret.write_bytes(open(X64_PDB, "rb").read())
    key = store_key(X64_PDB)
    with SymbolHttpServer(str(tmp_path / "empty")) as server:
        server.routes["/xcpt4.pdb/%s/xcpt4.pdb" % key] = (302, {"Location": "file://%s" % secret}, b"")
        result = _locate("srv*%s*%s" % (tmp_path / "cache", server.url), tmp_path)
    assert result.status == NOT_FOUND and "redirect to a file: URL refused" in result.notes[0]
    assert _files(str(tmp_path / "cache")) == []


def test_an_http_redirect_is_followed(tmp_path):
    served = tmp_path / "served"
    store_pdb(str(served), X64_PDB)
    key = store_key(X64_PDB)
    with SymbolHttpServer(str(served)) as server:
        server.routes["/moved/xcpt4.pdb/%s/xcpt4.pdb" % key] = (
            301, {"Location": "%s/xcpt4.pdb/%s/xcpt4.pdb" % (server.url, key)}, b"")
        result = _locate("srv*%s*%s/moved" % (tmp_path / "cache", server.url), tmp_path)
    assert result.status == MATCHED


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
def test_an_oversized_answer_is_refused_and_leaves_nothing(tmp_path, declared):
    key = store_key(X64_PDB)
    body = b"\0" * 300000
    with SymbolHttpServer(str(tmp_path / "empty")) as server:
        headers = {} if declared else {"Content-Length": str(len(body)), "Transfer-Encoding": "identity"}
        server.routes["/xcpt4.pdb/%s/xcpt4.pdb" % key] = (200, headers, body)
        if not declared:
            # an answer with no length: the server closes the connection at the end
            server.routes["/xcpt4.pdb/%s/xcpt4.pdb" % key] = (200, {"Connection": "close", "Content-Length": ""}, body)
        result = _locate("srv*%s*%s" % (tmp_path / "cache", server.url), tmp_path, max_bytes=100000)
    assert result.status == NOT_FOUND and "allowed" in result.notes[0]
    assert _files(str(tmp_path / "cache")) == []


def test_a_server_that_never_answers_times_out(tmp_path):
    with SilentServer() as url:
        path = SymbolPath.parse("srv*%s*%s" % (tmp_path / "cache", url), default_cache=str(tmp_path), timeout=0.3)
        result = path.locate(CODEVIEW, WANTED.guid, WANTED.age)
        assert result.status == NOT_FOUND and "no answer within the timeout" in result.notes[0]
        # a server that failed is not asked again in the same session
        again = path.locate(CODEVIEW, OTHER.guid, OTHER.age)
        assert again.notes == result.notes


def test_no_server_listening_is_one_note(tmp_path):
    result = _locate("srv*%s*%s" % (tmp_path / "cache", closed_port_url()), tmp_path)
    assert result.status == NOT_FOUND and "connection refused" in result.notes[0] and "\n" not in result.notes[0]


def test_server_file_ptr_path_and_msg(tmp_path):
    key = store_key(X64_PDB)
    inside = tmp_path / "sym" / "copy" / "xcpt4.pdb"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(open(X64_PDB, "rb").read())
    outside = tmp_path / "outside.pdb"
    outside.write_bytes(open(X64_PDB, "rb").read())
    ptr = "/xcpt4.pdb/%s/file.ptr" % key
    with SymbolHttpServer(str(tmp_path / "empty")) as server:
        text = "%s;srv*%s*%s" % (tmp_path / "sym", tmp_path / "cache", server.url)
        server.routes[ptr] = (200, {}, ("PATH:%s" % inside).encode())
        assert _locate(text, tmp_path, codeview="other\\xcpt4.pdb").path == str(inside)
        server.routes[ptr] = (200, {}, ("PATH:%s" % outside).encode())
        result = _locate(text, tmp_path)
        assert result.status == NOT_FOUND and any("outside the symbol folders" in n for n in result.notes)
        server.routes[ptr] = (200, {}, b"MSG: withheld by the vendor\r\n")
        assert any("withheld by the vendor" in n for n in _locate(text, tmp_path).notes)


def test_a_compressed_pd_underscore_is_said_to_be_unsupported(tmp_path):
    key = store_key(X64_PDB)
    with SymbolHttpServer(str(tmp_path / "empty")) as server:
        server.routes["/xcpt4.pdb/%s/xcpt4.pd_" % key] = (200, {}, b"MSCF" + bytes(100))
        result = _locate("srv*%s*%s" % (tmp_path / "cache", server.url), tmp_path)
    assert result.status == NOT_FOUND and "compressed .pd_ files are not supported" in result.notes[0]


# -- --pdb FILE ---------------------------------------------------------------------------------------

def test_check_pdb_accepts_the_right_one_and_refuses_a_mismatch_in_one_line(tmp_path):
    assert check_pdb(X64_PDB, WANTED.guid, WANTED.age) == (X64_PDB, [])
    with pytest.raises(SymbolError) as info:
        check_pdb(X86_PDB, WANTED.guid, WANTED.age)
    message = str(info.value)
    assert str(OTHER.guid).upper() in message and str(WANTED.guid).upper() in message and "\n" not in message
    path, warnings = check_pdb(X86_PDB, WANTED.guid, WANTED.age, allow_mismatch=True)
    assert path == X86_PDB and "loaded anyway" in warnings[0]
    path, warnings = check_pdb(X86_PDB, None, None)
    assert "cannot be checked" in warnings[0]
    with pytest.raises(FormatError, match="not a regular file"):
        check_pdb(str(tmp_path), WANTED.guid, WANTED.age)
    with pytest.raises(FormatError, match="cannot open"):
        check_pdb(str(tmp_path / "missing.pdb"), WANTED.guid, WANTED.age)
    with pytest.raises(SymbolError):
        check_pdb(X64_PDB, uuid.UUID(int=1), WANTED.age)
    with pytest.raises(SymbolError):
        check_pdb(X64_PDB, WANTED.guid, WANTED.age + 1)
