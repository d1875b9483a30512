"""DMF_CrashDump's user-mode surface (CD.c:2447-3213, spec/dmf.md §2.7-§2.9): CreateFile / CloseHandle
on GUID_DEVINTERFACE_CrashDump and the METHOD_BUFFERED data-source IOCTLs, with the I/O manager's
system-buffer copy around them. IOCTL_CRASH_DRIVER (DEBUG builds) bug-checks the machine.
"""
from typing import Tuple

from dmfkd.errors import DmfkdError
from dmfkd.layouts import dmf_structures
from dmfkd.layouts import windows
from dmfkd.layouts.dmf_structures import (IOCTL_CRASH_DRIVER, IOCTL_DATA_SOURCE_CAPTURE, IOCTL_DATA_SOURCE_CREATE,
                                          IOCTL_DATA_SOURCE_DESTROY, IOCTL_DATA_SOURCE_OPEN, IOCTL_DATA_SOURCE_READ,
                                          IOCTL_DATA_SOURCE_WRITE)
from dmfkd.layouts.windows import nt_success

from dmfemu.modules.crashdump.config import AccessDenied

_DATA_SOURCE_IOCTLS = (IOCTL_DATA_SOURCE_CREATE, IOCTL_DATA_SOURCE_DESTROY, IOCTL_DATA_SOURCE_WRITE,
                       IOCTL_DATA_SOURCE_READ, IOCTL_DATA_SOURCE_OPEN, IOCTL_DATA_SOURCE_CAPTURE)


class IoctlSurface(object):
    """The file and IOCTL handling of one CrashDump module (dmfemu.modules.crashdump.module.CrashDump)."""

    def __init__(self, crashdump):
        self.crashdump = crashdump
        self.space = crashdump.space
        self.state = crashdump.state
        self.data_sources = crashdump.data_sources

    def _require_interface(self) -> None:
        # ChildModulesAdd exposes the interface only with data sources (CD.c:3846-3906)
        if self.state.config_value("DataSourceCount") == 0:
            raise DmfkdError("no GUID_DEVINTERFACE_CrashDump interface: config DataSourceCount is 0")

    # -- files ----------------------------------------------------------------------------------------
    def file_create(self, administrator: bool = True) -> int:
        """A user-mode handle to GUID_DEVINTERFACE_CrashDump: a new WDFFILEOBJECT handle.
        IoctlHandler_AccessModeFilterAdministratorOnly refuses the open itself for non-administrators."""
        self._require_interface()
        if not administrator:
            raise AccessDenied()
        return self.crashdump.driver.file_object()

    def file_close(self, fo: int) -> None:
        """EvtFileClose (CD.c:3187-3213): orphan rules unless surprise-removed."""
        if not self.space.read_u8(self.state.context_field_va("SurpriseRemoved")):
            self.data_sources.orphan_create(fo)

    # -- DeviceIoControl --------------------------------------------------------------------------------
    def ioctl(self, code: int, input_bytes: bytes = b"", output_size: int = 0,
              file_object: int = 0) -> Tuple[int, int, bytes]:
        """One METHOD_BUFFERED DeviceIoControl: (NTSTATUS, Information, bytes copied back to the caller).

        The I/O manager copies min(Information, output_size) bytes of the system buffer back unless
        the status is an error (warnings such as BUFFER_OVERFLOW still copy)."""
        input_bytes = bytes(input_bytes)
        self._require_interface()
        known = _DATA_SOURCE_IOCTLS + ((IOCTL_CRASH_DRIVER,) if self.crashdump.debug_build else ())
        if code not in known:
            return windows.STATUS_NOT_SUPPORTED, 0, b""
        system_buffer = bytearray(max(len(input_bytes), output_size))
        system_buffer[:len(input_bytes)] = input_bytes
        status, information = self._dispatch(code, input_bytes, output_size, file_object, system_buffer)
        if status >= 0xC0000000:
            return status, information, b""
        return status, information, bytes(system_buffer[:min(information, output_size)])

    def _dispatch(self, code: int, input_bytes: bytes, output_size: int, fo: int,
                  system_buffer: bytearray) -> Tuple[int, int]:
        create = dmf_structures.data_source_create()
        sources = self.data_sources
        if code == IOCTL_DATA_SOURCE_CREATE:
            # WdfRequestRetrieveInputMemory fails on a zero-length buffer (BUFFER_TOO_SMALL)
            if len(input_bytes) < create.size:
                return windows.STATUS_BUFFER_TOO_SMALL, 0
            if not fo:
                return windows.STATUS_INVALID_ADDRESS, 0
            request = create.unpack_from(input_bytes)
            status = sources.create_auxiliary(fo, request["EntriesCount"], request["EntrySize"], request["Guid"])
            return status, (len(input_bytes) if nt_success(status) else 0)
        if code == IOCTL_DATA_SOURCE_OPEN:
            if len(input_bytes) < create.size or output_size < create.size:
                return windows.STATUS_BUFFER_TOO_SMALL, 0
            if not fo:
                return windows.STATUS_INVALID_ADDRESS, 0
            request = create.unpack_from(input_bytes)
            status, index = sources.open_auxiliary(fo, request["Guid"])
            if not nt_success(status):
                return status, 0
            size = self.space.read_u32(self.state.data_source_field_va(index, "RingBufferSizeOfEachEntry"))
            total = self.space.read_u32(self.state.data_source_field_va(index, "RingBufferSize"))
            create.pack_into(system_buffer, 0, {"EntriesCount": total // size, "EntrySize": size,
                                                "Guid": request["Guid"]})
            return windows.STATUS_SUCCESS, create.size
        if code == IOCTL_DATA_SOURCE_WRITE:
            if not input_bytes:
                return windows.STATUS_BUFFER_TOO_SMALL, 0
            if not fo:
                return windows.STATUS_INVALID_PARAMETER, 0
            # Information is set before the write, so even a failed write reports it (Q-CD-6)
            return sources.write_auxiliary(fo, input_bytes), len(input_bytes)
        if code == IOCTL_DATA_SOURCE_READ:
            if output_size == 0:
                return windows.STATUS_BUFFER_TOO_SMALL, 0
            if not fo:
                return windows.STATUS_INVALID_ADDRESS, 0
            status, data = sources.read_auxiliary(fo, output_size)
            system_buffer[:len(data)] = data
            # the whole output length, not S, on success and failure alike (Q-CD-6)
            return status, output_size
        if code == IOCTL_DATA_SOURCE_CAPTURE:
            if output_size == 0:
                return windows.STATUS_BUFFER_TOO_SMALL, 0
            if not fo:
                return windows.STATUS_INVALID_ADDRESS, 0
            status, data = sources.capture_auxiliary(fo, output_size)
            if not nt_success(status):
                return status, 0
            system_buffer[:len(data)] = data
            return status, len(data)
        if code == IOCTL_DATA_SOURCE_DESTROY:
            if not fo:
                return windows.STATUS_INVALID_ADDRESS, 0
            sources.destroy_auxiliary(fo)  # the internal status is dropped (Q-CD-5)
            return windows.STATUS_SUCCESS, 0
        if code == IOCTL_CRASH_DRIVER:
            # p1 is the CrashDump DMFMODULE handle (CD.c:3123-3144, spec/dmf.md §2.14)
            self.crashdump.kernel.ke_bugcheck_ex(dmf_structures.BUG_CHECK_PRIVATE, self.crashdump.handle, 0, 0, 0)
        return windows.STATUS_NOT_SUPPORTED, 0
