"""A small JSON Schema validator for the keywords the scenario schema uses, with errors a person can act
on: one line naming the JSON path (``operations[3].entries: must be >= 1``).

Why not the ``jsonschema`` package: dmfemu runs on Python 3.9 with construct and tabulate only, and
jsonschema's messages for a ``oneOf`` (which branch? which key?) do not name the key that is wrong.
The schema file itself is standard JSON Schema 2020-12 (the tests check every shipped example with
jsonschema too, and that both validators refuse the same broken documents).

Supported: ``$ref`` (local ``#/$defs/NAME``), ``type``, ``properties``, ``required``,
``additionalProperties``, ``propertyNames``, ``enum``, ``const``, ``minimum``, ``maximum``,
``minLength``, ``maxLength``, ``pattern``, ``items``, ``minItems``, ``maxItems``, ``minProperties``,
``maxProperties``, ``oneOf``. Annotations (``description``, ``title``, ``$schema``, ``$id``) are
ignored; any other keyword is refused when the schema is loaded, so the schema cannot silently use
something this validator would skip.

Two readings of ``oneOf`` give the precise messages:
* every branch is ``{"required": [KEY]}``: "must have exactly one of hex, text, fields";
* the branches are objects told apart by the value of one key (``op``, ``via``): the branch whose
  ``const``/``enum`` for that key matches is validated alone, so its own errors are reported.
"""
import json
import os
import re
from typing import Any, List, Optional

KNOWN_KEYWORDS = {
    "$ref", "type", "properties", "required", "additionalProperties", "propertyNames", "enum", "const",
    "minimum", "maximum", "minLength", "maxLength", "pattern", "items", "minItems", "maxItems",
    "minProperties", "maxProperties", "oneOf",
}
ANNOTATIONS = {"description", "title", "$schema", "$id", "$defs"}

#: what a value of a named definition must look like, said instead of its pattern
DEFINITION_MESSAGES = {
    "guid": "must be a GUID like 5f3a1c2e-7b4d-4e8f-9a10-2b3c4d5e6f70",
    "hex": "must be hex digits, two per byte",
    "identifier": "must be a C identifier (letters, digits and _, at most 64)",
    "status": "must be an NTSTATUS name like STATUS_INVALID_PARAMETER",
    "schema_reference": "must be FILE.py:NAME (a construct Struct NAME in the Python file FILE.py)",
}

_TYPE_NAMES = {"object": "an object", "array": "an array", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "true or false", "null": "null"}


class SchemaViolation(object):
    """One place where a document breaks the schema."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return "%s: %s" % (self.path or "(top level)", self.message)


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    raise ValueError("unknown JSON Schema type %r" % name)


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return "%s[%d]" % (path, key)
    if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
        return "%s.%s" % (path, key) if path else key
    return "%s[%s]" % (path, json.dumps(key))


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


class Validator(object):
    """Validates documents against one schema (a dict, checked for unknown keywords up front)."""

    def __init__(self, schema: dict):
        self.schema = schema
        self.definitions = schema.get("$defs", {})
        self._check_keywords(schema, "#")

    @classmethod
    def load(cls, path: str) -> "Validator":
        with open(path, "r", encoding="utf-8") as handle:
            return cls(json.load(handle))

    def _check_keywords(self, node: Any, where: str) -> None:
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key not in KNOWN_KEYWORDS and key not in ANNOTATIONS:
                raise ValueError("schema %s uses %r, which this validator does not implement" % (where, key))
            if key in ("properties", "$defs"):
                for name, sub in value.items():
                    self._check_keywords(sub, "%s/%s/%s" % (where, key, name))
            elif key in ("additionalProperties", "items", "propertyNames") and isinstance(value, dict):
                self._check_keywords(value, "%s/%s" % (where, key))
            elif key == "oneOf":
                for index, sub in enumerate(value):
                    self._check_keywords(sub, "%s/oneOf/%d" % (where, index))

    # -- validation ----------------------------------------------------------------------------------
    def errors(self, document: Any, limit: int = 20) -> List[SchemaViolation]:
        """The violations in document order (at most `limit`)."""
        out = []  # type: List[SchemaViolation]
        self._validate(document, self.schema, "", out, limit, None)
        return out[:limit]

    def first_error(self, document: Any) -> Optional[SchemaViolation]:
        found = self.errors(document, limit=1)
        return found[0] if found else None

    def _resolve(self, reference: str) -> dict:
        prefix = "#/$defs/"
        if not reference.startswith(prefix) or reference[len(prefix):] not in self.definitions:
            raise ValueError("schema reference %r is not a local definition" % reference)
        return self.definitions[reference[len(prefix):]]

    def _validate(self, value: Any, schema: dict, path: str, out: list, limit: int, definition: Optional[str]):
        if len(out) >= limit:
            return
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            target = self._resolve(schema["$ref"])
            before = len(out)
            self._validate(value, target, path, out, limit, name)
            if len(out) > before and name in DEFINITION_MESSAGES and not isinstance(value, (dict, list)):
                del out[before:]
                out.append(SchemaViolation(path, DEFINITION_MESSAGES[name]))
        types = schema.get("type")
        if types is not None:
            names = types if isinstance(types, list) else [types]
            if not any(_is_type(value, name) for name in names):
                out.append(SchemaViolation(path, "must be " + " or ".join(_TYPE_NAMES[n] for n in names)))
                return
        if "const" in schema and value != schema["const"]:
            out.append(SchemaViolation(path, "must be %s" % _show(schema["const"])))
            return
        if "enum" in schema and not any(value == choice and type(value) is type(choice) for choice in schema["enum"]):
            shown = repr(value) if isinstance(value, str) else json.dumps(value)
            out.append(SchemaViolation(path, "must be one of %s, not %s" % (
                ", ".join(_show(c) for c in schema["enum"]), shown if len(shown) <= 40 else shown[:37] + "...")))
            return
        if isinstance(value, bool):
            pass
        elif isinstance(value, (int, float)):
            if "minimum" in schema and value < schema["minimum"]:
                out.append(SchemaViolation(path, "must be >= %s" % schema["minimum"]))
            if "maximum" in schema and value > schema["maximum"]:
                out.append(SchemaViolation(path, "must be <= %s" % schema["maximum"]))
        elif isinstance(value, str):
            if "minLength" in schema and len(value) < schema["minLength"]:
                out.append(SchemaViolation(path, "must not be empty" if schema["minLength"] == 1
                                           else "must be at least %d characters" % schema["minLength"]))
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                out.append(SchemaViolation(path, "must be at most %d characters" % schema["maxLength"]))
            if "pattern" in schema and not re.search(schema["pattern"], value):
                out.append(SchemaViolation(path, "does not match %s" % schema["pattern"]))
        elif isinstance(value, list):
            self._array(value, schema, path, out, limit)
        elif isinstance(value, dict):
            self._object(value, schema, path, out, limit)
        if "oneOf" in schema:
            self._one_of(value, schema["oneOf"], path, out, limit)

    def _array(self, value: list, schema: dict, path: str, out: list, limit: int) -> None:
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append(SchemaViolation(path, "must have at least %d item(s)" % schema["minItems"]))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(SchemaViolation(path, "must have at most %d item(s)" % schema["maxItems"]))
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                if len(out) >= limit:
                    return
                self._validate(item, items, _join(path, index), out, limit, None)

    def _object(self, value: dict, schema: dict, path: str, out: list, limit: int) -> None:
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            out.append(SchemaViolation(path, "must have at least %d key(s)" % schema["minProperties"]))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            out.append(SchemaViolation(path, "must have at most %d key(s)" % schema["maxProperties"]))
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                out.append(SchemaViolation(_join(path, key), "is required"))
        names = schema.get("propertyNames")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if len(out) >= limit:
                return
            if isinstance(names, dict):
                before = len(out)
                self._validate(key, names, _join(path, key), out, limit, None)
                if len(out) > before:
                    del out[before + 1:]
                    out[before].message = "key " + out[before].message
                    continue
            if key in properties:
                self._validate(item, properties[key], _join(path, key), out, limit, None)
            elif extra is False:
                known = ", ".join(sorted(properties))
                out.append(SchemaViolation(_join(path, key), "unknown key (known: %s)" % known))
            elif isinstance(extra, dict):
                self._validate(item, extra, _join(path, key), out, limit, None)

    def _one_of(self, value: Any, branches: List[dict], path: str, out: list, limit: int) -> None:
        keys = [b["required"][0] for b in branches if set(b) == {"required"} and len(b["required"]) == 1]
        if len(keys) == len(branches):
            if isinstance(value, dict) and sum(1 for k in keys if k in value) != 1:
                out.append(SchemaViolation(path, "must have exactly one of %s" % ", ".join(keys)))
            return
        if isinstance(value, dict):
            chosen = self._discriminated(value, branches)
            if chosen is not None:
                self._validate(value, chosen, path, out, limit, None)
                return
        if all(isinstance(b.get("type"), str) for b in branches):
            # {"oneOf": [{"type": "null"}, {"type": "integer", "minimum": 1}]}: the branch of the value's type
            typed = [b for b in branches if _is_type(value, b["type"])]
            if len(typed) == 1:
                self._validate(value, typed[0], path, out, limit, None)
            elif not typed:
                out.append(SchemaViolation(path, "must be " + " or ".join(_TYPE_NAMES[b["type"]] for b in branches)))
            return
        passing = 0
        for branch in branches:
            trial = []  # type: List[SchemaViolation]
            self._validate(value, branch, path, trial, 1, None)
            passing += not trial
        if passing != 1:
            out.append(SchemaViolation(path, "matches %s of the allowed forms" % ("several" if passing else "none")))

    def _discriminated(self, value: dict, branches: List[dict]) -> Optional[dict]:
        """The one branch whose const/enum for a key present in `value` accepts its value, or None."""
        matches = []
        for branch in branches:
            target = self._resolve(branch["$ref"]) if "$ref" in branch else branch
            for key, rule in target.get("properties", {}).items():
                if not isinstance(rule, dict) or key not in value:
                    continue
                if ("const" in rule and rule["const"] == value[key]) or value[key] in rule.get("enum", ()):
                    matches.append(branch)
                    break
        return matches[0] if len(matches) == 1 else None


def scenario_schema_path() -> str:
    """The shipped scenario schema (package data beside this module)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenario-v1.schema.json")


_VALIDATOR = []  # type: List[Validator]


def scenario_validator() -> Validator:
    if not _VALIDATOR:
        _VALIDATOR.append(Validator.load(scenario_schema_path()))
    return _VALIDATOR[0]


def first_violation(document: Any) -> Optional[SchemaViolation]:
    return scenario_validator().first_error(document)


__all__ = ["DEFINITION_MESSAGES", "SchemaViolation", "Validator", "first_violation", "scenario_schema_path",
           "scenario_validator"]
