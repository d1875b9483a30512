"""Module Close with a data source it fails to destroy (spec/dmf.md Q-CD-13): Close destroys by file
object, so a handle that writes two slots and reads the first gets the first slot destroyed twice
and the second never; the record array is freed with that source's bug-check record still
registered, and the next bug check faults in DMF's callback. dmfemu reports it as a kernel fault
during the crash: the dump is still written, without that source's blob."""
import pytest

from dmfkd.layouts.dmf_structures import IOCTL_DATA_SOURCE_CREATE, IOCTL_DATA_SOURCE_OPEN, IOCTL_DATA_SOURCE_WRITE
from dmfkd.targets.dumpfile import DumpFile
from dmfemu.modules.crashdump.callbacks import ROUTINE_RING_BUFFER

from helpers.emulated_drivers import G, G2, crashdump_with_data_sources, source_input
from helpers.ntstatus import SUCCESS

ORPHAN = {"x64": (1 << 64) - 1, "x86": (1 << 32) - 1, "arm64": (1 << 64) - 1}


def slot_at(cd, array_va, index):
    """(writer FO, reader FO, ring handle) of DATA_SOURCE[index] in an array at `array_va` (read
    after Close, when the context no longer points at it)."""
    layout = cd.state.data_source_layout
    ds = layout.unpack_from(cd.space.read(array_va + index * layout.size, layout.size))
    return ds["FileObject"][1], ds["FileObject"][2], ds["DmfModuleDataSourceRingBuffer"]


@pytest.mark.parametrize("arch", ["x64", "x86", "arm64"])
def test_close_leaves_a_source_registered_and_the_next_bug_check_faults_in_its_callback(tmp_path, arch):
    cd = crashdump_with_data_sources(arch, count=2, maximum=64)
    handle, other = cd.file_create(), cd.file_create()
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G), 0, handle)[0] == SUCCESS
    assert cd.ioctl(IOCTL_DATA_SOURCE_OPEN, source_input(0, 0, G), 24, handle)[0] == SUCCESS
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G2), 0, other)[0] == SUCCESS
    assert cd.ioctl(IOCTL_DATA_SOURCE_WRITE, b"g2g2", 0, other)[0] == SUCCESS
    cd.file_close(other)
    # the same GUID reclaims the orphaned slot: `handle` now writes slots 1 and 2 and reads slot 1
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G2), 0, handle)[0] == SUCCESS
    array = cd.state.context_pointer("DataSource")
    records = [cd.state.record_va(1), cd.state.record_va(2)]
    assert [slot_at(cd, array, i)[:2] for i in (1, 2)] == [(handle, handle), (handle, 0)]
    ring2 = slot_at(cd, array, 2)[2]

    cd.close()
    # slot 1 destroyed (its reader role by the first pass, its writer role by the second), slot 2 never
    assert slot_at(cd, array, 1) == (0, 0, 0)
    assert slot_at(cd, array, 2) == (handle, 0, ring2)
    assert cd.state.context_pointer("DataSource") == 0 and cd.state.data_source_count == 0
    assert cd.state.context_pointer("BugCheckCallbackRecordRingBuffer") == 0
    assert cd.kernel.registered() == [records[1]]

    path = str(tmp_path / "MEMORY.DMP")
    result = cd.kernel.bugcheck(0xE2, dump_type="full", path=path)
    assert result.blobs == [] and result.calls == []
    [fault] = result.faults
    assert (fault.record, fault.routine, fault.call) == (records[1], cd.driver.routine(ROUTINE_RING_BUFFER),
                                                         "size query")
    assert "unmapped" in fault.message
    dump = DumpFile(path)
    assert dump.bugcheck().code == 0xE2 and list(dump.tagged()) == []


def test_close_without_the_double_role_destroys_every_source():
    """The same sources without the reader role: Close destroys both, nothing is left to fault."""
    cd = crashdump_with_data_sources(count=2, maximum=64)
    handle, other = cd.file_create(), cd.file_create()
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G), 0, handle)
    cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G2), 0, other)
    cd.file_close(other)
    assert cd.ioctl(IOCTL_DATA_SOURCE_CREATE, source_input(2, 4, G2), 0, handle)[0] == SUCCESS
    cd.close()
    assert cd.kernel.registered() == []
    result = cd.kernel.bugcheck(0xE2)
    assert result.faults == [] and result.blobs == []
