"""Benchmark: dmfkd's PDB reader on a large PDB vs llvm-pdbutil's full type dump of the same file.

A generated C file (thousands of structs with nested members, pointers, arrays and bitfields,
enums, typedefs - over 20,000 type records, the size of a KMDF driver's private PDB) plus DMF's own
types (from the emulator's layouts) and a file-static ``g_DmfModuleCrashDump`` (an S_LDATA32, as in DMF)
is compiled with clang-cl and linked with lld-link. Then, in the same run:

  (a) open the PDB, resolve ``g_DmfModuleCrashDump`` and the DMF types a crashdump run reads
      (DMF_OBJECT, RING_BUFFER, DATA_SOURCE, the CrashDump context and config, and every type they
      nest), in this process, and again in a fresh ``python`` process (start-up included);
  (b) ``llvm-pdbutil dump -types`` of the same file (the baseline);
  (c) the second open of (a): the reader keeps no cache on disk, so this is simply (a) again with
      the file in the OS page cache.

Goal: (a) <= 1 s and no slower than (b); (c) <= 100 ms.

    PYTHONPATH=extension:emulator python3 scripts/bench_pdb.py [--structs 6000] [--runs 5] [--keep DIR]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DMF_TYPES = ["DMF_OBJECT", "RING_BUFFER", "DATA_SOURCE", "DMF_CONTEXT_CrashDump", "DMF_CONFIG_CrashDump"]
SYMBOL = "g_DmfModuleCrashDump"


def generated_types(structs: int) -> str:
    """Many distinct types: struct i has scalars, a bitfield pair, an array, a pointer to struct
    i-1, a nested struct i-2 by value, an enum member; one enum and one typedef per 4 structs."""
    out = []
    enums = max(1, structs // 4)
    for i in range(enums):
        out.append("typedef enum _BENCH_ENUM_%d { BENCH_%d_A = %d, BENCH_%d_B, BENCH_%d_C = -1 } BENCH_ENUM_%d;"
                   % (i, i, i, i, i, i))
    for i in range(structs):
        nested = "    struct _BENCH_%d Nested;\n" % (i - 2) if i >= 2 else ""
        out.append("typedef struct _BENCH_%d {\n    unsigned long Signature;\n    unsigned char Flags : 3;\n"
                   "    unsigned char Kind : 5;\n    unsigned short Values[%d];\n    struct _BENCH_%d *Previous;\n"
                   "%s    BENCH_ENUM_%d State;\n    long long Stamp%d;\n} BENCH_%d, *PBENCH_%d;"
                   % (i, 1 + i % 7, max(i - 1, 0), nested, i % enums, i, i, i))
    return "\n".join(out)


def dmf_types(arch: str) -> str:
    """DMF's structures as C, generated from the emulator's ISF (the same layouts dmfkd reads)."""
    from dmfemu import native_build
    from dmfemu.scenarios.crashdump_demo import demo_scenario
    from dmfemu.isf import build_isf
    from dmfemu.scenarios.crashdump_replay import ScenarioRun

    run = ScenarioRun(demo_scenario(arch, "1.1.154"))
    for op in demo_scenario(arch, "1.1.154")["operations"]:
        run.run(op)
    isf = build_isf(run.driver)
    types = native_build._Types(isf)
    lines = []
    for name in native_build._struct_order(types):
        lines += native_build._struct_source(types, name)
    return "\n".join(lines)


def build(folder: str, structs: int, arch: str = "x64") -> str:
    from dmfemu import native_build

    clang, lld = native_build.find_tools()
    source = os.path.join(folder, "bench.c")
    with open(source, "w") as handle:
        handle.write(dmf_types(arch) + "\n" + generated_types(structs) + "\n")
        handle.write("static void *%s;\n" % SYMBOL)
        handle.write("__declspec(dllexport) void *BenchEntry(void) { return &%s; }\n" % SYMBOL)
    subprocess.run([clang, "--driver-mode=cl", "--target=%s" % native_build.TARGET_TRIPLE[arch], "/nologo", "/c", "/Z7",
                    "/GS-", "/Od", "/Zl", "/clang:-fno-eliminate-unused-debug-types", "bench.c", "/Fobench.obj"],
                   cwd=folder, check=True, timeout=600)
    subprocess.run([lld, "/nologo", "/DLL", "/NODEFAULTLIB", "/NOENTRY", "/DEBUG", "/MACHINE:X64", "/PDB:bench.pdb",
                    "/OUT:bench.dll", "bench.obj"], cwd=folder, check=True, timeout=600)
    return os.path.join(folder, "bench.pdb")


def crashdump_work(path: str):
    """What a crashdump run asks of the PDB: the symbol, the DMF types and every type they nest."""
    from dmfkd.targets.pdb import PdbSymbols

    with PdbSymbols.open(path, image_base=0xFFFFF80000000000) as symbols:
        symbols.address_of("bench!" + SYMBOL)
        pending, seen = list(DMF_TYPES), set()
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            for field in symbols.type_layout(name).fields.values():
                if not field.type_name.endswith("*") and "[" not in field.type_name and field.size and field.size > 8:
                    pending.append(field.type_name)
        return len(seen), symbols.types.count


def timed(function, runs: int):
    times = []
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structs", type=int, default=6000, help="generated structs (default 6000)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", metavar="DIR", help="build into DIR and keep it (default: a temp folder)")
    args = parser.parse_args(argv)
    from tabulate import tabulate

    pdbutil = shutil.which("llvm-pdbutil-14") or shutil.which("llvm-pdbutil")
    if pdbutil is None:
        sys.stderr.write("bench_pdb: llvm-pdbutil not installed (apt-get install llvm-14)\n")
        return 2
    folder = args.keep or tempfile.mkdtemp(prefix="bench-pdb-")
    os.makedirs(folder, exist_ok=True)
    try:
        pdb = os.path.join(folder, "bench.pdb")
        if not os.path.exists(pdb):
            build(folder, args.structs)
        # first contact: the file as it is right after the build (OS page cache warm, no state of ours)
        first, _, (types_read, records) = timed(lambda: crashdump_work(pdb), 1)
        in_process, in_process_min, _ = timed(lambda: crashdump_work(pdb), args.runs)
        child = [sys.executable, "-c", "import sys; sys.path[:0] = %r; import bench_pdb; bench_pdb.crashdump_work(%r)"
                 % ([os.path.join(REPO, "extension"), os.path.join(REPO, "emulator"), os.path.dirname(__file__)], pdb)]
        startup = [sys.executable, "-c", "import dmfkd.targets.pdb"]
        env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "extension"))
        process, _, _ = timed(lambda: subprocess.run(child, check=True, env=env), args.runs)
        python_start, _, _ = timed(lambda: subprocess.run(startup, check=True, env=env), args.runs)
        llvm, _, _ = timed(lambda: subprocess.run([pdbutil, "dump", "-types", pdb], stdout=subprocess.DEVNULL,
                                                  check=True), args.runs)
        rows = [
            ["(b) llvm-pdbutil dump -types (baseline)", "%.3f" % llvm, "1.00"],
            ["(a) open + %s + %d types, first time" % (SYMBOL, types_read), "%.3f" % first,
             "%.2f" % (first / llvm)],
            ["(a) the same, in a fresh python process", "%.3f" % process, "%.2f" % (process / llvm)],
            ["    of which python + import dmfkd.targets.pdb", "%.3f" % python_start, "%.2f" % (python_start / llvm)],
            ["(c) second open (median of %d)" % args.runs, "%.3f" % in_process, "%.2f" % (in_process / llvm)],
        ]
        print("PDB: %s (%.1f MiB, %d type records)" % (pdb, os.path.getsize(pdb) / 2 ** 20, records))
        print(tabulate(rows, headers=["what", "seconds", "ratio to (b)"], tablefmt="github"))
        print("goals: (a) <= 1 s and ratio <= 1; (c) <= 0.100 s -> %s, %s, %s"
              % ("met" if first <= 1 else "MISSED", "met" if process <= llvm else "MISSED",
                 "met" if in_process <= 0.1 else "MISSED"))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
