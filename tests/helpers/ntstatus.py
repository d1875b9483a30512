"""NTSTATUS values as ntstatus.h defines them - written out here, independently of the layouts the
code under test uses, so a test that expects one of them checks the code's value too."""
SUCCESS = 0x00000000
BUFFER_OVERFLOW = 0x80000005
NO_MORE_FILES = 0x80000006
UNSUCCESSFUL = 0xC0000001
NOT_IMPLEMENTED = 0xC0000002
INVALID_HANDLE = 0xC0000008
INVALID_PARAMETER = 0xC000000D
ACCESS_DENIED = 0xC0000022
BUFFER_TOO_SMALL = 0xC0000023
NOT_SUPPORTED = 0xC00000BB
INVALID_ADDRESS = 0xC0000141
