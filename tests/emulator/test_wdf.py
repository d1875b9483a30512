"""WDF handle encoding (spec/dmf.md §4.2 golden example), WDFMEMORY placement, typed context
headers chained in memory, context type-info globals."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmfkd.layouts import windows
from dmfemu.machine import Machine
from dmfemu.wdf import Wdf, handle_from_object, is_offset_handle, object_from_handle


def test_golden_handle_example_x64():
    # spec/dmf.md §4.2: handle 0x00001fff8a3b2c38 -> FxObject 0xffffe00075c4d3c0
    assert object_from_handle(0x00001FFF8A3B2C38, "x64") == 0xFFFFE00075C4D3C0
    assert handle_from_object(0xFFFFE00075C4D3C0, "x64") == 0x00001FFF8A3B2C38


def test_x86_mask_is_fffffff8():
    # FxObject = (handle & ~7) ^ 0xFFFFFFF8 within 32 bits
    assert object_from_handle(0x7BFFEDC8, "x86") == 0x7BFFEDC8 ^ 0xFFFFFFF8
    assert object_from_handle(0x7BFFEDCF, "x86") == 0x7BFFEDC8 ^ 0xFFFFFFF8    # flag bits ignored
    assert handle_from_object(0x84001230, "x86") == 0x84001230 ^ 0xFFFFFFF8
    assert handle_from_object(0x84001230, "x86") < 1 << 32


def test_flag_bits():
    assert is_offset_handle(0x1001) and not is_offset_handle(0x1000)
    assert object_from_handle(0x00001FFF8A3B2C3F, "x64") == 0xFFFFE00075C4D3C0


@settings(max_examples=200)
@given(st.sampled_from(["x64", "x86"]), st.integers(0, (1 << 61) - 1))
def test_handle_round_trip(arch, units):
    width = 64 if arch == "x64" else 32
    fx = (units << 3) & ((1 << width) - 1)
    handle = handle_from_object(fx, arch)
    assert handle & 7 == 0
    assert object_from_handle(handle, arch) == fx
    assert handle < 1 << width


def test_unaligned_object_refused():
    with pytest.raises(ValueError):
        handle_from_object(0xFFFFE00000001004, "x64")


@pytest.mark.parametrize("arch", ["x64", "x86"])
@pytest.mark.parametrize("fx_size", [0x70, 0x58, 0x41])
def test_small_memory_layout(arch, fx_size):
    machine = Machine(arch)
    wdf = Wdf(machine, fx_memory_buffer_size=fx_size)
    align = 16 if arch == "x64" else 8
    mem = wdf.memory_create(100, b"Dmf4")
    assert object_from_handle(mem.handle, arch) == mem.fx_object_va
    # buffer at FxObject + ALIGN_UP(sizeof(FxMemoryBuffer), 16/8) in the same pool block
    assert mem.buffer_va == mem.fx_object_va + (fx_size + align - 1) // align * align
    assert machine.pool.tag_of(mem.fx_object_va) == b"Dmf4"
    assert machine.pool.block_of(mem.buffer_va) is machine.pool.block_of(mem.fx_object_va)
    assert machine.space.read(mem.buffer_va, 100) == bytes(100)
    # first context header at FxObject + m_ObjectSize, Object back-pointer, no type
    header = windows.wdf_context_header(arch)
    first = mem.buffer_va + (100 + align - 1) // align * align
    assert mem.first_header_va == first
    values = header.unpack_from(machine.space.read(first, header.size))
    assert values["Object"] == mem.fx_object_va
    assert values["ContextTypeInfo"] == 0 and values["NextHeader"] == 0


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_page_sized_memory_is_separate_block(arch):
    machine = Machine(arch)
    wdf = Wdf(machine)
    mem = wdf.memory_create(0x1000, b"RBMo")
    assert mem.separate_buffer
    assert machine.pool.tag_of(mem.buffer_va) == b"RBMo"
    assert machine.pool.tag_of(mem.fx_object_va) == b"FxDr"
    assert machine.pool.block_of(mem.buffer_va) is not machine.pool.block_of(mem.fx_object_va)
    view = mem.buffer_view()
    view[0:4] = b"abcd"
    assert machine.space.read(mem.buffer_va, 4) == b"abcd"


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_typed_context_chain(arch):
    machine = Machine(arch)
    wdf = Wdf(machine)
    info = windows.wdf_object_context_type_info(arch)
    header = windows.wdf_context_header(arch)
    type_a = wdf.context_type("DMF_CONTEXT_RingBuffer", 64)
    type_b = wdf.context_type("DMF_CONTEXT_Other", 24)
    assert wdf.context_type("DMF_CONTEXT_RingBuffer", 64) == type_a     # one global per type
    mem = wdf.memory_create(200, b"Dmf4")
    ctx_a = wdf.allocate_context(mem, type_a, 64)
    ctx_b = wdf.allocate_context(mem, type_b, 24)
    offset = 48 if arch == "x64" else 24
    # walk the chain by hand from the first header
    first = header.unpack_from(machine.space.read(mem.first_header_va, header.size))
    second_va = first["NextHeader"]
    second = header.unpack_from(machine.space.read(second_va, header.size))
    third = header.unpack_from(machine.space.read(second["NextHeader"], header.size))
    assert second["ContextTypeInfo"] == type_a and second_va + offset == ctx_a
    assert third["ContextTypeInfo"] == type_b and second["NextHeader"] + offset == ctx_b
    assert third["NextHeader"] == 0
    assert second["Object"] == third["Object"] == mem.fx_object_va
    assert ctx_a % (16 if arch == "x64" else 8) == 0
    assert machine.space.read(ctx_a, 64) == bytes(64)
    assert wdf.find_context(mem, type_b) == ctx_b and wdf.find_context(mem, 0x1234) == 0
    # the type-info global
    values = info.unpack_from(machine.space.read(type_a, info.size))
    assert values["Size"] == info.size == (40 if arch == "x64" else 20)
    assert values["ContextSize"] == 64 and values["UniqueType"] == type_a
    assert machine.space.read(values["ContextName"], 23) == b"DMF_CONTEXT_RingBuffer\0"
    with pytest.raises(ValueError):
        wdf.context_type("DMF_CONTEXT_RingBuffer", 40)


def test_context_type_at_given_va_and_two_wdf_instances():
    machine = Machine("x64")
    base = machine.add_image("dmfdemo", 0x2000)
    wdf = Wdf(machine)
    va = wdf.context_type("DMF_CONTEXT_CrashDump", 168, va=base + 0x100)
    assert va == base + 0x100
    assert windows.wdf_object_context_type_info("x64").unpack_from(machine.space.read(va, 40))["ContextSize"] == 168
    other = Wdf(machine)
    assert other.static.base != wdf.static.base


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_context_type_from_object_attributes_uses_first_header(arch):
    machine = Machine(arch)
    wdf = Wdf(machine)
    type_info = wdf.context_type("DMF_DEVICE_CONTEXT", 56 if arch == "x64" else 28)
    mem = wdf.memory_create(0x30, b"Test", context_type_info_va=type_info, context_size=56)
    header = windows.wdf_context_header(arch)
    first = header.unpack_from(machine.space.read(mem.first_header_va, header.size))
    assert first["ContextTypeInfo"] == type_info and first["Object"] == mem.fx_object_va
    context_va = mem.first_header_va + (48 if arch == "x64" else 24)
    assert wdf.find_context(mem, type_info) == context_va
    # the inline context lies inside the object's pool block and is zeroed
    block = machine.pool.block_of(mem.fx_object_va)
    assert block.va <= context_va and context_va + 56 <= block.va + block.size
    assert machine.space.read(context_va, 56) == bytes(56)
