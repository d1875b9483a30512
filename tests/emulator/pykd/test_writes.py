"""dmfemu.pykd: every write raises and the target's memory stays as it was (dmfkd never writes).

Expected values come from spec/real-pykd-under-wine.md (the observed behaviour of the real pykd 0.3.4.15)
and spec/pykd.md, never from the stand-in itself; the dumps are helpers.standin_dumps.
"""
import pytest

from dmfemu import pykd
from dmfemu.target import EmulatorTarget

from helpers.standin_dumps import PAGE0, PAGE1, VA, make_machine, message


WRITE_CALLS = {
    "setByte": (VA, 1), "setWord": (VA, 1), "setDWord": (VA, 1), "setQWord": (VA, 1),
    "setSignByte": (VA, -1), "setSignWord": (VA, -1), "setSignDWord": (VA, -1), "setSignQWord": (VA, -1),
    "setFloat": (VA, 1.0), "setDouble": (VA, 1.0), "setPtr": (VA, 0),
    "writeBytes": (VA, [1, 2]), "writeWords": (VA, [1]), "writeDWords": (VA, [1]), "writeQWords": (VA, [1]),
    "writeSignBytes": (VA, [-1]), "writeSignWords": (VA, [-1]), "writeSignDWords": (VA, [-1]),
    "writeSignQWords": (VA, [-1]), "writeFloats": (VA, [1.0]), "writeDoubles": (VA, [1.0]),
    "writeCStr": (VA, "x"), "writeWStr": (VA, "x"),
    "setReg": ("rax", 0), "setIP": (0,), "setSP": (0,), "setFP": (0,), "wrmsr": (0x176, 0),
}


def test_every_write_raises_and_memory_is_unchanged(dumps):
    assert set(pykd.WRITE_FUNCTIONS) == set(WRITE_CALLS)
    machine, va, _ = make_machine()
    pykd.attach(EmulatorTarget(machine))  # even a live target refuses
    for name, args in WRITE_CALLS.items():
        with pytest.raises(pykd.DbgException):
            getattr(pykd, name)(*args)
    with pytest.raises(pykd.MemoryException) as info:
        pykd.writeBytes(VA, [0x41])
    assert message(info) == "Memory exception at 0xfffff80012345000 target virtual address"
    assert machine.space.read(va, 0x2000) == PAGE0 + PAGE1
