"""DMF_MODULE_COLLECTION and DMF_DEVICE_CONTEXT by DMF version (issue 9 item 6). Offsets and sizes are the
ones spec/dmf.md §4.4 tabulates for HEAD; the older releases are HEAD cut after the last field they had
(DmfIncludeInternal.h at b6ae401 / fb4eed4 / HEAD), computed here by hand, not by the layout engine."""
import pytest

from dmfkd.layouts import dmf_structures

ARCHES = ("x64", "x86")
# HEAD offsets (x64, x86), spec/dmf.md §4.4
COLLECTION = {"ModuleCollectionHandleMemory": (0, 0), "ClientDriverDmfModules": (8, 4),
              "ClientDriverDmfModulesMemory": (16, 8), "NumberOfClientDriverDmfModules": (24, 12),
              "ManualCallToD0EntrySucceeded": (28, 16), "DmfObjectFeature": (32, 20),
              "DmfCallbacksWdfCheck": (56, 32), "ManualDestroyCallbackIsPending": (92, 68), "ClientDevice": (96, 72)}
DEVICE_CONTEXT = {"WdfDevice": (0, 0), "ClientImplementsEvtWdfDriverDeviceAdd": (8, 4), "DmfCollection": (16, 8),
                  "WdfControlDevice": (24, 12), "WdfClientDriverDevice": (32, 16), "IsFilterDevice": (40, 20),
                  "EvtDmfDeviceLog": (48, 24)}


def _column(table, arch):
    return {name: pair[0 if arch == "x64" else 1] for name, pair in table.items()}


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("version,size,last", [
    ("1.0.0", (96, 68), "DmfCallbacksWdfCheck"), ("1.1.2", (96, 68), "DmfCallbacksWdfCheck"),
    ("1.1.3", (104, 76), "ClientDevice"), ("1.1.84", (104, 76), "ClientDevice"),
    ("1.1.154", (104, 76), "ClientDevice")])
def test_module_collection_by_version(arch, version, size, last):
    layout = dmf_structures.dmf_module_collection(arch, version)
    assert layout.size == size[0 if arch == "x64" else 1]
    names = list(COLLECTION)
    expected = {n: o for n, o in _column(COLLECTION, arch).items() if names.index(n) <= names.index(last)}
    assert {n: layout.offsets[n] for n in expected} == expected
    assert set(n for n in layout.offsets if "." not in n and "[" not in n) >= set(expected)
    if last == "ClientDevice":
        assert "ClientDevice" in layout.offsets
    else:
        assert "ManualDestroyCallbackIsPending" not in layout.offsets


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("version,size,last", [
    ("1.0.0", (40, 20), "WdfClientDriverDevice"), ("1.1.0", (48, 24), "IsFilterDevice"),
    ("1.1.48", (48, 24), "IsFilterDevice"), ("1.1.49", (56, 28), "EvtDmfDeviceLog"),
    ("1.1.154", (56, 28), "EvtDmfDeviceLog")])
def test_device_context_by_version(arch, version, size, last):
    layout = dmf_structures.dmf_device_context(arch, version)
    assert layout.size == size[0 if arch == "x64" else 1]
    names = list(DEVICE_CONTEXT)
    expected = {n: o for n, o in _column(DEVICE_CONTEXT, arch).items() if names.index(n) <= names.index(last)}
    assert {n: layout.offsets[n] for n in expected} == expected
    assert not [n for n in names[names.index(last) + 1:] if n in layout.offsets]


@pytest.mark.parametrize("arch", ARCHES)
def test_the_default_is_head_and_every_size_is_listed(arch):
    head = (104, 76)[arch == "x86"]
    assert dmf_structures.dmf_module_collection(arch).size == head
    assert dmf_structures.dmf_device_context(arch).size == (56, 28)[arch == "x86"]
    assert dmf_structures.dmf_module_collection_sizes(arch) == (head, (96, 68)[arch == "x86"])
