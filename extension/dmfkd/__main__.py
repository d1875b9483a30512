"""`python -m dmfkd ...` and, inside WinDbg, `!py -g -m dmfkd ...` (pykd runs modules with runpy)."""
from dmfkd.cli import console_main

if __name__ == "__main__":
    console_main()
