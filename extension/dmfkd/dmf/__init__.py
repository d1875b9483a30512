"""Pure DMF readers: bytes + layouts -> records. No I/O of their own, no pykd, no printing."""
