"""The "schema" input class of the command fuzzer (issue 9 item 7; fuzz_inputs.py runs its cases):
hostile `--schema FILE.py:NAME` files - what the file does when it is loaded (exits, raises, loops,
sleeps, fails to compile), what NAME is (nothing, not a construct, an object whose attributes exit or
whose sizeof/subcons are odd or endless), and what its adapter returns or does for each record (exits,
raises, recurses, loops, returns cycles, deep or huge values, objects whose __str__/items/__iter__ are
hostile). Never os._exit, never a KeyboardInterrupt: a user's file can always do those, and dmfkd says
so (README, "Untrusted input").
"""
import random
from typing import Any, Dict

from fuzz_bases import pick_weighted


# -- hostile --schema files ----------------------------------------------------------------------------------

#: what a schema does when loaded (None: nothing special)
LOAD_BEHAVIOURS = {
    "none": "", "exit": "sys.exit({n})\n", "exit_text": "sys.exit('bye\\nnow')\n", "exit_none": "raise SystemExit\n",
    "value_error": "raise ValueError('x' * 100000)\n", "recursion": "def f(): f()\nf()\n",
    "memory_error": "raise MemoryError\n", "base_exception": "class Odd(BaseException): pass\nraise Odd()\n",
    "bad_str": "class E(Exception):\n    def __str__(self): raise SystemExit(3)\nraise E()\n",
    "generator_exit": "raise GeneratorExit\n", "stop_iteration": "raise StopIteration\n",
    "loop": "while True:\n    pass\n", "sleep": "import time\ntime.sleep(3600)\n",
    "syntax": "x = (\n", "nesting": "x = " + "(" * 300 + "1" + ")" * 300 + "\n",
    "deep_expr": "x = " + "-" * 100000 + "1\n", "nul": "x = 1\x00\n", "bad_utf8": "# \udcff\n",
}
#: what REC is
DEFINITIONS = {
    "ok": "REC = c.Struct('first' / Hostile(c.Int8ul), 'rest' / c.GreedyBytes)\n",
    "missing": "", "int": "REC = 5\n", "none": "REC = None\n",
    "parse_attr": "class P:\n    parse = 5\nREC = P()\n",
    "getattr_exit": "class G:\n    def __getattr__(self, name): raise SystemExit(4)\nREC = G()\n",
    "sizeof_raises": "class S(c.Struct):\n    def _sizeof(self, ctx, path): raise SystemExit(5)\n"
                     "REC = S('first' / Hostile(c.Int8ul), 'rest' / c.GreedyBytes)\n",
    "sizeof_weird": "class S(c.Struct):\n    def sizeof(self, **kw): return {value}\n"
                    "REC = S('first' / Hostile(c.Int8ul), 'rest' / c.GreedyBytes)\n",
    "subcons_endless": "import itertools\nREC = c.Struct('first' / Hostile(c.Int8ul), 'rest' / c.GreedyBytes)\n"
                       "REC.subcons = itertools.count()\n",
    "subcons_odd": "class N(str):\n    def startswith(self, *a): raise SystemExit(6)\n"
                   "REC = c.Struct('first' / Hostile(c.Int8ul), 'rest' / c.GreedyBytes)\n"
                   "REC.subcons[0].name = {value}\n",
    "check": "REC = c.Struct('first' / Hostile(c.Int8ul), c.Check(c.this.first == 300), 'rest' / c.GreedyBytes)\n",
    "array": "REC = c.Struct('n' / c.Int32ul, 'items' / c.Array(c.this.n, c.Int64ul), 'rest' / c.GreedyBytes)\n",
    "bytes": "REC = c.Struct('first' / Hostile(c.Int8ul), 'blob' / c.Bytes(1 << 40))\n",
}
#: what the adapter's _decode does with a record's first byte
DECODES = {
    "same": "return obj", "exit": "raise SystemExit({n})", "value_error": "raise ValueError(obj)",
    "recursion": "return self._decode(obj, ctx, path)", "memory_error": "raise MemoryError",
    "base_exception": "raise Odd()", "self_dict": "d = {{'a': obj}}\n        d['me'] = d\n        return d",
    "self_list": "l = [obj]\n        l.append(l)\n        return l",
    "deep": "d = {{}}\n        for _ in range(100000):\n            d = {{'x': d}}\n        return d",
    "huge_int": "return 10 ** 5000 * (1 if obj & 1 else -1)", "huge_str": "return 'x' * (5 << 20)",
    "huge_bytes": "return b'x' * (5 << 20)", "many": "return dict.fromkeys(range(200000), obj)",
    "bad_str": "return Nasty()", "bad_dict": "return BadDict(a=1)", "bad_list": "return BadList([1])",
    "generator": "return (i for i in range(10))", "nan": "return float('nan')", "objects": "return [set([1]), "
    "frozenset(), complex(1, 2), bytearray(b'x'), memoryview(b'yz'), __import__('uuid').uuid4(), "
    "__import__('decimal').Decimal('1.5'), __import__('datetime').datetime.now(), type, len, ...]",
    "str_subclass": "return Sly('text')", "container_io": "return c.Container(_io=1, value=obj, _x=2)",
    "loop": "while True:\n            pass", "sleep": "import time\n        time.sleep(3600)",
    "bad_key": "return {{Nasty(): 1}}",
}
SCHEMA_PRELUDE = """import sys, construct as c
class Odd(BaseException):
    pass
class Nasty:
    def __str__(self):
        raise SystemExit(3)
    __repr__ = __str__
class BadDict(dict):
    def items(self):
        raise RuntimeError('items')
class BadList(list):
    def __iter__(self):
        raise SystemExit(8)
class Sly(str):
    def __str__(self):
        return self
    def __len__(self):
        raise SystemExit(9)
class Hostile(c.Adapter):
    def _decode(self, obj, ctx, path):
        {decode}
    def _encode(self, obj, ctx, path):
        return obj
"""


def gen_schema(rng: random.Random, fuzz, bases) -> Dict[str, Any]:
    base = rng.choice(list(bases.values()))
    slow = ("loop", "sleep")
    load = pick_weighted(rng, (30, "none"), *[(1 if k in slow else 3, k) for k in LOAD_BEHAVIOURS if k != "none"])
    definition = pick_weighted(rng, (30, "ok"), *[(2, k) for k in DEFINITIONS if k != "ok"])
    decode = pick_weighted(rng, *[(1 if k in slow else 4, k) for k in DECODES])
    n = rng.choice((0, 1, 2, 7, 130, 255, 256, -1, "None", "'text'", 1 << 70))
    value = rng.choice(("-1", "1 << 100", "'x'", "1.5", "None", "N('first')", "7"))
    source = SCHEMA_PRELUDE.format(decode=DECODES[decode].format(n=n)) + \
        LOAD_BEHAVIOURS[load].format(n=n) + DEFINITIONS[definition].format(value=value)
    files = {"MEMORY.DMP": {"kind": "base", "base": base.name, "file": "dump"},
             "driver.isf.json": {"kind": "base", "base": base.name, "file": "isf"},
             "schema.py": {"kind": "text", "text": source}}
    if rng.random() < 0.01:
        files["schema.py"] = {"kind": "recipe", "recipe": "big_source", "mib": 5}
    spec = "{dir}/schema.py:" + rng.choice(("REC", "REC", "REC", "NOPE", "sys"))
    guid = rng.choice(base.guids)
    lines = [["crashdump", "{dir}/MEMORY.DMP", "--guid", guid, "--schema", spec, "--last", str(rng.randrange(1, 4))],
             ["crashdump", "{dir}/MEMORY.DMP", "--guid", guid, "--schema", spec, "--grep", "0"],
             ["crashdump", "{dir}/MEMORY.DMP", "--all", "--schema", spec],
             ["crashdump", "{dir}/MEMORY.DMP", "--merge-by", "first", "--schema", spec],
             ["crashdump", "{dir}/MEMORY.DMP", "--guid", guid[:8] + "=" + spec.replace("{dir}", "{dir}"), "--guid",
              guid],
             ["ringbuffer", "{dir}/MEMORY.DMP", "0x%x" % rng.choice(base.ring_handles), "--schema", spec]]
    runs = []
    for line in rng.sample(lines, 2):
        line = line + ["--format", rng.choice(("table", "json", "jsonl", "csv"))]
        runs.append({"argv": line})
    if rng.random() < 0.2:
        runs.append({"tool": "pykd", "argv": [a for a in runs[0]["argv"] if a != "{dir}/MEMORY.DMP"],
                     "paths": ["{dir}/MEMORY.DMP", "{dir}/driver.isf.json"]})
    return {"class": "schema", "label": "%s/%s/%s" % (load, definition, decode), "files": files, "runs": runs}
