"""PdbSymbols: the Symbols protocol (targets/symbols.py) over a driver's own PDB, as targets/isf.py
gives it over an ISF file - the rest of dmfkd cannot tell which one it holds.

    symbols = PdbSymbols.open("dmfdemo.pdb", image_base=0xfffff80012340000)
    symbols.address_of("dmfdemo!g_DmfModuleCrashDump")    # image base + RVA
    symbols.type_layout("DMF_OBJECT")                     # TypeLayout(name, size, {field: Field})

Names: "module!name" or "name" (module names compare case-insensitively, as in WinDbg). A type name
resolves to the struct/class/union of that name, else through a typedef (S_UDT), else to "_" + name
(`X` <-> `_X`, as the ISF reader does). A symbol name resolves to global data, then module-scope
data (file statics: their S_LDATA32 is in the module stream; linkers usually copy it into the
globals too, but a PDB need not), then functions, then publics
(undecorated on x86). An address is image base + RVA, RVA = the section's VirtualAddress + offset.

Lazy: opening reads the MSF directory, the info, DBI and TPI streams and indexes the type records;
the symbol record stream is read on the first symbol lookup, the module streams only when that
lookup misses (or a search needs every symbol). Nothing is written anywhere, and there is no cache on
disk: a second open costs what the first did (tens of milliseconds for a 27,000-type PDB,
scripts/bench_pdb.py), less than a cache's own bookkeeping would be worth.
"""
import fnmatch
import os
import re
from typing import Dict, List, Optional, Tuple

from dmfkd.errors import FormatError, SymbolError
from dmfkd.targets.pdb import symbol_streams
from dmfkd.targets.pdb.dbi import (DEBUG_STREAM_SECTION_HEADERS, DbiStream, SectionHeader,
                                   parse_section_headers)
from dmfkd.targets.pdb.msf import STREAM_DBI, STREAM_TPI, MsfFile
from dmfkd.targets.pdb.symbol_streams import SymbolRecord
from dmfkd.targets.pdb.tpi import TypeTable
from dmfkd.targets.symbols import EnumType, Field, Symbols, TypeLayout

# signed built-in integer kinds (codeview.SIMPLE_TYPES): char, short, long, long long, int8, int
_SIGNED_SIMPLE = frozenset([0x10, 0x11, 0x12, 0x13, 0x14, 0x68, 0x70, 0x72, 0x74, 0x76, 0x78])
_UNNAMED = re.compile(r"^__unnamed_([0-9a-fA-F]{1,8})$")


class PdbSymbols(Symbols):
    """Symbols and types of one module, read from its PDB (MSF 7.0)."""

    def __init__(self, msf: MsfFile, image_base: Optional[int] = None, module: Optional[str] = None):
        self._msf = msf
        self.source = msf.path
        identity = msf.identity()
        #: the PDB's GUID and age (info stream), what an image's CodeView record must name
        self.pdb_guid = identity.guid          # type: uuid.UUID
        self.pdb_age = identity.age
        self.signature = identity.signature
        self._dbi = DbiStream(msf.stream(STREAM_DBI, "DBI"), self.source,
                              lambda position: msf.stream_file_offset(STREAM_DBI, position))
        #: the DBI stream's own age (the linker's; usually equal to pdb_age)
        self.dbi_age = self._dbi.age
        #: "x64", "x86", "arm64" from the DBI machine type; None for another machine
        self.arch = self._dbi.arch
        self.machine = self._dbi.machine
        self.types = TypeTable(msf.stream(STREAM_TPI, "TPI"), self.source,
                               lambda position: msf.stream_file_offset(STREAM_TPI, position))
        #: module name ("dmfdemo"): given, else the PDB file's name without .pdb
        self.module = module or os.path.splitext(os.path.basename(self.source))[0]
        #: load address RVAs are added to; None when unknown (address_of then refuses)
        self.image_base = image_base
        self.dmf_version = None
        self._sections = None  # type: Optional[List[SectionHeader]]
        self._global = None  # type: Optional[object]       # GlobalIndex, False when the PDB has none
        self._modules = None  # type: Optional[Dict[str, SymbolRecord]]
        self._undecorated = None  # type: Optional[Dict[str, SymbolRecord]]
        self._every = None  # type: Optional[Dict[str, SymbolRecord]]

    @classmethod
    def open(cls, path: str, image_base: Optional[int] = None, module: Optional[str] = None) -> "PdbSymbols":
        if image_base is not None and (not isinstance(image_base, int) or isinstance(image_base, bool)
                                       or image_base < 0):
            raise FormatError(os.fspath(path), "image base must be a non-negative integer, got %r" % (image_base,))
        msf = MsfFile(path)
        try:
            return cls(msf, image_base, module)
        except BaseException:
            msf.close()
            raise

    def close(self) -> None:
        self._msf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def pointer_size(self) -> int:
        return 4 if self.arch == "x86" else 8

    # -- streams --------------------------------------------------------------------------------
    def _stream_error(self, stream: int):
        def error(what: str, position: Optional[int]) -> FormatError:
            return FormatError(self.source, what, None if position is None
                               else self._msf.stream_file_offset(stream, position))
        return error

    def sections(self) -> List[SectionHeader]:
        if self._sections is None:
            stream = self._dbi.debug_stream(DEBUG_STREAM_SECTION_HEADERS)
            if stream is None or not self._msf.has_stream(stream):
                self._sections = []
            else:
                self._sections = parse_section_headers(self._msf.stream(stream, "section header"))
        return self._sections

    def _rva(self, record: SymbolRecord) -> Optional[int]:
        sections = self.sections()
        if not 1 <= record.section <= len(sections):
            return None
        return sections[record.section - 1].virtual_address + record.offset

    def _globals(self) -> Optional[symbol_streams.GlobalIndex]:
        """The symbol record stream indexed by name (built on first use); None when the PDB has none."""
        if self._global is None:
            stream = self._dbi.symbol_record_stream
            if stream is None or not self._msf.has_stream(stream):
                self._global = False
            else:
                self._global = symbol_streams.GlobalIndex(self._msf.stream(stream, "symbol record"),
                                                          self._stream_error(stream))
        return self._global or None

    def _module_stream(self, index: int) -> Optional[Tuple[bytes, int, int]]:
        """(data, symbol bytes, stream number) of module `index` (0-based), or None."""
        if not 0 <= index < len(self._dbi.modules):
            return None
        module = self._dbi.modules[index]
        if module.symbol_stream is None or not self._msf.has_stream(module.symbol_stream):
            return None
        data = self._msf.stream(module.symbol_stream, "module symbol")
        return data, module.symbol_bytes, module.symbol_stream

    def _module_symbols(self) -> Dict[str, SymbolRecord]:
        """Module-scope data and functions of every module stream by name (read once); data wins
        over a function of the same name, the first module over later ones."""
        if self._modules is None:
            table = {}  # type: Dict[str, SymbolRecord]
            for module in self._dbi.modules:
                stream = self._module_stream(module.index)
                if stream is None:
                    continue
                data, symbol_bytes, number = stream
                for record in symbol_streams.module_symbols(data, symbol_bytes, module.index + 1,
                                                            self._stream_error(number)):
                    held = table.get(record.name)
                    if self._rva(record) is not None and (held is None or (held.kind, record.kind) == ("function",
                                                                                                      "data")):
                        table[record.name] = record
            self._modules = table
        return self._modules

    def _follow_procref(self, reference: Optional[SymbolRecord]) -> Optional[SymbolRecord]:
        if reference is None:
            return None
        stream = self._module_stream(reference.module - 1)
        if stream is None:
            return None
        data, _, number = stream
        record = symbol_streams.record_at(data, reference.offset, reference.module, self._stream_error(number))
        if record is None or record.kind != "function" or self._rva(record) is None:
            return None
        return record._replace(name=reference.name)

    def _publics_undecorated(self) -> Dict[str, SymbolRecord]:
        """x86 publics by their C name ("_g_X" -> "g_X", "_F@8" -> "F"); built on first use."""
        if self._undecorated is None:
            self._undecorated = {}
            index = self._globals()
            if index is not None and self.arch == "x86":
                for record in index.records("public"):
                    plain = symbol_streams.undecorate_x86(record.name)
                    if plain:
                        self._undecorated.setdefault(plain, record._replace(name=plain))
        return self._undecorated

    def _lookup(self, bare: str) -> Optional[SymbolRecord]:
        """Global data, then a function the globals refer to, then module-scope data and functions
        (file statics), then publics."""
        index = self._globals()
        candidates = []
        if index is not None:
            candidates.append(index.get("data", bare))
            candidates.append(self._follow_procref(index.get("procref", bare)))
        for record in candidates:
            if record is not None and self._rva(record) is not None:
                return record
        record = self._module_symbols().get(bare)
        if record is not None:
            return record
        if index is not None:
            record = index.get("public", bare) or self._publics_undecorated().get(bare)
            if record is not None and self._rva(record) is not None:
                return record
        return None

    def _all_symbols(self) -> Dict[str, SymbolRecord]:
        """Every named address, with _lookup's precedence (for wildcard searches)."""
        if self._every is None:
            table = {}  # type: Dict[str, SymbolRecord]
            index = self._globals()
            publics = []
            if index is not None:
                for record in index.records("data"):
                    table.setdefault(record.name, record)
                for record in index.records("procref"):
                    if record.name not in table:
                        followed = self._follow_procref(record)
                        if followed is not None:
                            table[record.name] = followed
                publics = list(index.records("public")) + list(self._publics_undecorated().values())
            for name, record in self._module_symbols().items():
                table.setdefault(name, record)
            for record in publics:
                table.setdefault(record.name, record)
            self._every = {name: record for name, record in table.items() if self._rva(record) is not None}
        return self._every

    # -- names ----------------------------------------------------------------------------------
    def _split(self, name: str, what: str) -> str:
        if "!" not in name:
            return name
        module, _, bare = name.partition("!")
        if self.module is not None and module.lower() != self.module.lower():
            raise SymbolError("%s: %s %r: this PDB describes module %r, not %r" % (self.source, what, name,
                                                                                 self.module, module))
        return bare

    # -- Symbols protocol -----------------------------------------------------------------------
    def rva_of(self, name: str) -> int:
        record = self._lookup(self._split(name, "symbol"))
        if record is None:
            raise SymbolError("%s: no symbol %r" % (self.source, name))
        return self._rva(record)

    def address_of(self, name: str) -> int:
        rva = self.rva_of(name)
        if self.image_base is None:
            raise SymbolError("%s: symbol %r is an RVA and the image base is unknown (pass the module's "
                              "base address)" % (self.source, name))
        return self.image_base + rva

    def symbol_type_name(self, name: str) -> Optional[str]:
        """The C spelling of a data symbol's type ("void *"), or None for functions/publics."""
        record = self._lookup(self._split(name, "symbol"))
        if record is None:
            raise SymbolError("%s: no symbol %r" % (self.source, name))
        if record.kind != "data" or not record.type_index:
            return None
        return self.types.type_name(record.type_index)

    def search(self, pattern: str) -> List[Tuple[str, int]]:
        """Symbols matching a WinDbg-style glob ("dmfdemo!g_*", "*!g_DmfModuleCrashDump"),
        case-insensitive like `x`, as ("module!name", address), sorted by address."""
        if self.image_base is None:
            raise SymbolError("%s: symbol addresses are RVAs and the image base is unknown" % self.source)
        module = self.module or "module"
        module_part, bang, name_part = pattern.lower().rpartition("!")
        if bang and not fnmatch.fnmatchcase(module.lower(), module_part):
            return []
        if not any(c in name_part for c in "*?["):
            # one name: look it up (as typed, then any spelling of it) instead of reading everything
            record = self._lookup(pattern.rpartition("!")[2])
            matches = [(record.name, record)] if record is not None else \
                [(name, found) for name, found in self._all_symbols().items() if name.lower() == name_part]
        else:
            matches = [(name, record) for name, record in self._all_symbols().items()
                       if fnmatch.fnmatchcase(name.lower(), name_part)]
        out = [("%s!%s" % (module, name), self.image_base + self._rva(record)) for name, record in matches]
        return sorted(out, key=lambda item: (item[1], item[0]))

    def data_symbols(self) -> List[Tuple[int, str, int]]:
        """(module number, name, RVA) of every data symbol with an address: the symbol record
        stream's S_GDATA32/S_LDATA32 (module number 0) and each module's module-scope data
        (1-based module number), duplicates included, in stream order."""
        out = []
        stream = self._dbi.symbol_record_stream
        if stream is not None and self._msf.has_stream(stream):
            data = self._msf.stream(stream, "symbol record")
            out += [(0, record.name, self._rva(record))
                    for record in symbol_streams.global_symbols(data, self._stream_error(stream))
                    if record.kind == "data" and self._rva(record) is not None]
        for module in self._dbi.modules:
            found = self._module_stream(module.index)
            if found is None:
                continue
            data, symbol_bytes, number = found
            out += [(module.index + 1, record.name, self._rva(record))
                    for record in symbol_streams.module_symbols(data, symbol_bytes, module.index + 1,
                                                                self._stream_error(number))
                    if record.kind == "data" and self._rva(record) is not None]
        return out

    # -- types ------------------------------------------------------------------------------------
    def _type_index(self, name: str, enum: bool) -> Optional[int]:
        types = self.types
        find = types.find_enum if enum else types.find_record
        unnamed = _UNNAMED.match(name)
        if unnamed:
            index = int(unnamed.group(1), 16)
            if index >= types.begin and index < types.end:
                head = types.udt(types.definition(index))
                if head is not None and (head.kind == "enum") == enum:
                    return types.definition(index)
            return None
        found = find(name)
        if found is not None:
            return found
        index = self._globals()
        record = index.get("typedef", name) if index is not None else None
        typedef = record.type_index if record is not None else None
        if typedef is not None:
            types.check_index(typedef, "of typedef %s" % name)
            target = types.definition(types.strip_modifiers(typedef))
            head = types.udt(target)
            if head is not None and (head.kind == "enum") == enum and not head.forward:
                return target
        if not name.startswith("_"):
            return find("_" + name)
        return None

    def type_layout(self, name: str) -> TypeLayout:
        bare = self._split(name, "type")
        index = self._type_index(bare, enum=False)
        if index is None:
            raise SymbolError("%s: no type %r" % (self.source, name))
        return self.type_layout_at(index)

    def type_layout_at(self, index: int) -> TypeLayout:
        """The layout of the struct/class/union record at a type index (its definition when it is
        a forward reference)."""
        types = self.types
        types.check_index(index)
        index = types.definition(index)
        head = types.udt(index)
        if head is None or head.kind == "enum":
            raise SymbolError("%s: type 0x%x is not a structure, class or union" % (self.source, index))
        fields = {}  # type: Dict[str, Field]
        for member in types.members(index):
            if member.name in fields:
                continue
            bits = types.bitfield(member.type_index)
            if bits is not None:
                storage, position, length = bits
                fields[member.name] = Field(member.name, member.offset, types.type_name(member.type_index),
                                            types.type_size(storage), position, length, types.enum_of(storage))
                continue
            fields[member.name] = Field(member.name, member.offset, types.type_name(member.type_index),
                                        types.type_size(member.type_index), None, None,
                                        types.enum_of(member.type_index))
        return TypeLayout(types.udt_name(index), head.size or 0, fields)

    def enum_type(self, name: str) -> EnumType:
        bare = self._split(name, "enum")
        index = self._type_index(bare, enum=True)
        if index is None:
            raise SymbolError("%s: no enum %r" % (self.source, name))
        types = self.types
        size = types.type_size(index) or 4
        constants = dict(types.enumerators(index))
        underlying = types.strip_modifiers(types.udt(index).underlying)
        if underlying < 0x1000 and (underlying & 0xFF) in _SIGNED_SIMPLE and size in (1, 2, 4, 8):
            # clang-cl writes -2 of an int enum as the unsigned 0xFFFFFFFE; MSVC as a signed leaf
            # (what WinDbg shows either way): read every constant as the underlying type reads it
            top = 1 << (8 * size)
            constants = {key: value - top if top // 2 <= value < top else value for key, value in constants.items()}
        return EnumType(types.udt_name(index), size, constants)

    def __repr__(self) -> str:
        return "PdbSymbols(%r, module=%r, image_base=%s, guid=%s, age=%d)" % (
            os.path.basename(self.source), self.module,
            "None" if self.image_base is None else hex(self.image_base), self.pdb_guid, self.pdb_age)
