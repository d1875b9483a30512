"""The "pdb" input class of the command fuzzer (issue 9 item 7; fuzz_inputs.py runs its cases).

The emulated driver's real PDB - dmfemu.pdb builds the demo dump with a PE image and PDB from clang-cl
and lld-link, once per process - mutated at the container level (superblock fields, the stream directory:
stream count, stream sizes, block numbers; truncation) and at the record level (bytes inside the PDB
info, TPI, DBI, IPI and the other streams), then opened with dmfkd.targets.pdb.PdbSymbols and used as
the readers use symbols: the Symbols protocol's queries, and commands through cli.run on the dump the
PDB belongs to. Judged like every class: a value, or a DmfkdError of one line; nothing else, no hang,
no memory blow-up. A mutation is plain data (JSON):

    ["super", FIELD, U32]          superblock field 1..6 (BlockSize, FreeBlockMap, NumBlocks,
                                   NumDirectoryBytes, Unknown, BlockMapAddr)
    ["dir", POSITION, U32]         a word of the stream directory (0: NumStreams, then sizes, then blocks)
    ["stream", K, OFFSET, HEX]     bytes inside stream K, through its block list
    ["truncate", LENGTH]           cut the file
"""
import io
import os
import random
import struct
import tempfile
import time
from typing import Any, Dict, List, Optional

SUPERBLOCK = struct.Struct("<32s6I")
QUERY_NAMES = ("dmfdemo!g_DmfModuleCrashDump", "dmfdemo!_WDF_DMF_CONTEXT_CrashDump_TYPE_INFO", "dmfdemo!nope")
TYPE_NAMES = ("DMF_OBJECT", "dmfdemo!DMFDEMO_EVENT", "RING_BUFFER", "DATA_SOURCE", "DMF_CONTEXT_CrashDump",
              "_GUID", "NOPE")
GUARD_SECONDS = 20.0
U32 = (0, 1, 2, 3, 4, 7, 0x10, 0x200, 0x400, 0x1000, 0x1001, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
       0xFFFFFFFE, 0xFFFFFFFF)


class PdbBase(object):
    """The demo dump with its driver's PDB: paths, the PDB's bytes and where its streams are."""

    def __init__(self, folder: str, dump: str, pdb: bytes, image_base: int):
        self.folder, self.dump, self.pdb, self.image_base = folder, dump, pdb, image_base
        self.block_size, self.streams = layout(pdb)


_BASE = {}  # type: Dict[str, PdbBase]


def pdb_base(not_ready) -> PdbBase:
    """Built once per process (clang + lld: seconds); `not_ready(text)` is raised without the tools."""
    if "base" not in _BASE:
        import json

        from dmfemu import native_build
        from dmfemu.pdb import demo_with_pdb

        try:
            native_build.find_tools()
        except native_build.ToolsMissing as exc:
            raise not_ready(str(exc))
        folder = tempfile.mkdtemp(prefix="dmfkd-fuzz-pdb-")
        demo_with_pdb(folder, "x64", "1.1.154", "full", cache=os.path.join(folder, "native-build"))
        with open(os.path.join(folder, "driver.isf.json")) as handle:
            image_base = json.load(handle)["metadata"]["dmfkd"]["image_base"]
        with open(os.path.join(folder, "symbols", "dmfdemo.pdb"), "rb") as handle:
            _BASE["base"] = PdbBase(folder, os.path.join(folder, "MEMORY.DMP"), handle.read(), image_base)
    return _BASE["base"]


def layout(pdb: bytes):
    """(block size, [file segments of each stream]) of a pristine MSF 7.0 file; the directory is
    stream -1 here (it is the first entry of the list)."""
    magic, block_size, _, blocks, directory_bytes, _, map_block = SUPERBLOCK.unpack_from(pdb)
    directory_blocks = -(-directory_bytes // block_size)
    map_at = map_block * block_size
    directory_list = struct.unpack_from("<%dI" % directory_blocks, pdb, map_at)
    directory = b"".join(pdb[b * block_size:(b + 1) * block_size] for b in directory_list)[:directory_bytes]
    count = struct.unpack_from("<I", directory)[0]
    sizes = struct.unpack_from("<%dI" % count, directory, 4)
    at = 4 + 4 * count
    streams = [[(b * block_size, block_size) for b in directory_list]]
    for size in sizes:
        n = 0 if size == 0xFFFFFFFF else -(-size // block_size)
        numbers = struct.unpack_from("<%dI" % n, directory, at)
        at += 4 * n
        streams.append([(b * block_size, block_size) for b in numbers])
    return block_size, streams


def _write(data: bytearray, segments, offset: int, raw: bytes) -> None:
    """Overwrite `raw` at logical `offset` of a stream made of file segments (clipped to the stream)."""
    pos = 0
    for start, length in segments:
        for i in range(length):
            k = pos + i - offset
            if 0 <= k < len(raw) and start + i < len(data):
                data[start + i] = raw[k]
        pos += length


def mutated(base: PdbBase, mutations: List[list]) -> bytes:
    data = bytearray(base.pdb)
    cut = None
    for op in mutations:
        if op[0] == "super":
            struct.pack_into("<I", data, 32 + 4 * (op[1] - 1), op[2] & 0xFFFFFFFF)
        elif op[0] == "dir":
            _write(data, base.streams[0], op[1], struct.pack("<I", op[2] & 0xFFFFFFFF))
        elif op[0] == "stream":
            _write(data, base.streams[1 + op[1]] if 0 <= op[1] < len(base.streams) - 1 else [], op[2],
                   bytes.fromhex(op[3]))
        elif op[0] == "truncate":
            cut = op[1] if cut is None else min(cut, op[1])
    if cut is not None:
        del data[cut:]
    return bytes(data)


def random_mutation(base: PdbBase, rng: random.Random) -> list:
    kind = rng.random()
    if kind < 0.15:
        return ["super", rng.randrange(1, 7), rng.choice(U32 + (len(base.pdb) // base.block_size,
                                                                len(base.pdb) // base.block_size + 1))]
    if kind < 0.35:
        words = sum(n for _, n in base.streams[0]) // 4
        position = 4 * rng.choice((0, rng.randrange(1, 12), rng.randrange(max(1, words))))
        return ["dir", position, rng.choice(U32 + (rng.getrandbits(32),))]
    if kind < 0.93:
        stream = rng.choice((0, 1, 2, 2, 2, 3, 3, 3) + tuple(range(len(base.streams) - 1)))
        total = sum(n for _, n in base.streams[1 + stream]) if stream < len(base.streams) - 1 else 0
        size = rng.choice((1, 2, 4, 4, 8, 16, 64))
        raw = bytes(rng.randrange(256) for _ in range(size)) if rng.random() < 0.6 else \
            struct.pack("<I", rng.choice(U32))
        return ["stream", stream, rng.randrange(max(total, 1)), raw.hex()]
    return ["truncate", rng.randrange(len(base.pdb))]


def generate(rng: random.Random, fuzz, bases, not_ready) -> Dict[str, Any]:
    base = pdb_base(not_ready)
    mutations = [random_mutation(base, rng) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
    guid = "5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70"
    lines = [["crashdump"], ["datasources"], ["modules"], ["bugcheck"], ["crashdump", "--guid", guid],
             ["crashdump", "--guid", guid, "--type", "dmfdemo!DMFDEMO_EVENT", "--format", "json"],
             ["crashdump", "--all"], ["livedump"], ["ringbuffer", "dmfdemo!g_DmfModuleCrashDump"]]
    # the PDB read directly (the Symbols protocol, then a command with it attached), and given to the CLI
    # with --pdb (whose GUID/age check a mutation may trip: then --allow-mismatched-pdb half the time)
    runs = [{"tool": "pdb", "pdb": "{dir}/dmfdemo.pdb", "argv": rng.choice(lines)}]
    for line in rng.sample(lines, 2):
        runs.append({"argv": [line[0], "{dir}/MEMORY.DMP"] + line[1:] + ["--pdb", "{dir}/dmfdemo.pdb"] +
                     (["--allow-mismatched-pdb"] if rng.random() < 0.5 else [])})
    return {"class": "pdb", "label": ",".join(m[0] for m in mutations),
            "files": {"dmfdemo.pdb": {"kind": "recipe", "recipe": "pdb", "mutations": mutations},
                      "MEMORY.DMP": {"kind": "pdb_dump"}}, "runs": runs}


def recipe(spec, bases, not_ready) -> bytes:
    return mutated(pdb_base(not_ready), spec["mutations"])


def run(run_spec: Dict[str, Any], directory: str, fuzz, memory: str) -> Optional[str]:
    """Open the mutated PDB, ask what the readers ask, run the command on the dump with it attached.
    None on success, the error line of a DmfkdError; a Finding otherwise."""
    from dmfkd import cli
    from dmfkd.errors import DmfkdError
    from dmfkd.render import Output
    from dmfkd.targets.dumpfile import DumpFile
    from dmfkd.targets.pdb import PdbSymbols

    base = _BASE["base"]
    path = run_spec["pdb"].replace("{dir}", directory)
    label = ["pdb"] + run_spec["argv"]
    start = time.time()
    result = None
    try:
        with fuzz.guard(GUARD_SECONDS, memory) as peak:
            try:
                symbols = PdbSymbols.open(path, image_base=base.image_base, module="dmfdemo")
            except DmfkdError as exc:
                result = _one_line(fuzz, label, exc)
            else:
                target = DumpFile(base.dump)
                try:
                    result = _use(fuzz, label, symbols, target, cli, Output, DmfkdError, run_spec["argv"])
                finally:
                    target.close()
                    symbols.close()
    except fuzz.Runaway as exc:
        raise fuzz.Finding("hang", label, str(exc), "hang in pdb %s" % label[1])
    except fuzz.Finding:
        raise
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise fuzz.Finding("exception", label, fuzz.traceback.format_exc(), "pdb: " + fuzz._key(exc))
    fuzz._note(peak[0], time.time() - start, label)
    if peak[0] > fuzz.MEMORY_LIMIT:
        raise fuzz.Finding("memory", label, "%d bytes over the memory guard" % peak[0], "memory in pdb %s" % label[1])
    return result


def _one_line(fuzz, label, exc) -> str:
    text = str(exc)
    if not text or "\n" in text.strip():
        raise fuzz.Finding("stderr", label, "DmfkdError text %r is not one line" % text[:300],
                           "multi-line error in pdb")
    return text


def _use(fuzz, label, symbols, target, cli, Output, DmfkdError, argv) -> Optional[str]:
    for name in QUERY_NAMES:
        for query in (symbols.address_of, symbols.symbol_type_name):
            try:
                query(name)
            except DmfkdError as exc:
                _one_line(fuzz, label, exc)
    for name in TYPE_NAMES:
        try:
            symbols.type_layout(name)
        except DmfkdError as exc:
            _one_line(fuzz, label, exc)
    try:
        symbols.search("*!g_*")
        symbols.enum_type("ModuleStateType")
    except DmfkdError as exc:
        _one_line(fuzz, label, exc)
    target.symbols = symbols
    try:
        cli.run(list(argv), output=Output(io.StringIO()), target=target)
    except DmfkdError as exc:
        return _one_line(fuzz, label, exc)
    return None
