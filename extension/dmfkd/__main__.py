"""`python -m dmfkd ...` and, inside WinDbg, `!py -g -m dmfkd ...` (pykd runs modules with runpy)."""
import sys

from dmfkd.cli import main

if __name__ == "__main__":
    sys.exit(main())
