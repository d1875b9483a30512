"""PdbSymbols: the Symbols protocol (targets/symbols.py) over a driver's own PDB, as targets/isf.py
gives it over an ISF file - the rest of dmfkd cannot tell which one it holds.

    symbols = PdbSymbols.open("dmfdemo.pdb", image_base=0xfffff80012340000)
    symbols.address_of("dmfdemo!g_DmfModuleCrashDump")    # image base + RVA
    symbols.type_layout("DMF_OBJECT")                     # TypeLayout(name, size, {field: Field})

Names: "module!name" or "name" (module names compare case-insensitively, as in WinDbg). A type name
resolves to the struct/class/union of that name, else through a typedef (S_UDT), else to "_" + name
(`X` <-> `_X`, as the ISF reader does). A symbol name resolves to global data, then module-scope
data (file statics, which lld-link keeps in the module streams only), then functions, then publics
(undecorated on x86). An address is image base + RVA, RVA = the section's VirtualAddress + offset.

Lazy: opening reads the MSF directory, the info, DBI and TPI streams and indexes the type records;
the symbol record stream is read on the first symbol lookup, the module streams only when that
lookup misses (or a search needs every symbol). Nothing is written anywhere.
"""
import fnmatch
import os
import re
import uuid
from typing import Dict, List, Optional, Tuple

from dmfkd.errors import FormatError, SymbolError
from dmfkd.targets.pdb import symbol_streams
from dmfkd.targets.pdb.dbi import (DEBUG_STREAM_SECTION_HEADERS, DbiStream, SectionHeader,
                                   parse_section_headers)
from dmfkd.targets.pdb.msf import STREAM_DBI, STREAM_TPI, MsfFile
from dmfkd.targets.pdb.symbol_streams import SymbolRecord
from dmfkd.targets.pdb.tpi import TypeTable
from dmfkd.targets.symbols import EnumType, Field, Symbols, TypeLayout

_UNNAMED = re.compile(r"^__unnamed_([0-9a-fA-F]{1,8})$")
# which symbol wins when several records carry one name
_PRIORITY = {"data": 0, "function": 1, "public": 2}


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
        self._symbols = None  # type: Optional[Dict[str, SymbolRecord]]
        self._typedefs = {}  # type: Dict[str, int]
        self._procrefs = {}  # type: Dict[str, SymbolRecord]
        self._modules_read = False
        self._module_streams = {}  # type: Dict[int, bytes]

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
        self._module_streams = {}

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

    def _add(self, record: SymbolRecord) -> None:
        table = self._symbols
        if record.kind == "typedef":
            self._typedefs.setdefault(record.name, record.type_index)
            return
        if record.kind == "procref":
            self._procrefs.setdefault(record.name, record)
            return
        if record.kind not in _PRIORITY or self._rva(record) is None:
            return
        held = table.get(record.name)
        if held is None or _PRIORITY[record.kind] < _PRIORITY[held.kind]:
            table[record.name] = record

    def _global_index(self) -> Dict[str, SymbolRecord]:
        if self._symbols is None:
            self._symbols = {}
            stream = self._dbi.symbol_record_stream
            if stream is not None and self._msf.has_stream(stream):
                data = self._msf.stream(stream, "symbol record")
                publics = []
                for record in symbol_streams.global_symbols(data, self._stream_error(stream)):
                    if record.kind == "public":
                        publics.append(record)      # after everything else: the names below win
                    else:
                        self._add(record)
                for record in publics:
                    self._add(record)
                    if self.arch == "x86":
                        plain = symbol_streams.undecorate_x86(record.name)
                        if plain and plain not in self._symbols:
                            self._add(record._replace(name=plain))
        return self._symbols

    def _module_stream(self, index: int) -> Optional[Tuple[bytes, int, int]]:
        """(data, symbol bytes, stream number) of module `index` (0-based), or None."""
        if not 0 <= index < len(self._dbi.modules):
            return None
        module = self._dbi.modules[index]
        if module.symbol_stream is None or not self._msf.has_stream(module.symbol_stream):
            return None
        data = self._msf.stream(module.symbol_stream, "module symbol")
        return data, module.symbol_bytes, module.symbol_stream

    def _read_modules(self) -> None:
        """Add the module-scope data and functions of every module stream (once)."""
        if self._modules_read:
            return
        table = self._global_index()
        found = []
        for module in self._dbi.modules:
            stream = self._module_stream(module.index)
            if stream is None:
                continue
            data, symbol_bytes, number = stream
            found.extend(symbol_streams.module_symbols(data, symbol_bytes, module.index + 1,
                                                       self._stream_error(number)))
        # module-scope data outranks functions and publics, but not the globals' own data
        for record in found:
            held = table.get(record.name)
            if held is None or _PRIORITY[record.kind] < _PRIORITY[held.kind]:
                if self._rva(record) is not None:
                    table[record.name] = record
        self._modules_read = True

    def _follow_procref(self, name: str) -> Optional[SymbolRecord]:
        reference = self._procrefs.get(name)
        if reference is None:
            return None
        stream = self._module_stream(reference.module - 1)
        if stream is None:
            return None
        data, _, number = stream
        record = symbol_streams.record_at(data, reference.offset, reference.module, self._stream_error(number))
        if record is None or record.kind != "function" or self._rva(record) is None:
            return None
        return record

    def _lookup(self, bare: str) -> Optional[SymbolRecord]:
        table = self._global_index()
        record = table.get(bare)
        if record is not None and record.kind == "data":
            return record
        if bare in self._procrefs:
            followed = self._follow_procref(bare)
            if followed is not None:
                return followed
        if record is None or record.kind == "public":
            self._read_modules()
            record = table.get(bare)
        return record

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
        bare = self._split(name, "symbol")
        record = self._lookup(bare)
        if record is None:
            raise SymbolError("%s: no symbol %r" % (self.source, name))
        rva = self._rva(record)
        if rva is None:
            raise SymbolError("%s: symbol %r lies in section %d, which the PDB's section headers do not "
                              "have" % (self.source, name, record.section))
        return rva

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
        pattern_lower = pattern.lower()
        module_part, bang, name_part = pattern_lower.rpartition("!")
        if bang and not fnmatch.fnmatchcase(module.lower(), module_part):
            return []
        if not any(c in name_part for c in "*?["):
            # one name: no need to read every module stream
            matches = [(name, record) for name, record in self._exact(name_part)]
        else:
            self._read_modules()
            matches = [(name, record) for name, record in self._global_index().items()
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

    def _exact(self, lowered: str) -> List[Tuple[str, SymbolRecord]]:
        table = self._global_index()
        hits = [(name, record) for name, record in table.items() if name.lower() == lowered]
        if not hits or all(record.kind == "public" for _, record in hits):
            for name in [name for name in self._procrefs if name.lower() == lowered]:
                followed = self._follow_procref(name)
                if followed is not None:
                    hits = [(name, followed)]
            if not hits or all(record.kind == "public" for _, record in hits):
                self._read_modules()
                hits = [(name, record) for name, record in table.items() if name.lower() == lowered]
        return hits

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
        self._global_index()
        typedef = self._typedefs.get(name)
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
        return EnumType(types.udt_name(index), size, dict(types.enumerators(index)))

    def __repr__(self) -> str:
        return "PdbSymbols(%r, module=%r, image_base=%s, guid=%s, age=%d)" % (
            os.path.basename(self.source), self.module,
            "None" if self.image_base is None else hex(self.image_base), self.pdb_guid, self.pdb_age)
