import uuid

import pytest

from dmfkd.errors import UsageError
from dmfkd.guids import crashdump_key, guid_from_le, guid_text, guid_to_le, parse_guid

CRASHDUMP_IFACE = "F4A58486-FD91-4BF9-96BC-DDA5CF571EDF"


@pytest.mark.parametrize("text", [
    CRASHDUMP_IFACE, CRASHDUMP_IFACE.lower(), "{%s}" % CRASHDUMP_IFACE, "{%s}" % CRASHDUMP_IFACE.lower(),
    "  %s " % CRASHDUMP_IFACE,
])
def test_parse_guid_accepts_braces_and_any_case(text):
    assert parse_guid(text) == uuid.UUID(CRASHDUMP_IFACE)


@pytest.mark.parametrize("text", ["", "xyz", "{%s" % CRASHDUMP_IFACE, "%s}" % CRASHDUMP_IFACE,
                                  CRASHDUMP_IFACE.replace("-", ""), CRASHDUMP_IFACE + "0"])
def test_parse_guid_rejects_malformed_text(text):
    with pytest.raises(UsageError) as exc:
        parse_guid(text)
    assert "not a GUID" in str(exc.value)


def test_guid_text_is_lower_case_without_braces():
    assert guid_text(parse_guid("{%s}" % CRASHDUMP_IFACE)) == CRASHDUMP_IFACE.lower()


def test_crashdump_key_matches_spec_example():
    # spec/dmf.md §2.11: G = {F4A58486-FD91-4BF9-96BC-DDA5CF571EDF} -> K = "F4A58486FD914BF996BCDDA5CF571EDF"
    assert crashdump_key(parse_guid(CRASHDUMP_IFACE)) == b"F4A58486FD914BF996BCDDA5CF571EDF"


def test_guid_memory_order_is_windows_bytes_le():
    # Data1/Data2/Data3 little-endian, Data4 as bytes (spec/dump-format.md §3.1)
    raw = guid_to_le(parse_guid(CRASHDUMP_IFACE))
    assert raw[:4] == bytes.fromhex("8684a5f4")
    assert raw[4:6] == bytes.fromhex("91fd") and raw[6:8] == bytes.fromhex("f94b")
    assert raw[8:] == bytes.fromhex("96bcdda5cf571edf")
    assert guid_from_le(raw) == parse_guid(CRASHDUMP_IFACE)
