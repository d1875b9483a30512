"""dmfkd.user_code: a --schema file is run under a guard (time-limited load in a worker, a watchdog per
record) and what it returns becomes bounded, exact built-in values."""
import threading
import time

import pytest

from dmfkd import user_code
from dmfkd.decode import SchemaDecoder


def test_plain_result_is_bounded_and_exact():
    class Weird(int):
        def __str__(self):
            raise RuntimeError("user code")

    loop = {"a": 1}
    loop["me"] = loop
    deep = {}
    for _ in range(1000):
        deep = {"x": deep}
    value = user_code.plain_result({"n": Weird(5), "loop": loop, "deep": deep, "big": 1 << 5000,
                                    "bytes": b"\x01\x02", "_private": 1, "list": [1, (2, 3)], "nan": float("nan")})
    assert type(value["n"]) is int and value["n"] == 5
    assert value["loop"] == {"a": 1, "me": user_code.CYCLE}
    depth, node = 0, value["deep"]
    while isinstance(node, dict):
        node, depth = node["x"], depth + 1
    assert node == user_code.TOO_DEEP and depth == user_code.MAX_VALUE_DEPTH - 1
    assert value["big"] == "0x1" + "0" * 1250
    assert value["bytes"] == "0102" and "_private" not in value and value["list"] == [1, [2, 3]]
    assert value["nan"] is None
    many = user_code.plain_result(list(range(user_code.MAX_VALUE_NODES * 2)))
    assert len(many) == user_code.MAX_VALUE_NODES and many[-1] == user_code.TOO_MANY
    # a 64-byte record: at most 64 + 8 * 64 values, 4096 + 64 * 64 characters
    small = user_code.plain_result(dict.fromkeys(range(10000), "x" * 100), 64)
    assert len(small) == 64 + 8 * 64 and user_code.TOO_MANY in small  # the dict, 575 items, the marker
    assert sum(len(v) for v in small.values() if isinstance(v, str)) <= 4096 + 64 * 64 + 3 * len(small)


def test_describe_survives_a_hostile_str():
    class Nasty(Exception):
        def __str__(self):
            raise SystemExit(3)
    assert user_code.describe(Nasty()) == "Nasty: <unprintable Nasty>"
    assert user_code.describe(SystemExit(7)) == "SystemExit: 7"
    assert user_code.describe(ValueError("a\nb")) == "ValueError: a b"


def test_run_in_worker_returns_raises_and_times_out():
    assert user_code.run_in_worker(lambda: 5, 5, RuntimeError) == 5
    with pytest.raises(SystemExit):
        user_code.run_in_worker(lambda: exec("raise SystemExit(3)"), 5, RuntimeError)
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            pass
    with pytest.raises(TimeoutError):
        user_code.run_in_worker(spin, 0.2, lambda: TimeoutError("late"))
    stop.set()


def test_watchdog_stops_a_python_loop_and_reports_it():
    dog = user_code.Watchdog(0.2)
    dog.arm()
    try:
        with pytest.raises(user_code.UserCodeTimeout):
            while True:
                pass
    finally:
        fired = dog.disarm()
    assert fired is True  # it fired (the exception was raised in the loop; nothing is left pending)
    dog.arm()
    time.sleep(0.01)
    assert dog.disarm() is False  # a quick call: nothing fired, nothing pending
    time.sleep(0.5)               # and nothing arrives late


def test_schema_decoder_errors_name_file_schema_and_record(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("import construct as c\n"
                    "class Boom(c.Adapter):\n"
                    "    def _decode(self, obj, ctx, p):\n"
                    "        if obj == 2: raise KeyError('two')\n"
                    "        return obj\n"
                    "REC = c.Struct('v' / Boom(c.Int8ul))\n")
    decoder = SchemaDecoder("%s:REC" % path)
    assert decoder.decode(b"\x01", 0) == {"v": 1}
    assert decoder.decode(b"", 1) == {"decode_error": "StreamError: Error in path (parsing) -> v stream read "
                                                      "less than specified amount, expected 1, found 0"}
    with pytest.raises(user_code.SchemaError) as info:
        decoder.decode(b"\x02", 7)
    assert str(info.value) == "--schema %s:REC: record 7: decoding raised KeyError: 'two'" % path


def test_schema_decoder_keyboard_interrupt_is_not_swallowed(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("import construct as c\n"
                    "class Stop(c.Adapter):\n"
                    "    def _decode(self, obj, ctx, p):\n"
                    "        raise KeyboardInterrupt\n"
                    "REC = c.Struct('v' / Stop(c.Int8ul))\n")
    with pytest.raises(KeyboardInterrupt):
        SchemaDecoder("%s:REC" % path).decode(b"\x01", 0)


@pytest.mark.parametrize("body,message", [
    ("REC = 5\n", "defines no construct 'REC'"),
    ("class X:\n    def __getattr__(self, n):\n        raise SystemExit(4)\nREC = X()\n",
     "raised SystemExit: 4"),
    ("x = (" * 300 + "\n", "raised SyntaxError"),
    ("import os\nos.chdir\nREC = None\n", "defines no construct 'REC'")])
def test_schema_loading_refusals(tmp_path, body, message):
    path = tmp_path / "s.py"
    path.write_text(body)
    with pytest.raises(user_code.SchemaError, match=message):
        SchemaDecoder("%s:REC" % path)
