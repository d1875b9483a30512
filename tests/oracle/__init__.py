"""Oracle tests: Microsoft's dbgeng and the real pykd 0.3.4.15 under Wine judge dmfkd and dmfemu
(spec/dbgeng-oracle.md, spec/real-pykd-under-wine.md). Downloads and builds live in a cache folder
outside the repository (``$DMFKD_ORACLE_CACHE``, default ``~/.cache/dmfkd-oracle``)."""
