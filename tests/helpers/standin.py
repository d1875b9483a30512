"""Running dmfkd as `!py -g -m dmfkd ...` inside a WinDbg session, with dmfemu's stand-in as pykd."""
import contextlib
import io
import sys

from dmfemu import pykd as standin


@contextlib.contextmanager
def standin_as_pykd(pykd_target=None, symbols=None):
    """`import pykd` gives the stand-in (attached to pykd_target, a DumpFile or an emulator target,
    when given) inside the block; the previous `pykd` module is put back afterwards."""
    saved = sys.modules.get("pykd")
    sys.modules["pykd"] = standin
    try:
        if pykd_target is not None:
            standin.attach(pykd_target, symbols=symbols)
        yield standin
    finally:
        standin.detach()
        if saved is None:
            sys.modules.pop("pykd", None)
        else:
            sys.modules["pykd"] = saved


def run_in_windbg(argv, pykd_target, symbols=None):
    """One dmfkd command through the stand-in pykd attached to pykd_target; returns its text."""
    from dmfkd import cli
    from dmfkd.render import Output

    buf = io.StringIO()
    with standin_as_pykd(pykd_target, symbols):
        assert cli.run(argv, output=Output(buf)) == 0
    return buf.getvalue()
