"""dmfemu.pykd: every engine call is counted, failed ones too.

Expected values come from spec/real-pykd-under-wine.md (the observed behaviour of the real pykd 0.3.4.15)
and spec/pykd.md, never from the stand-in itself; the dumps are helpers.standin_dumps.
"""
import pytest

from dmfemu import pykd

from helpers.standin_dumps import UNMAPPED, VA, attach_dump


def test_counting(dumps):
    attach_dump(dumps["full"])
    pykd.reset_counts()
    assert pykd.engine_calls() == 0
    pykd.loadBytes(VA, 16)
    pykd.loadBytes(VA, 16)
    pykd.ptrQWord(VA)
    pykd.enumTagged()
    with pytest.raises(pykd.MemoryException):
        pykd.loadBytes(UNMAPPED, 1)  # failed calls count too: they were round trips
    assert pykd.call_counts() == {"loadBytes": 3, "ptrQWord": 1, "enumTagged": 1}
    assert pykd.engine_calls() == 5
    pykd.reset_counts()
    assert pykd.call_counts() == {} and pykd.engine_calls() == 0
