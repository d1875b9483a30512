"""Writes to the target: every one raises, because dmfkd must never write to a target (the stand-in
proves it in tests). Memory writes raise MemoryException for their address - what dbgeng's
WriteVirtual gives on a dump - on every target, live included; register / MSR writes raise
DbgException.
"""
from dmfemu.pykd._errors import DbgException, memory_error
from dmfemu.pykd._session import counted, current_target, to_address


def _refuse_write(func: str, offset) -> None:
    address = to_address(func, offset)
    current_target()
    exc = memory_error(address)
    exc.read_only = True  # the stand-in's reason: dmfkd must never write to a target
    raise exc


def _make_memory_writer(func_name: str, doc: str):
    def writer(offset, *args, **kwargs):
        _refuse_write(func_name, offset)

    writer.__name__ = func_name
    writer.__qualname__ = func_name
    writer.__doc__ = doc + " (dmfemu stand-in: the target is read-only; always raises MemoryException)"
    return counted(writer)


_MEMORY_WRITERS = [
    ("setByte", "Write an unsigned 1-byte integer to the target memory"),
    ("setWord", "Write an unsigned 2-byte integer to the target memory"),
    ("setDWord", "Write an unsigned 4-byte integer to the target memory"),
    ("setQWord", "Write an unsigned 8-byte integer to the target memory"),
    ("setSignByte", "Write an signed 1-byte integer to the target memory"),
    ("setSignWord", "Write an signed 2-byte integer to the target memory"),
    ("setSignDWord", "Write an signed 4-byte integer to the target memory"),
    ("setSignQWord", "Write an signed 8-byte integer to the target memory"),
    ("setFloat", "Write a float with single precision to the target memory"),
    ("setDouble", "Write a float with single precision to the target memory"),
    ("setPtr", "Write an pointer value to the target memory"),
    ("writeBytes", "Writing a list of unsigned bytes to the target's memory"),
    ("writeWords", "Writing a list of unsigned shorts to the target's memory"),
    ("writeDWords", "Writing a list of unsigned long ( double word ) to the target's memory"),
    ("writeQWords", "Writing a list of unsigned long long ( quad word ) to the target's memory"),
    ("writeSignBytes", "Writing a list of signed bytes to the target's memory"),
    ("writeSignWords", "Writing a list of signed words to the target's memory"),
    ("writeSignDWords", "Writing a list of signed longs to the target's memory"),
    ("writeSignQWords", "Writing a list of signed long longs to the target's memory"),
    ("writeFloats", "Writing a list of floats to the target's memory"),
    ("writeDoubles", "Writing a list of doubles to the target's memory"),
    ("writeCStr", "Write string as a 0 terminated ansi string to the buffer"),
    ("writeWStr", "Write string as a 0 terminated unicode string to the buffer"),
]
for _name, _doc in _MEMORY_WRITERS:
    globals()[_name] = _make_memory_writer(_name, _doc)


def _make_state_writer(func_name: str, doc: str):
    def writer(*args, **kwargs):
        current_target()
        raise DbgException("%s: the target is read-only" % func_name)

    writer.__name__ = func_name
    writer.__qualname__ = func_name
    writer.__doc__ = doc + " (dmfemu stand-in: the target is read-only; always raises DbgException)"
    return counted(writer)


_STATE_WRITERS = [
    ("setReg", "Set a CPU register value by its name"),
    ("setIP", "Change instruction pointer"),
    ("setSP", "Change stack pointer"),
    ("setFP", "Change frame pointer"),
    ("wrmsr", "Set MSR value"),
]
for _name, _doc in _STATE_WRITERS:
    globals()[_name] = _make_state_writer(_name, _doc)

#: every function of this module that would change the target; each one raises
WRITE_FUNCTIONS = tuple(n for n, _ in _MEMORY_WRITERS) + tuple(n for n, _ in _STATE_WRITERS)
