"""nt/pe.py: PE headers and the CodeView (RSDS) record read through the Target protocol, from real
MSVC images mapped as the loader maps them, with pages missing, and from hostile bytes."""
import os
import struct
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmfkd.errors import MemoryReadError
from dmfkd.nt import pe
from dmfkd.targets.base import Target
from dmfkd.targets.pdb import read_identity

from helpers.paths import DATA
from helpers.pe_images import MappedImage

BASE = 0xFFFFF80012340000
MSVC = {arch: os.path.join(DATA, "msvc-pdb", arch) for arch in ("x64", "x86", "ARM64")}


class Bytes(Target):
    """`data` at BASE; everything else is not in the dump."""

    def __init__(self, data):
        self.data = bytes(data)

    def read(self, address, size):
        offset = address - BASE
        if offset < 0 or size < 0 or offset + size > len(self.data):
            raise MemoryReadError(address, size, reason="not in the dump")
        return self.data[offset:offset + size]


@pytest.mark.parametrize("arch, machine, name", [("x64", 0x8664, "x64"), ("x86", 0x14C, "x86"),
                                                 ("ARM64", 0xAA64, "arm64")])
def test_msvc_images_name_their_pdb(arch, machine, name):
    image = MappedImage(os.path.join(MSVC[arch], "xcpt4.exe"), BASE)
    info = pe.read_image(image, BASE)
    identity = read_identity(os.path.join(MSVC[arch], "xcpt4.pdb"))
    assert (info.headers, info.machine, info.arch, info.size_of_image) == (pe.OK, machine, name, len(image.image))
    assert info.codeview_status == pe.OK
    assert (info.codeview.guid, info.codeview.age) == (identity.guid, identity.age)
    assert info.codeview.path.endswith("xcpt4.pdb") and info.codeview.raw_path.decode() == info.codeview.path
    assert info.time_date_stamp == struct.unpack_from("<I", image.image, struct.unpack_from("<I", image.image,
                                                                                             0x3C)[0] + 8)[0]


def test_missing_pages_are_not_in_dump_not_errors():
    path = os.path.join(MSVC["x64"], "xcpt4.exe")
    assert pe.read_image(MappedImage(path, BASE, missing=[0]), BASE).headers == pe.NOT_IN_DUMP
    full = pe.read_image(MappedImage(path, BASE), BASE)
    debug_page = None
    image = MappedImage(path, BASE)
    lfanew = struct.unpack_from("<I", image.image, 0x3C)[0]
    debug_rva = struct.unpack_from("<I", image.image, lfanew + 0x18 + 0x70 + 6 * 8)[0]
    debug_page = debug_rva & ~0xFFF
    info = pe.read_image(MappedImage(path, BASE, missing=[debug_page]), BASE)
    assert info.headers == pe.OK and info.codeview_status == pe.NOT_IN_DUMP and info.codeview is None
    assert info.size_of_image == full.size_of_image


def _image(codeview=b"RSDS" + uuid.UUID(int=0x1234).bytes_le + struct.pack("<I", 3) + b"C:\\x\\drv.pdb\0",
           lfanew=0x80, magic=0x20B, debug=None, entries=None, size_of_image=0x3000):
    data = bytearray(0x3000)
    data[0:2] = b"MZ"
    struct.pack_into("<I", data, 0x3C, lfanew)
    if lfanew + 0x200 > len(data):
        return bytes(data)
    data[lfanew:lfanew + 4] = b"PE\0\0"
    optional_size = 0xF0 if magic == 0x20B else 0xE0
    struct.pack_into("<HHIIIHH", data, lfanew + 4, 0x8664, 1, 0x5F5E1000, 0, 0, optional_size, 0x22)
    opt = lfanew + 0x18
    struct.pack_into("<H", data, opt, magic)
    struct.pack_into("<III", data, opt + 0x38, size_of_image, 0x400, 0xABCD)
    directories = opt + (0x70 if magic == 0x20B else 0x60)
    struct.pack_into("<I", data, directories - 4, 16)
    record_rva = 0x2100
    data[record_rva:record_rva + len(codeview)] = codeview
    default = [struct.pack("<IIHHIIII", 0, 0, 0, 0, 2, len(codeview), record_rva, 0)]
    table = b"".join(entries if entries is not None else default)
    struct.pack_into("<II", data, directories + 6 * 8, *(debug if debug is not None else (0x2000, len(table))))
    data[0x2000:0x2000 + len(table)] = table
    return bytes(data)


def test_a_synthetic_image_reads_back():
    info = pe.read_image(Bytes(_image()), BASE)
    assert (info.headers, info.time_date_stamp, info.checksum, info.codeview_status) == (pe.OK, 0x5F5E1000, 0xABCD,
                                                                                        pe.OK)
    assert info.codeview == pe.CodeView(uuid.UUID(int=0x1234), 3, "C:\\x\\drv.pdb", b"C:\\x\\drv.pdb")
    assert pe.guid_age_text(uuid.UUID("92205c68-76f1-3e3b-4c4c-44205044422e"), 1) == \
        "92205C6876F13E3B4C4C44205044422E1"
    # PE32 (x86) headers place the directories 0x10 bytes earlier
    assert pe.read_image(Bytes(_image(magic=0x10B)), BASE).codeview_status == pe.OK


@pytest.mark.parametrize("image, headers, codeview", [
    (b"ZM" + bytes(0x100), "not a PE image (no MZ signature)", pe.NO_CODEVIEW),
    (_image(lfanew=0x10), "not a PE image (e_lfanew 0x10)", pe.NO_CODEVIEW),
    (_image(lfanew=0x7FFFFFF0), "not a PE image (e_lfanew 0x7ffffff0)", pe.NO_CODEVIEW),
    (_image(lfanew=0x8000), pe.NOT_IN_DUMP, pe.NO_CODEVIEW),             # NT headers past the dumped page
    (_image(magic=0x999), "not a PE image (optional header magic 0x999)", pe.NO_CODEVIEW),
    (_image(debug=(0, 0)), pe.OK, pe.NO_CODEVIEW),
    (_image(debug=(0xFFFFFF00, 0x1000)), pe.OK, "debug directory at RVA 0xffffff00 (4096 bytes) lies outside the image"),
    (_image(debug=(0x2000, 0xFFFFFFFF)), pe.OK, "debug directory at RVA 0x2000 (4294967295 bytes) lies outside the image"),
    (_image(entries=[struct.pack("<IIHHIIII", 0, 0, 0, 0, 2, 0x7FFFFFFF, 0x2100, 0)]), pe.OK,
     "CodeView record of 2147483647 bytes is not an RSDS record"),
    (_image(entries=[struct.pack("<IIHHIIII", 0, 0, 0, 0, 2, 40, 0x2FFFF0, 0)]), pe.OK,
     "CodeView record at RVA 0x2ffff0 is not mapped in the image"),
    (_image(codeview=b"NB10" + bytes(40)), pe.OK, "CodeView record is b'NB10', not RSDS (an old NB10 record?)"),
    (_image(entries=[struct.pack("<IIHHIIII", 0, 0, 0, 0, 13, 40, 0x2100, 0)]), pe.OK, pe.NO_CODEVIEW),
    (_image(size_of_image=0x2050), pe.OK, "CodeView record at RVA 0x2100 is not mapped in the image"),
])
def test_hostile_headers_are_statuses_not_exceptions(image, headers, codeview):
    info = pe.read_image(Bytes(image), BASE)
    assert (info.headers, info.codeview_status) == (headers, codeview)


def test_control_characters_in_the_pdb_path_are_shown_not_obeyed():
    image = _image(codeview=b"RSDS" + bytes(16) + struct.pack("<I", 1) + b"a\x1b[2Jb.pdb\0")
    info = pe.read_image(Bytes(image), BASE)
    assert info.codeview.path == "a?[2Jb.pdb" and info.codeview.raw_path == b"a\x1b[2Jb.pdb"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0x2FFF), st.integers(0, 255)), min_size=1, max_size=12))
def test_mutated_images_never_raise(changes):
    data = bytearray(_image())
    for offset, value in changes:
        data[offset] = value
    info = pe.read_image(Bytes(bytes(data)), BASE)
    assert isinstance(info, pe.ImageInfo)
