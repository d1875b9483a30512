"""Secondary-data GUIDs that Windows itself writes, with the owner symbol (spec/dump-format.md §3.6,
owner names per ntoseye's table).

Only the 8-hex-digit prefixes in the spec are certain. A full GUID is stored only where a real
Windows dump in tests/data/windows-triage carries a GUID with that prefix (19 of them); those match
by full GUID. The rest match by prefix (Data1) alone, and say so.
"""
import uuid
from typing import Optional

from dmfkd.guids import parse_guid

# (full GUID confirmed in the real triage fixtures, or None) -> owner
_KNOWN = [
    ("f57308df", "f57308df-cc45-4e01-ad76-29a4ebb010ec", "nt!PopBlackBoxBsdGuid"),
    ("00afe9c4", "00afe9c4-940d-4213-8016-cd3719b5bc20", "nt!PopBlackBoxNtfsGuid"),
    ("b7631941", "b7631941-532a-4cd6-b1b1-edb5917d4557", "nt!PopBlackBoxPnpGuid"),
    ("80cc79cf", "80cc79cf-a719-4af1-bf97-fe29ff76ebc1", "nt!PopBlackBoxWinLogonGuid"),
    ("4ee76bd8", "4ee76bd8-3cf4-44a0-a0ac-3937643e37a3", "nt!PopBlackBoxCodeIntegrityGuid"),
    ("9276c055", "9276c055-eb87-425c-b8b5-04e4d247f6cd", "pci!PCI_CFG_RECORD_GUID"),
    ("2b4ae195", "2b4ae195-a64d-4f04-8ede-7e4f981bd42a", "nt!GUID_TRIAGEDUMP_DATA"),
    ("2b88b710", "2b88b710-1c93-4f7c-b06c-655ecc50decc", "nt!EtwSecondaryDumpDataGuid"),
    ("b0692a5e", "b0692a5e-6b7b-4073-8a7c-604e35032970", "nt!HvlSkCrashdumpGuid"),
    ("5bc8704a", None, "nt!CarSecondaryDataGuid"),
    ("54c84888", "54c84888-01d1-4c1e-bed6-282c98241303", "wdf01000!WdfDumpGuid"),
    ("f87e4a4c", "f87e4a4c-c5a1-4d2f-bff0-d5de63a5e4c3", "wdf01000!WdfDumpGuid2"),
    ("c939c73b", None, "storport (paging device dump)"),
    ("da82441d", "da82441d-7142-4bc1-b844-0807c5a4b67f", "storport (device dump)"),
    ("270a33fd", "270a33fd-3da6-460d-ba89-3c1bae21e39b", "watchdog (dxgkrnl secondary data)"),
    ("65755a40", "65755a40-f146-43ea-8c91-36b85728fd35", "crashdmp"),
    ("00dae7ca", None, "hvservice (boot event log)"),
    ("bc5c008f", "bc5c008f-1e3a-44d7-988d-86f6884c6758", "mssmbios (SMBIOS tables)"),
    ("6c7ac389", "6c7ac389-4313-47dc-9f34-a8800a0fb56c", "mssmbios (BIOS values)"),
    ("d03dc06f", "d03dc06f-d88e-44c5-ba2a-fae035172d19", "mssmbios (registers)"),
    ("e83b40d2", "e83b40d2-b0a0-4842-abea-71c9e3463dd1", "mssmbios (ACPI tables)"),
    ("9282756a", "9282756a-ab95-4d24-a137-ecddc5de53f5", "nt (VSM log)"),
    ("0f1f53f3", None, "nt (feature configuration)"),
]

BY_GUID = {uuid.UUID(full): owner for _, full, owner in _KNOWN if full}
BY_PREFIX = {prefix: owner for prefix, full, owner in _KNOWN if full is None}


def owner_of(guid) -> Optional[str]:
    """Owner of a Windows-written tag, or None. Prefix-only matches end with '?' (not confirmed)."""
    value = parse_guid(guid)
    owner = BY_GUID.get(value)
    if owner is not None:
        return owner
    prefix = BY_PREFIX.get(value.hex[:8])
    return None if prefix is None else prefix + "?"
