"""Fixtures of the pykd stand-in's tests: the known dumps (helpers.standin_dumps) and a stand-in
that starts every test detached, with its call counts at zero."""
import pytest

from dmfemu import pykd

from helpers.standin_dumps import write_dumps


@pytest.fixture(scope="session")
def dumps(tmp_path_factory):
    return write_dumps(tmp_path_factory.mktemp("standin"))


@pytest.fixture(autouse=True)
def fresh():
    pykd.detach()
    pykd.reset_counts()
    yield
    pykd.detach()
