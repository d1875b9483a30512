"""dmfemu.isf: the ISF JSON of an emulated driver loads in dmfkd's ISF reader, its symbols are RVAs
that land on the driver's globals, and every user type's field offsets are the layouts' offsets."""
import json
import uuid

import construct
import pytest

from dmfkd.layouts import dmf_structures

from dmfkd.layouts import dmf_versions

from dmfkd.layouts import windows
from dmfkd.targets.isf import IsfSymbols

from dmfemu.driver import Driver
from dmfemu.isf import build_isf, struct_fields, write_isf
from dmfemu.machine import Machine
from dmfemu.modules import crashdump

G = uuid.UUID("F4A58486-FD91-4BF9-96BC-DDA5CF571EDF")


def driver_with_crashdump(arch, version):
    machine = Machine(arch)
    driver = Driver(machine, dmf_version=version)
    cd = crashdump.CrashDump(driver, crashdump.CrashDumpConfig(ring_buffer_data_guid=G, buffer_size=8, buffer_count=4))
    assert cd.create_status == 0
    return driver, cd


@pytest.mark.parametrize("arch,version", [("x64", "1.1.154"), ("x86", "1.1.154"), ("x64", "1.1.84"),
                                          ("x86", "1.1.100"), ("x64", "1.1.120")])
def test_isf_loads_and_matches_layouts(tmp_path, arch, version):
    driver, cd = driver_with_crashdump(arch, version)
    path = str(tmp_path / "driver.isf.json")
    document = write_isf(path, driver)
    assert document["metadata"]["format"] == "6.2.0"
    assert document["metadata"]["dmfkd"] == {"module": "dmfdemo", "image_base": driver.base, "arch": arch,
                                             "dmf_version": version}
    symbols = IsfSymbols.load(path)
    assert symbols.address_of("dmfdemo!g_DmfModuleCrashDump") == driver.g_crashdump
    assert document["symbols"]["g_DmfModuleCrashDump"]["address"] == driver.g_crashdump - driver.base
    info = symbols.address_of("dmfdemo!_WDF_DMF_CONTEXT_CrashDump_TYPE_INFO")
    assert info == cd.module.type_info_va
    routine = symbols.address_of("CrashDump_BugCheckSecondaryDumpDataCallbackRingBuffer")
    assert routine == cd.kernel.record_fields(cd.state.record_va(0))["CallbackRoutine"]
    label = dmf_structures.crashdump_context_label_for_dmf(version)
    nested = dmf_versions.parse_dmf_version(version) >= dmf_versions.V1_1_85
    pairs = [("DMF_CONTEXT_CrashDump", dmf_structures.crashdump_context(arch, label)),
             ("DMF_CONFIG_CrashDump", dmf_structures.crashdump_config(arch, nested)),
             ("DATA_SOURCE", dmf_structures.data_source(arch)), ("RING_BUFFER", dmf_structures.ring_buffer(arch)),
             ("DMF_OBJECT", dmf_structures.dmf_object(arch, version)),
             ("_WDF_OBJECT_CONTEXT_TYPE_INFO", windows.wdf_object_context_type_info(arch)),
             ("_KBUGCHECK_REASON_CALLBACK_RECORD", windows.bugcheck_reason_callback_record(arch))]
    for name, layout in pairs:
        type_layout = symbols.type_layout(name)
        assert type_layout.size == layout.size, name
        assert set(type_layout.fields) == set(k for k in layout.offsets if "." not in k and "[" not in k), name
        for field, info_ in type_layout.fields.items():
            assert info_.offset == layout.offsets[field], (name, field)
            assert info_.size == layout.sizes[field], (name, field)
    ring_ctx = symbols.type_layout("DMF_CONTEXT_RingBuffer")
    assert ring_ctx.fields["RingBuffer"].offset == 0 and ring_ctx.size == dmf_structures.ring_buffer(arch).size


def test_isf_nested_config_and_pointer_types():
    driver, _ = driver_with_crashdump("x64", "1.1.154")
    doc = build_isf(driver)
    cfg = doc["user_types"]["DMF_CONFIG_CrashDump"]["fields"]
    assert cfg["SecondaryData"] == {"offset": 8, "type": {"kind": "struct", "name": "CrashDump_SecondaryData"}}
    assert cfg["TriageDumpData"]["offset"] == 80
    secondary = doc["user_types"]["CrashDump_SecondaryData"]["fields"]
    assert secondary["BufferSize"]["offset"] == 32           # 40 - 8: relative to the nested struct
    ctx = doc["user_types"]["DMF_CONTEXT_CrashDump"]["fields"]
    assert ctx["DataSource"]["type"] == {"kind": "pointer", "subtype": {"kind": "struct", "name": "DATA_SOURCE"}}
    ds = doc["user_types"]["DATA_SOURCE"]["fields"]
    assert ds["FileObject"]["type"]["kind"] == "array" and ds["FileObject"]["type"]["count"] == 3
    assert ds["RingBufferGuid"]["type"] == {"kind": "struct", "name": "_GUID"}
    assert doc["base_types"]["pointer"]["size"] == 8


def test_isf_flat_config_for_old_versions():
    driver, _ = driver_with_crashdump("x86", "1.1.84")
    doc = build_isf(driver)
    cfg = doc["user_types"]["DMF_CONFIG_CrashDump"]
    assert cfg["size"] == 60 and "TriageDumpData" not in cfg["fields"]
    assert cfg["fields"]["DataSourceCount"]["offset"] == 56
    assert doc["base_types"]["pointer"]["size"] == 4


def test_isf_client_event_type(tmp_path):
    driver, _ = driver_with_crashdump("x64", "1.1.154")
    path = str(tmp_path / "d.json")
    write_isf(path, driver)
    event = IsfSymbols.load(path).type_layout("DMFDEMO_EVENT")
    assert event.size == 64
    assert {k: v.offset for k, v in event.fields.items()} == {
        "Timestamp": 0, "Sequence": 8, "EventId": 12, "Level": 14, "Message": 16}


def test_isf_extra_types_and_struct_walker():
    con = construct.Struct("A" / construct.Int8ul, construct.Padding(3),
                           "B" / construct.Struct("X" / construct.Int32ul, "Y" / construct.Int64ul),
                           "C" / construct.Array(2, construct.Int16ul))
    fields = struct_fields(con)
    assert [(k, v.offset, v.size) for k, v in fields.items()] == [
        ("A", 0, 1), ("B", 4, 12), ("B.X", 4, 4), ("B.Y", 8, 8), ("C", 16, 4)]
    driver, _ = driver_with_crashdump("x64", "1.1.154")
    doc = build_isf(driver, extra_types={"MY_RECORD": con})
    assert doc["user_types"]["MY_RECORD"]["fields"]["C"]["offset"] == 16
    json.dumps(doc)  # serialisable


def test_isf_symbols_are_only_this_images():
    driver, _ = driver_with_crashdump("x64", "1.1.154")
    doc = build_isf(driver)
    for name, entry in doc["symbols"].items():
        assert 0 <= entry["address"] < 0x10000, name
    assert "g_DmfDemoDevice" in doc["symbols"]
