"""Hex + ASCII view of a byte string, in the shape of WinDbg's `.enumtag` / `db` output."""


def hexdump(data: bytes, base: int = 0, width: int = 16) -> str:
    lines = []
    for pos in range(0, len(data), width):
        chunk = data[pos:pos + width]
        hex_part = " ".join("%02x" % b for b in chunk)
        if width == 16 and len(chunk) > 8:
            hex_part = hex_part[:23] + "-" + hex_part[24:]
        ascii_part = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append("%08x  %-*s  %s" % (base + pos, width * 3 - 1, hex_part, ascii_part))
    return "\n".join(lines)
