"""Input classes beyond the dump's bytes for scripts/fuzz_commands.py (issue 9 item 7).

    isf       ISF/JSON bombs and hostile symbol files: beside a pristine dump, or given with --isf
              (nesting, integer digits, value counts, gzip/xz bombs, corrupt compression, bad UTF-8,
              wrong shapes, byte-level damage)
    options   hostile option values: sizes, counts, rows, widths, GUIDs, handles, addresses, versions,
              names, output paths, unknown and repeated options
    special   special files where a file is expected - FIFOs, devices, directories, sockets, symlink
              loops, /proc files, odd paths - as the dump, the ISF, a --schema file, a --out/--save target
    schema    hostile --schema files: what they do when loaded and in their adapters (fuzz_schema_inputs.py)
    scenario  hostile scenario files for `dmfemu scenario FILE` (the emulator's CLI, used read-only)
    pdb       the driver's PDB mutated at the container and the record level (fuzz_pdb_inputs.py)

A case is plain data (JSON): the files to create in an empty directory and the command lines to run,
so that a finding can be replayed (`fuzz_commands.py --replay finding.json`). Files are literal text or
bytes, a link to a pristine base file, a recipe (bombs are built, not stored) or a special file.
A command passes when it exits 0, or 2 with exactly one line `dmfkd: ...` (`dmfemu: ...` for the
emulator) - and `info` / `tags` on a pristine dump must exit 0 whatever its ISF is (they never read it).
"""
import contextlib
import gzip
import io
import json
import lzma
import os
import random
import socket
import time
from typing import Any, Dict, List

import fuzz_pdb_inputs
from fuzz_bases import pick_weighted
from fuzz_schema_inputs import gen_schema

CLASSES = ("isf", "options", "special", "schema", "scenario", "pdb")
#: classes whose generator is a hook for a reader not on main yet (none left: the PDB reader landed)
HOOKS = ()
GUARD_SECONDS = 20.0
#: the --schema time limits during a campaign (the defaults, 10 s and 5 s, would make a looping schema
#: cost 15 s a case; the mechanism is the same)
SCHEMA_IMPORT_SECONDS = 1.0
SCHEMA_RECORD_SECONDS = 0.5


class NotReady(Exception):
    """An input class whose reader is not on main yet."""


# -- materialising a case --------------------------------------------------------------------------------

def clear_directory(directory: str) -> None:
    """Empty the case directory (links are removed, never written through)."""
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path):
            _remove_tree(path)
        else:
            os.unlink(path)


def materialise(case: Dict[str, Any], directory: str, bases: Dict[str, Any]) -> None:
    """Create the case's files in `directory` (emptied first)."""
    clear_directory(directory)
    for name, spec in case["files"].items():
        path = os.path.join(directory, name)
        kind = spec["kind"]
        if kind == "base":
            base = bases[spec["base"]]
            source = base.dump_path if spec["file"] == "dump" else base.isf_path
            try:
                os.link(source, path)
            except OSError:
                with open(source, "rb") as src, open(path, "wb") as dst:
                    dst.write(src.read())
        elif kind == "pdb_dump":  # the dump whose driver the pdb class's PDB belongs to
            os.link(fuzz_pdb_inputs.pdb_base(NotReady).dump, path)
        elif kind == "text":
            with open(path, "w", encoding="utf-8", errors="surrogatepass", newline="") as handle:
                handle.write(spec["text"])
        elif kind == "hex":
            with open(path, "wb") as handle:
                handle.write(bytes.fromhex(spec["hex"]))
        elif kind == "recipe":
            with open(path, "wb") as handle:
                handle.write(_built(spec, bases))
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "dir":
            os.mkdir(path)
        elif kind == "socket":
            server = socket.socket(socket.AF_UNIX)
            try:
                server.bind(path)
            finally:
                server.close()
        elif kind == "symlink":
            os.symlink(spec["to"].replace("{dir}", directory), path)
        else:
            raise ValueError("unknown file kind %r" % kind)


_BUILT = {}  # type: Dict[str, bytes]


def _built(spec, bases) -> bytes:
    """A recipe's bytes; bombs are built once per process (they are the slow ones, and deterministic)."""
    if spec["recipe"] == "pdb":
        return fuzz_pdb_inputs.recipe(spec, bases, NotReady)
    if spec["recipe"] != "bomb":
        return RECIPES[spec["recipe"]](spec, bases)
    key = json.dumps(spec, sort_keys=True)
    if key not in _BUILT:
        _BUILT[key] = RECIPES["bomb"](spec, bases)
    return _BUILT[key]


def _remove_tree(path: str) -> None:
    for name in os.listdir(path):
        inner = os.path.join(path, name)
        if os.path.isdir(inner) and not os.path.islink(inner):
            _remove_tree(inner)
        else:
            os.unlink(inner)
    os.rmdir(path)


def _recipe_deep(spec, bases) -> bytes:
    depth, opener = spec["depth"], spec.get("open", "[")
    closer = {"[": "]", '{"k":': "}"}[opener]
    body = opener * depth + "0" + ("" if spec.get("unclosed") else closer * depth)
    return (spec.get("prefix", "") + body + spec.get("suffix", "")).encode()


def _recipe_values(spec, bases) -> bytes:
    return ("[" + ",".join([spec.get("item", "[]")] * spec["count"]) + "]").encode()


def _recipe_compressed(spec, bases) -> bytes:
    inner = RECIPES[spec["inner"]["recipe"]](spec["inner"], bases) if spec["inner"]["kind"] == "recipe" else \
        (open(bases[spec["inner"]["base"]].isf_path, "rb").read() if spec["inner"]["kind"] == "base"
         else spec["inner"].get("text", "").encode())
    packed = gzip.compress(inner, 6) if spec["method"] == "gzip" else lzma.compress(inner)
    if spec.get("cut") is not None:
        packed = packed[:spec["cut"] % (len(packed) + 1)]
    if spec.get("flip") is not None and packed:
        at = spec["flip"] % len(packed)
        packed = packed[:at] + bytes([packed[at] ^ 0x5A]) + packed[at + 1:]
    return packed


def _recipe_bomb(spec, bases) -> bytes:
    """`members` gzip members (or one xz stream) each inflating to `mib` MiB of `fill`."""
    fill = spec.get("fill", " ").encode() * (spec["mib"] << 20)
    if spec["method"] == "xz":
        packer = lzma.LZMACompressor(preset=1)
        packed = b"".join(packer.compress(fill) for _ in range(spec.get("members", 1)))
        return packed + packer.flush()
    return gzip.compress(fill, 9) * spec.get("members", 1)


def _recipe_isf_edit(spec, bases) -> bytes:
    """A base's ISF document with edits (JSON-level), then byte-level damage."""
    doc = json.loads(json.dumps(bases[spec["base"]].isf))
    for path, value in spec.get("set", []):
        node = doc
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict):
            node[path[-1]] = value
    text = json.dumps(doc).encode()
    for op, at, data in spec.get("bytes", []):
        at %= len(text) + 1
        raw = bytes.fromhex(data)
        text = text[:at] + raw + text[at + (len(raw) if op == "overwrite" else 0):] if op != "delete" else \
            text[:at] + text[at + len(raw):]
    if spec.get("utf16"):
        return text.decode("latin-1").encode("utf-16")
    return spec.get("bom", "").encode("utf-8") + text


def _recipe_big_source(spec, bases) -> bytes:
    return b"# " + b"x" * (spec["mib"] << 20) + b"\nimport construct as c\nREC = c.Struct('a' / c.Int8ul)\n"


RECIPES = {"deep": _recipe_deep, "values": _recipe_values, "compressed": _recipe_compressed,
           "bomb": _recipe_bomb, "isf_edit": _recipe_isf_edit, "big_source": _recipe_big_source}


# -- running a case ---------------------------------------------------------------------------------------

def run_case(case: Dict[str, Any], directory: str, bases: Dict[str, Any], fuzz, memory: str = "rss") -> List[Any]:
    """Every command line of the case: their exit statuses (0 or 2; None for a run through the pykd
    stand-in, which has no status); raises fuzz.Finding on the first misbehaviour."""
    from dmfkd import user_code

    materialise(case, directory, bases)
    codes = []
    with _schema_limits(user_code):
        for run in case["runs"]:
            argv = [a.replace("{dir}", directory) for a in run["argv"]]
            if run.get("tool") == "dmfemu":
                codes.append(run_emulator(argv, fuzz, memory))
                continue
            if run.get("tool") == "pdb":
                codes.append(0 if fuzz_pdb_inputs.run(run, directory, fuzz, memory) is None else 2)
                continue
            if run.get("tool") == "pykd":
                paths = [p.replace("{dir}", directory) for p in run["paths"]]
                fuzz.run_pykd(argv, paths[0], paths[1], GUARD_SECONDS, memory)
                codes.append(None)
                continue
            rc, out, err = fuzz.run_cli(argv, GUARD_SECONDS, memory)
            if run.get("must_succeed") and rc != 0:
                raise fuzz.Finding("status", argv, "must exit 0 (it never reads the hostile input): %r" % err[:300],
                                   "%s exit %d on a pristine dump" % (argv[0], rc))
            codes.append(rc)
    return codes


@contextlib.contextmanager
def _schema_limits(user_code):
    saved = user_code.IMPORT_SECONDS, user_code.RECORD_SECONDS
    user_code.IMPORT_SECONDS, user_code.RECORD_SECONDS = SCHEMA_IMPORT_SECONDS, SCHEMA_RECORD_SECONDS
    try:
        yield
    finally:
        user_code.IMPORT_SECONDS, user_code.RECORD_SECONDS = saved


def run_emulator(argv: List[str], fuzz, memory: str) -> int:
    """`dmfemu ARGS` in-process, judged like dmfkd (exit 0, or 2 with one line `dmfemu: ...`)."""
    from dmfemu import cli as emulator_cli

    out, err = io.StringIO(), io.StringIO()
    label = ["dmfemu"] + argv
    start = time.time()
    try:
        with fuzz.guard(GUARD_SECONDS, memory) as peak:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = emulator_cli.main(argv)
    except fuzz.Runaway as exc:
        raise fuzz.Finding("hang", label, str(exc), "hang in dmfemu %s" % argv[0])
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise fuzz.Finding("exception", label, fuzz.traceback.format_exc(), "dmfemu: " + fuzz._key(exc))
    fuzz._note(peak[0], time.time() - start, label)
    if peak[0] > fuzz.MEMORY_LIMIT:
        raise fuzz.Finding("memory", label, "%d bytes over the memory guard" % peak[0], "memory in dmfemu %s" % argv[0])
    text = err.getvalue()
    lines = text.splitlines()
    # exit 1: the scenario ran and the emulated driver refused or faulted (a replay failure, as a test fails);
    # exit 2: the scenario file or options are bad. Either is exactly one line.
    if rc not in (0, 1, 2) or (rc in (1, 2) and (len(lines) != 1 or not lines[0].startswith("dmfemu: "))) or \
            (rc == 0 and text):
        raise fuzz.Finding("stderr", label, "exit %r, stderr %r" % (rc, text[:500]), "dmfemu exit %r / stderr" % rc)
    return rc


# -- generators --------------------------------------------------------------------------------------------

def _dump_lines(fuzz, base, rng, k, isf_option=None) -> List[Dict[str, Any]]:
    lines = rng.sample(fuzz.command_lines(base), k)
    runs = []
    for line in lines:
        argv = [line[0], "{dir}/MEMORY.DMP"] + line[1:] + (["--isf", isf_option] if isf_option else [])
        runs.append({"argv": argv})
    return runs


def _random_json(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return rng.choice([None, True, False, 0, -1, 1 << 63, 1 << 64, -(1 << 70), 1.5, -0.0, 1e308, "", "x",
                           "DMF_OBJECT", "pointer", "\u0000", "\ud800", "a\nb", "\u202e", "9" * 50])
    if roll < 0.75:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["kind", "name", "size", "fields", "offset", "type", "subtype", "count", "x", ""]):
            _random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def gen_isf(rng: random.Random, fuzz, bases) -> Dict[str, Any]:
    base = rng.choice(list(bases.values()))
    kind = pick_weighted(rng, (3, "deep"), (3, "int"), (1, "values"), (1, "bomb"), (2, "compressed"), (4, "edit"),
                 (3, "bytes"), (1, "encoding"))
    files = {"MEMORY.DMP": {"kind": "base", "base": base.name, "file": "dump"}}
    name, isf_option = "driver.isf.json", None
    if kind == "deep":
        depth = rng.choice((99, 100, 101, 102, 150, 1000, 100000))
        spec = {"kind": "recipe", "recipe": "deep", "depth": depth, "open": rng.choice(("[", '{"k":')),
                "unclosed": rng.random() < 0.3}
        if rng.random() < 0.5:  # inside an otherwise valid ISF value
            spec.update(prefix='{"metadata": {"format": "6.2.0"}, "base_types": {}, "user_types": {}, '
                               '"symbols": {"g": {"address": ', suffix="}}}")
        files[name] = spec
    elif kind == "int":
        digits = rng.choice((39, 40, 41, 100, 4300, 4301, 5000, 100000))
        number = rng.choice(("", "-")) + "9" * digits + rng.choice(("", "", ".5", "e5"))
        # the number as the value of a "size" somewhere in the document (text-level: json.dumps would
        # refuse to write it)
        text = json.dumps(base.isf)
        at = rng.randrange(max(1, text.count('"size": ')))
        head, sep, tail = text.partition('"size": ')
        for _ in range(at):
            more, sep, tail = tail.partition('"size": ')
            head += sep + more
        files[name] = {"kind": "text", "text": head + '"size": %s, "x": ' % number + tail}
    elif kind == "values":
        count = rng.choice((1000, 999999, 1000000, 1000001, 4000000))
        files[name] = {"kind": "recipe", "recipe": "values", "count": count, "item": rng.choice(("[]", "{}", "0"))}
    elif kind == "bomb":
        method = rng.choice(("gzip", "xz"))
        name, isf_option = "bomb.isf.json." + ("gz" if method == "gzip" else "xz"), "{dir}/bomb.isf.json." + (
            "gz" if method == "gzip" else "xz")
        files[name] = {"kind": "recipe", "recipe": "bomb", "method": method, "mib": rng.choice((8, 16)),
                       "members": rng.choice((3, 5, 96)) if method == "gzip" else rng.choice((3, 5)),
                       "fill": rng.choice((" ", "[", "0", "\u0000"))}
    elif kind == "compressed":
        method = rng.choice(("gzip", "xz"))
        suffix = ".gz" if method == "gzip" else ".xz"
        name, isf_option = "driver.isf.json" + suffix, "{dir}/driver.isf.json" + suffix
        files[name] = {"kind": "recipe", "recipe": "compressed", "method": method,
                       "inner": {"kind": "base", "base": base.name},
                       "cut": rng.choice((None, None, rng.randrange(1 << 16))),
                       "flip": rng.choice((None, None, rng.randrange(1 << 16)))}
    elif kind == "edit":
        edits = [[rng.choice(base.isf_paths), _random_json(rng)] for _ in range(rng.randrange(1, 4))]
        files[name] = {"kind": "recipe", "recipe": "isf_edit", "base": base.name, "set": edits}
    elif kind == "bytes":
        ops = [[rng.choice(("insert", "overwrite", "delete")), rng.randrange(1 << 16),
                bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 8, 64)))).hex()]
               for _ in range(rng.randrange(1, 4))]
        files[name] = {"kind": "recipe", "recipe": "isf_edit", "base": base.name, "bytes": ops}
    else:
        files[name] = {"kind": "recipe", "recipe": "isf_edit", "base": base.name,
                       "bom": rng.choice(("\ufeff", "")), "utf16": rng.random() < 0.5,
                       "bytes": [["insert", rng.randrange(1 << 16), rng.choice(("ff", "c0af", "eda080", "00"))]]}
    runs = [{"argv": ["info", "{dir}/MEMORY.DMP"] + (["--isf", isf_option] if isf_option else []),
             "must_succeed": True},
            {"argv": ["tags", "{dir}/MEMORY.DMP"] + (["--isf", isf_option] if isf_option else []),
             "must_succeed": True}]
    runs += _dump_lines(fuzz, base, rng, 3, isf_option)
    if rng.random() < 0.2 and not isf_option:
        line = rng.choice(fuzz.command_lines(base))
        runs.append({"tool": "pykd", "argv": line, "paths": ["{dir}/MEMORY.DMP", "{dir}/" + name]})
    return {"class": "isf", "label": kind, "files": files, "runs": runs}


NUMBERS = ("-1", "0", "1", "2", "7", "0x10", "-0x1", "64", "4294967296", "9223372036854775808", "18446744073709551616",
           "9" * 25, "9" * 5000, "1e3", "", " ", "0x", "+5", "1_0", "\u0661\u0662", "nan", "inf", "0" * 30 + "1",
           "1.5", "--", "\x00")
GUIDS = ("5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70", "5f3a", "5f3", "a1b2c3d4", "{5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70}",
         "0" * 32, "-" * 36, "g" * 36, "x" * 10000, "5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70\n", "\u00e9" * 8, "")
ADDRESSES = ("0", "0x0", "-1", "0x" + "f" * 16, "f" * 17, "ffffe000`00000000", "dmfdemo!g_DmfModuleCrashDump", "nope!x",
             "!", "x!", "0x1`", "`", "f" * 1000, "0x1fffffffeb8", "dmfdemo!DriverEntry", "1e5", "0x" + "1" * 40)
TEXTS = ("", ",", ".", "a.b.c" * 100, "hex", "Timestamp", "dmfdemo!DMFDEMO_EVENT", "X!Y", "!", "dmfdemo!", "a=b=c",
         "5f3a=dmfdemo!DMFDEMO_EVENT", "x" * 100000, "\u202e", "#,hex", "a," * 5000, "1.1.154", "1." + "9" * 50,
         "99.99.99", "v", "...", "-1.0", "dmfdemo", "nope", "a!b", "\x00", "ff" * 1000, "json", "table")
#: symbol paths: local folders and caches only - a server is a closed local port, never the network
SYMBOL_PATHS = ("{dir}", "{dir}/nowhere", "cache*{dir}/cache", "srv*{dir}/cache*http://127.0.0.1:9/", "srv*",
                "symsrv*", ";;;", "*", "srv*{dir}/cache*file:///etc", "{dir}/fifo.json", "{dir}/loop.json")
OUT_NAMES = ("out.json", "out.jsonl", "out.csv", "out.bin", "out", "out.txt", "sub/out.json", "fifo.json",
             "dir.json", "loop.json", "full.json", "MEMORY.DMP", "driver.isf.json")


def gen_options(rng: random.Random, fuzz, bases) -> Dict[str, Any]:
    base = rng.choice(list(bases.values()))
    files = {"MEMORY.DMP": {"kind": "base", "base": base.name, "file": "dump"},
             "driver.isf.json": {"kind": "base", "base": base.name, "file": "isf"},
             "fifo.json": {"kind": "fifo"}, "dir.json": {"kind": "dir"}, "fifo.svg": {"kind": "fifo"},
             "loop.json": {"kind": "symlink", "to": "{dir}/loop.json"},
             "full.json": {"kind": "symlink", "to": "/dev/full"}}
    handles = ["0x%x" % h for h in base.ring_handles + [base.collection_handle or 0]]
    options = {"--entry-size": NUMBERS, "--last": NUMBERS, "--width": NUMBERS, "--hex": NUMBERS + GUIDS,
               "--guid": GUIDS, "--type": TEXTS, "--merge-by": TEXTS, "--columns": TEXTS, "--format": TEXTS,
               "--dmf-version": TEXTS, "--driver": TEXTS, "--grep": TEXTS, "--schema": TEXTS,
               "--type-size-mismatch": TEXTS, "--out": tuple("{dir}/" + n for n in OUT_NAMES),
               "--save": GUIDS, "--isf": TEXTS, "--bogus": TEXTS, "--time-field": TEXTS,
               "--symbols": TEXTS + SYMBOL_PATHS, "--pdb": tuple("{dir}/" + n for n in OUT_NAMES),
               "-o": tuple("{dir}/" + n for n in OUT_NAMES + ("pic.svg", "pic.png", "pic.html", "fifo.svg"))}
    flags = ("--all", "--raw", "--force", "--wide", "--hex", "--no-check", "--version", "-h", "--allow-mismatched-pdb")
    command = rng.choice(("crashdump", "crashdump", "ringbuffer", "modules", "livedump", "tags", "datasources",
                          "info", "bugcheck", "timeline"))
    argv = [command, "{dir}/MEMORY.DMP"]
    if command in ("ringbuffer", "modules", "livedump") and rng.random() < 0.8:
        argv.append(rng.choice(handles + list(ADDRESSES)))
    if command == "crashdump" and rng.random() < 0.7:
        argv += ["--guid", rng.choice(base.guids)]
    for _ in range(rng.randrange(1, 4)):
        if rng.random() < 0.15:
            argv.append(rng.choice(flags))
            continue
        option = rng.choice(sorted(options))
        value = rng.choice(options[option])
        if option == "--save":
            argv += [option, value, "{dir}/" + rng.choice(OUT_NAMES)]
        else:
            argv.append("%s=%s" % (option, value) if rng.random() < 0.2 else option)
            if not argv[-1].startswith(option + "="):
                argv.append(value)
    if rng.random() < 0.1:
        del argv[rng.randrange(1, len(argv))]
    runs = [{"argv": argv}]
    if rng.random() < 0.3:
        runs.append({"tool": "pykd", "argv": [a for a in argv if a != "{dir}/MEMORY.DMP"],
                     "paths": ["{dir}/MEMORY.DMP", "{dir}/driver.isf.json"]})
    return {"class": "options", "label": command, "files": files, "runs": runs}


SPECIALS = {"fifo": {"kind": "fifo"}, "dir": {"kind": "dir"}, "socket": {"kind": "socket"},
            "loop": {"kind": "symlink", "to": "{dir}/loop2"}, "dangling": {"kind": "symlink", "to": "{dir}/nowhere"},
            "to_fifo": {"kind": "symlink", "to": "{dir}/fifo"}, "empty": {"kind": "hex", "hex": ""},
            "zeros": {"kind": "hex", "hex": "00" * 4096}, "devnull": {"kind": "symlink", "to": "/dev/null"},
            "devzero": {"kind": "symlink", "to": "/dev/zero"}, "urandom": {"kind": "symlink", "to": "/dev/urandom"},
            "maps": {"kind": "symlink", "to": "/proc/self/maps"}, "mem": {"kind": "symlink", "to": "/proc/self/mem"},
            "stdin": {"kind": "symlink", "to": "/dev/stdin"}}
#: what an --out / --save target may be in a case (all inside the case directory)
WRITABLE = ("fifo", "dir", "socket", "loop", "dangling", "to_fifo", "empty", "zeros", "devnull")
ODD_PATHS = ("{dir}/a\nb.dmp", "{dir}/" + "x" * 300, "{dir}/" + "d/" * 2100 + "x", "-", "{dir}/\u00e9\u202e.dmp",
             "{dir}/nul\x00x", "")


def gen_special(rng: random.Random, fuzz, bases) -> Dict[str, Any]:
    base = rng.choice(list(bases.values()))
    kind = rng.choice(sorted(SPECIALS) + ["odd"])
    files = {"MEMORY.DMP": {"kind": "base", "base": base.name, "file": "dump"}, "fifo": {"kind": "fifo"},
             "loop2": {"kind": "symlink", "to": "{dir}/loop"}}
    if kind == "odd":
        path = rng.choice(ODD_PATHS)
    else:
        files[kind if kind != "fifo" else "fifo"] = SPECIALS[kind]
        path = "{dir}/" + kind
    role = rng.choice(("dump", "isf", "beside", "schema", "out", "save", "pdb", "symbols"))
    if role in ("out", "save") and (kind not in WRITABLE or kind == "odd"):
        # written only inside the case directory, never to a device or /proc file
        kind, path = rng.choice(WRITABLE), None
        files[kind] = SPECIALS[kind]
        path = "{dir}/" + kind
    guid = base.guids[0]
    if role == "dump":
        runs = [{"argv": [rng.choice(("info", "tags", "crashdump", "modules", "livedump")), path]}]
    elif role == "isf":
        runs = [{"argv": ["crashdump", "{dir}/MEMORY.DMP", "--isf", path]},
                {"argv": ["tags", "{dir}/MEMORY.DMP", "--isf", path], "must_succeed": True}]
    elif role in ("pdb", "symbols"):
        runs = [{"argv": ["crashdump", "{dir}/MEMORY.DMP", "--" + role, path]},
                {"argv": ["info", "{dir}/MEMORY.DMP", "--" + role, path], "must_succeed": True}]
    elif role == "beside":
        if kind != "odd":
            files["driver.isf.json"] = files.pop(kind) if kind in files else SPECIALS[kind]
        runs = [{"argv": ["datasources", "{dir}/MEMORY.DMP"]},
                {"argv": ["info", "{dir}/MEMORY.DMP"], "must_succeed": True}]
    elif role == "schema":
        runs = [{"argv": ["crashdump", "{dir}/MEMORY.DMP", "--guid", guid, "--schema", path + ":REC"]}]
    elif role == "out" and rng.random() < 0.2:
        runs = [{"argv": ["timeline", "{dir}/MEMORY.DMP", "-o", path + rng.choice((".svg", ".png", ".html")),
                          "--type", "%s=dmfdemo!DMFDEMO_EVENT" % guid]}]
    elif role == "out":
        runs = [{"argv": ["crashdump", "{dir}/MEMORY.DMP", "--guid", guid, "--out",
                          path + rng.choice(("", ".json", ".bin"))]}]
    else:
        runs = [{"argv": ["tags", "{dir}/MEMORY.DMP", "--save", guid, path]}]
    return {"class": "special", "label": "%s as %s" % (kind, role), "files": files, "runs": runs}


# -- hostile scenario files (dmfemu scenario FILE) -----------------------------------------------------------

SCENARIO_VALUES = (None, -1, 0, 1, 3, 64, 4096, 1 << 20, 1 << 31, 1 << 32, 1 << 64, "x", "", [], {}, True, 1.5,
                   "5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70", "00000000-0000-0000-0000-000000000000", "ab" * 64)


def gen_scenario(rng: random.Random, fuzz, bases) -> Dict[str, Any]:
    from dmfemu.scenarios.crashdump_demo import demo_scenario

    kind = pick_weighted(rng, (6, "mutated"), (1, "deep"), (1, "int"), (1, "values"), (1, "special"), (1, "shape"))
    files = {"fifo.json": {"kind": "fifo"}, "dir.json": {"kind": "dir"}}
    path = "{dir}/scenario.json"
    if kind == "mutated":
        arch = rng.choice(("x64", "x86"))
        scenario = demo_scenario(arch, rng.choice(("1.1.154", "1.1.84", "1.0.0")),
                                 rng.choice(("full", "bitmap") + (("triage",) if arch == "x64" else ())),
                                 seed=rng.randrange(1 << 16))
        for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
            ops = scenario.get("operations")
            ops = ops if isinstance(ops, list) else []  # an earlier edit may have made it anything
            target = rng.choice([scenario] + [op for op in ops if isinstance(op, dict)] +
                                [v for v in scenario.values() if isinstance(v, dict)])
            keys = list(target) or ["x"]
            key = rng.choice(keys)
            if rng.random() < 0.15:
                target.pop(key, None)
            else:
                target[key] = rng.choice(SCENARIO_VALUES) if rng.random() < 0.7 else _random_json(rng)
        files["scenario.json"] = {"kind": "text", "text": json.dumps(scenario)}
    elif kind == "deep":
        files["scenario.json"] = {"kind": "recipe", "recipe": "deep", "depth": rng.choice((100, 1000, 100000)),
                                  "open": rng.choice(("[", '{"k":')), "unclosed": rng.random() < 0.3}
    elif kind == "int":
        digits = "9" * rng.choice((50, 5000))
        files["scenario.json"] = {"kind": "text", "text": '{"operations": [], "x": %s}' % digits}
    elif kind == "values":
        files["scenario.json"] = {"kind": "recipe", "recipe": "values", "count": rng.choice((1000, 2000000))}
    elif kind == "special":
        path = rng.choice(("{dir}/fifo.json", "{dir}/dir.json", "/dev/null", "/dev/zero", "{dir}/missing.json"))
    else:
        files["scenario.json"] = {"kind": "text", "text": json.dumps(_random_json(rng))}
    extra = pick_weighted(rng, (8, []), (1, ["--arch", "x86"]), (1, ["--dump-type", "triage"]),
                  (1, ["--maximum-allowed", rng.choice(("0", "-1", "600", "9" * 30))]))
    argv = ["scenario", path, "-o", "{dir}/out"] + extra
    return {"class": "scenario", "label": kind, "files": files, "runs": [{"tool": "dmfemu", "argv": argv}]}


def gen_pdb(rng: random.Random, fuzz, bases) -> Dict[str, Any]:
    """PDB files (fuzz_pdb_inputs.py); NotReady where clang/lld cannot build the driver's PDB."""
    return fuzz_pdb_inputs.generate(rng, fuzz, bases, NotReady)


GENERATORS = {"isf": gen_isf, "options": gen_options, "special": gen_special, "schema": gen_schema,
              "scenario": gen_scenario, "pdb": gen_pdb}
#: how often each class is drawn in a mixed campaign (relative)
WEIGHTS = {"dump": 30, "isf": 20, "options": 20, "special": 10, "schema": 15, "scenario": 5, "pdb": 8}


def generate(klass: str, rng: random.Random, fuzz, bases) -> Dict[str, Any]:
    return GENERATORS[klass](rng, fuzz, bases)

