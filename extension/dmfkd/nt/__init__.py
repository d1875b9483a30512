"""Pure readers of Windows kernel state over the Target protocol (like dmf/): PE images loaded in
memory (pe.py) and the kernel's loaded-module list (loaded_modules.py). They read through
``target.read`` only, never print, and report memory the dump does not hold as a value."""
