"""Which decoder each data source's records get: `--type` / `--schema`, per source or for all.

    --type dmfdemo!DMFDEMO_EVENT                     every source
    --type 5f3a1c2e=dmfdemo!DMFDEMO_EVENT            one source (a GUID or a unique prefix of >= 4 hex digits)
    --schema a1b2c3d4=events.py:AuxEvent             the same with a construct Struct from a user file

A type whose size differs from a source's record size would decode garbage without a word, so it is
refused for that source (one line saying both sizes) unless --type-size-mismatch=decode, which decodes
and warns once per source.
"""
import uuid
from typing import Callable, List, Optional, Tuple

from dmfkd.decode import RecordDecoder, SchemaDecoder, TypeDecoder
from dmfkd.errors import UsageError
from dmfkd.guids import guid_text


class Choice:
    __slots__ = ("spec", "kind", "guid_text", "decoder")

    def __init__(self, spec: str, kind: str, guid: Optional[str]):
        self.spec = spec
        self.kind = kind          # "type" | "schema"
        self.guid_text = guid     # the GUID (or prefix) as the user gave it; None = every source
        self.decoder = None       # built on first use


def _split(value: str, kind: str) -> Choice:
    head, sep, tail = value.partition("=")
    if sep and head.strip() and tail.strip():
        return Choice(tail.strip(), kind, head.strip())
    if sep:
        raise UsageError("--%s %s: expected [GUID=]%s" % (kind, value, "MODULE!TYPE" if kind == "type" else "FILE.py:NAME"))
    return Choice(value.strip(), kind, None)


class DecoderChoice:
    """The decoders the user asked for, resolved per source."""

    def __init__(self, types: List[str], schemas: List[str], symbols, mismatch: str = "refuse",
                 time_fields: List[str] = ()):
        self.symbols = symbols
        self.mismatch = mismatch
        self.time_fields = list(time_fields)
        self.choices = [_split(t, "type") for t in types] + [_split(s, "schema") for s in schemas]
        defaults = [c for c in self.choices if c.guid_text is None]
        if len(defaults) > 1:
            raise UsageError("give one --type or --schema for all sources, or GUID=... pairs (got %s)"
                             % ", ".join(c.spec for c in defaults))
        self._default = defaults[0] if defaults else None
        self._by_guid = {}  # type: Dict[str, Choice]
        self._resolved = False

    @property
    def typed(self) -> bool:
        return bool(self.choices)

    def resolve(self, resolve_guid: Callable[[str], uuid.UUID]) -> None:
        """Turn the GUIDs (or prefixes) of GUID=... pairs into full GUIDs with the view's resolver."""
        for choice in self.choices:
            if choice.guid_text is not None:
                key = guid_text(resolve_guid(choice.guid_text))
                if key in self._by_guid:
                    raise UsageError("two decoders for source %s: %s and %s" % (key, self._by_guid[key].spec, choice.spec))
                self._by_guid[key] = choice
        self._resolved = True

    def _build(self, choice: Choice):
        if choice.decoder is None:
            if choice.kind == "type":
                choice.decoder = TypeDecoder(self.symbols, choice.spec, self.time_fields)
            else:
                choice.decoder = SchemaDecoder(choice.spec, self.time_fields)
        return choice.decoder

    def for_source(self, guid: Optional[str], entry_size: int) -> Tuple[object, List[str]]:
        """(decoder, warnings) for a source's records; UsageError when its type does not fit."""
        choice = self._by_guid.get(guid) if guid is not None else None
        if choice is None:
            choice = self._default
        if choice is None:
            return RecordDecoder(), []
        decoder = self._build(choice)
        size = getattr(decoder, "size", None)
        if size is None or size == entry_size or entry_size <= 0:
            return decoder, []
        what = "%s is %d bytes, the records of %s are %d" % (choice.spec, size, guid or "this ring", entry_size)
        if self.mismatch == "decode":
            return decoder, ["%s: decoded anyway (--type-size-mismatch=decode); fields past the record are empty"
                             % what]
        raise TypeSizeMismatch("%s: refused, it would decode garbage (give this source its own type with "
                               "GUID=TYPE, or --type-size-mismatch=decode)" % what)

    def unused_guids(self, guids: List[str]) -> List[str]:
        return sorted(set(self._by_guid) - set(guids))


class TypeSizeMismatch(UsageError):
    """A --type/--schema whose size is not the record size of the source it was given for."""
