"""dmfkd's own PDB reader (MSF 7.0 PDBs from MSVC and clang-cl/lld-link), pure Python on struct.

- ``PdbSymbols.open(path, image_base=..., module=...)``: the Symbols protocol over a PDB, as
  targets/isf.py gives it over an ISF file (reader.py);
- ``read_identity(path)``: the PDB's GUID and age only - what a symbol path lookup checks against
  an image's CodeView record before it opens the PDB for real (msf.py).

Layers: msf.py (the container, the info stream), tpi.py (type records), dbi.py (modules, section
headers), symbol_streams.py (global, public and module symbol records), codeview.py (leaf kinds,
numeric leaves, built-in types). A hostile PDB is one FormatError naming the file, what is wrong
and the file offset - never a traceback, an unbounded allocation or a hang.
"""
from dmfkd.targets.pdb.msf import PdbIdentity, read_identity
from dmfkd.targets.pdb.reader import PdbSymbols

__all__ = ["PdbIdentity", "PdbSymbols", "read_identity"]
