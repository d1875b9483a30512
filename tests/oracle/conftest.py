"""Fixtures of the oracle suite: Microsoft's dbgeng and the real pykd under Wine.

Every test here is marked ``oracle``; when Wine, mingw-w64 or a download is unavailable they skip
with one line naming what is missing (the reason is found once per session and reused).
"""
import os
import sys

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TESTS not in sys.path:  # `from oracle import ...` whatever directory pytest was started from
    sys.path.insert(0, TESTS)

from oracle import dbgeng, env, realpykd  # noqa: E402

_unavailable = {}  # which prerequisite -> reason, so later tests skip without retrying downloads


def _require(key, setup):
    if key in _unavailable:
        pytest.skip(_unavailable[key])
    try:
        return setup()
    except env.OracleUnavailable as exc:
        _unavailable[key] = "oracle: %s" % str(exc).splitlines()[0]
        pytest.skip(_unavailable[key])


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here + os.sep):
            item.add_marker(pytest.mark.oracle)


@pytest.fixture(scope="session")
def dbgeng_oracle():
    """The dbgeng runner module, with probe.exe built and the DLLs fetched (or skip)."""
    _require("dbgeng", dbgeng.ensure)
    return dbgeng


@pytest.fixture(scope="session")
def real_pykd():
    """The real-pykd runner module, with Windows CPython 3.9 + pykd + deps unpacked (or skip)."""
    _require("pykd", realpykd.ensure)
    return realpykd


@pytest.fixture(scope="session")
def oracle_tmp(tmp_path_factory):
    """A session-wide scratch folder for generated dumps (Wine sees it as Z:\\...)."""
    return tmp_path_factory.mktemp("oracle")
