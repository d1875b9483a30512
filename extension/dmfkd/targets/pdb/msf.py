"""The Multi-Stream File (MSF 7.0) container a PDB is, and the PDB info stream (GUID, age).

An MSF file is an array of fixed-size blocks. Block 0 is the superblock; it names the block that
holds the *block map*: the list of blocks the stream directory occupies. The directory gives every
stream's size and the blocks holding it, in order. Free-block maps are not needed to read.

    superblock: magic[32] u32 BlockSize, FreePageMap, NumBlocks, NumDirectoryBytes, Unknown, BlockMapAddr
    directory:  u32 NumStreams; u32 StreamSizes[NumStreams]; u32 Blocks[...] per stream, in stream order

Every number taken from the file is checked against the file before it drives a read, a loop or an
allocation (block size one of 512..4096, block indexes below the block count and inside the file,
stream sizes within the file); a violation is one FormatError naming the file, what is wrong and
the file offset. Streams are read on demand and kept (a PDB reader asks for a handful of them).
"""
import os
import stat
import struct
import uuid
from array import array
from typing import List, NamedTuple, Optional

from dmfkd.errors import FormatError

MSF7_MAGIC = b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\0\0\0"
#: the pre-2000 "small MSF" PDB (VC 2.0 .. 6.0): different superblock, 16-bit block numbers
MSF2_MAGIC = b"Microsoft C/C++ program database 2.00\r\n\x1aJG\0\0"
#: a compressed file as symbol servers store it (`.pd_`): a Microsoft cabinet
CAB_MAGIC = b"MSCF"
BLOCK_SIZES = (512, 1024, 2048, 4096)
SUPERBLOCK = struct.Struct("<32s6I")
NIL_STREAM_SIZE = 0xFFFFFFFF          # a stream that does not exist (deleted); read as empty

# fixed stream numbers
STREAM_PDB_INFO = 1
STREAM_TPI = 2
STREAM_DBI = 3
STREAM_IPI = 4

# PDB info stream versions: VC70 and later carry the GUID the CodeView record names
PDB_INFO_VC70 = 20000404
PDB_INFO_HEADER = struct.Struct("<III16s")


class PdbIdentity(NamedTuple):
    """What matches a PDB to an image's CodeView (RSDS) record."""

    guid: uuid.UUID
    age: int
    signature: int          # the old 32-bit time stamp signature (NB10 era); informative only
    version: int


def _u32_array(data: bytes) -> array:
    values = array("I")
    values.frombytes(data[:len(data) - len(data) % 4])
    if values.itemsize != 4:  # pragma: no cover - every platform CPython runs on has a 4-byte "I"
        raise RuntimeError("array('I') is not 32-bit here")
    if struct.pack("=I", 1) != struct.pack("<I", 1):  # pragma: no cover - big-endian hosts
        values.byteswap()
    return values


class MsfFile:
    """One MSF 7.0 file opened for reading: ``stream(index) -> bytes``, ``stream_size(index)``."""

    def __init__(self, path: str):
        self.path = os.fspath(path)
        try:
            # non-blocking: opening a FIFO must not wait for a writer (the fstat below refuses it)
            descriptor = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0))
        except IsADirectoryError:
            raise FormatError(self.path, "is a directory, not a PDB file")
        except OSError as exc:
            raise FormatError(self.path, "cannot open (%s)" % (exc.strerror or exc))
        except ValueError:  # a NUL byte in the path (an in-process caller's argv can hold one)
            raise FormatError(self.path, "cannot open (a NUL byte in the path)")
        try:
            handle = os.fdopen(descriptor, "rb")
        except OSError as exc:  # pragma: no cover - fdopen of a fresh descriptor
            os.close(descriptor)
            raise FormatError(self.path, "cannot open (%s)" % (exc.strerror or exc))
        self._file = handle
        try:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise FormatError(self.path, "not a regular file (a PDB must be a plain file)")
            self.file_size = info.st_size
            self._parse_superblock()
            self._parse_directory()
        except BaseException:
            handle.close()
            raise
        self._streams = {}  # type: Dict[int, bytes]

    # -- plumbing -----------------------------------------------------------------------------
    def error(self, what: str, offset: Optional[int] = None) -> FormatError:
        return FormatError(self.path, what, offset)

    def _read_at(self, offset: int, size: int) -> bytes:
        try:
            self._file.seek(offset)
            data = self._file.read(size)
        except (OSError, ValueError) as exc:
            raise self.error("read failed (%s)" % (getattr(exc, "strerror", None) or exc), offset)
        if len(data) != size:
            raise self.error("file cut short: %d of %d bytes" % (len(data), size), offset + len(data))
        return data

    def close(self) -> None:
        self._file.close()
        self._streams = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- superblock and directory ---------------------------------------------------------------
    def _parse_superblock(self) -> None:
        head = b""
        if self.file_size:
            head = self._read_at(0, min(self.file_size, SUPERBLOCK.size + 32))
        if head.startswith(MSF2_MAGIC):
            raise self.error("an old 'Microsoft C/C++ program database 2.00' PDB (Visual C++ 6 or older): "
                             "not supported, only MSF 7.0 PDBs (Visual Studio 2002 and later, clang-cl/lld-link)")
        if head.startswith(CAB_MAGIC):
            raise self.error("a compressed symbol file (.pd_, a cabinet): not supported - expand it first "
                             "(expand FILE.pd_ FILE.pdb, or cabextract)")
        if len(head) < SUPERBLOCK.size or not head.startswith(MSF7_MAGIC):
            raise self.error("not a PDB file (no 'Microsoft C/C++ MSF 7.00' signature)", 0)
        (_, block_size, _free_map, num_blocks, directory_bytes, _unknown,
         block_map_block) = SUPERBLOCK.unpack_from(head)
        if block_size not in BLOCK_SIZES:
            raise self.error("MSF block size %d is not one of %s" % (block_size, ", ".join(map(str, BLOCK_SIZES))),
                             0x20)
        self.block_size = block_size
        if num_blocks == 0 or num_blocks > self.file_size // block_size:
            raise self.error("MSF block count %d needs 0x%x bytes; the file has 0x%x (cut short?)"
                             % (num_blocks, num_blocks * block_size, self.file_size), 0x28)
        self.num_blocks = num_blocks
        # the block map (the list of directory blocks) must fit in the one block it lives in
        directory_blocks = -(-directory_bytes // block_size)
        if directory_bytes < 4 or directory_blocks * 4 > block_size:
            raise self.error("MSF stream directory size %d is impossible for %d-byte blocks"
                             % (directory_bytes, block_size), 0x2C)
        self._check_block(block_map_block, 0x34)
        raw_map = self._read_at(block_map_block * block_size, directory_blocks * 4)
        blocks = _u32_array(raw_map)
        for position, block in enumerate(blocks):
            self._check_block(block, block_map_block * block_size + 4 * position)
        self._directory_bytes = directory_bytes
        self._directory_blocks = list(blocks)

    def _check_block(self, block: int, where: int) -> None:
        if block == 0 or block >= self.num_blocks:
            raise self.error("MSF block index %d outside blocks 1..%d" % (block, self.num_blocks - 1), where)

    def _parse_directory(self) -> None:
        data = self._gather(self._directory_blocks, self._directory_bytes)
        count = struct.unpack_from("<I", data, 0)[0]
        if count > (len(data) - 4) // 4:
            raise self.error("MSF directory claims %d streams; it has room for %d" % (count, (len(data) - 4) // 4),
                             self._block_offset(self._directory_blocks, 0))
        sizes = _u32_array(data[4:4 + 4 * count])
        cursor = 4 + 4 * count
        total_blocks = 0
        streams = []  # type: List[List[int]]
        capacity = self.num_blocks * self.block_size
        for index, size in enumerate(sizes):
            if size == NIL_STREAM_SIZE:
                size = sizes[index] = 0
            if size > capacity:
                raise self.error("stream %d is %d bytes; the file holds %d" % (index, size, capacity),
                                 self._block_offset(self._directory_blocks, 4 + 4 * index))
            needed = -(-size // self.block_size)
            total_blocks += needed
            if cursor + 4 * needed > len(data):
                raise self.error("MSF directory too short for the blocks of stream %d" % index,
                                 self._block_offset(self._directory_blocks, min(cursor, len(data) - 1)))
            blocks = _u32_array(data[cursor:cursor + 4 * needed])
            for position, block in enumerate(blocks):
                if block == 0 or block >= self.num_blocks:
                    raise self.error("stream %d names block %d outside blocks 1..%d"
                                     % (index, block, self.num_blocks - 1),
                                     self._block_offset(self._directory_blocks, cursor + 4 * position))
            streams.append(list(blocks))
            cursor += 4 * needed
        if total_blocks > self.num_blocks:
            raise self.error("MSF streams use %d blocks; the file has %d" % (total_blocks, self.num_blocks))
        self._stream_sizes = list(sizes)
        self._stream_blocks = streams

    def _block_offset(self, blocks: List[int], position: int) -> Optional[int]:
        """File offset of byte `position` of the stream made of `blocks` (for error messages)."""
        index = position // self.block_size
        if 0 <= index < len(blocks):
            return blocks[index] * self.block_size + position % self.block_size
        return None

    def _gather(self, blocks: List[int], size: int) -> bytes:
        """The first `size` bytes of the blocks, reading runs of consecutive blocks at once."""
        parts = []
        block_size = self.block_size
        position = 0
        remaining = size
        while remaining > 0:
            first = blocks[position]
            run = 1
            while (run * block_size < remaining and position + run < len(blocks)
                   and blocks[position + run] == first + run):
                run += 1
            take = min(remaining, run * block_size)
            parts.append(self._read_at(first * block_size, take))
            remaining -= take
            position += run
        return b"".join(parts)

    # -- streams --------------------------------------------------------------------------------
    @property
    def stream_count(self) -> int:
        return len(self._stream_sizes)

    def stream_size(self, index: int) -> int:
        if not 0 <= index < len(self._stream_sizes):
            return 0
        return self._stream_sizes[index]

    def has_stream(self, index: int) -> bool:
        return 0 <= index < len(self._stream_sizes)

    def stream(self, index: int, what: str = "") -> bytes:
        """The bytes of stream `index` (read once, then kept); a missing stream is a FormatError."""
        found = self._streams.get(index)
        if found is not None:
            return found
        if not 0 <= index < len(self._stream_sizes):
            raise self.error("%s stream %d does not exist (the PDB has %d streams)"
                             % (what or "the", index, len(self._stream_sizes)))
        data = self._gather(self._stream_blocks[index], self._stream_sizes[index])
        self._streams[index] = data
        return data

    def stream_file_offset(self, index: int, position: int) -> Optional[int]:
        """File offset of byte `position` of stream `index`, for error messages."""
        if not 0 <= index < len(self._stream_blocks):
            return None
        return self._block_offset(self._stream_blocks[index], position)

    def identity(self) -> PdbIdentity:
        """GUID, age and signature from the PDB info stream (stream 1)."""
        data = self.stream(STREAM_PDB_INFO, "PDB info")
        if len(data) < 12:
            raise self.error("PDB info stream cut short (%d bytes)" % len(data), self.stream_file_offset(1, 0))
        version, signature, age = struct.unpack_from("<III", data, 0)
        if version < PDB_INFO_VC70 or len(data) < PDB_INFO_HEADER.size:
            raise self.error("PDB info stream version %d carries no GUID (a pre-2002 PDB): not supported" % version,
                             self.stream_file_offset(1, 0))
        guid = uuid.UUID(bytes_le=data[12:28])
        return PdbIdentity(guid, age, signature, version)

    def __repr__(self) -> str:
        return "MsfFile(%r, %d streams)" % (self.path, len(self._stream_sizes))


def read_identity(path: str) -> PdbIdentity:
    """A PDB's GUID and age, reading only the superblock, the directory and the info stream."""
    with MsfFile(path) as msf:
        return msf.identity()
