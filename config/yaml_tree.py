"""Read a config's YAML into plain dicts and lists that remember the line of each key
and item, for error messages.

Two readers give the same tree. The fast one composes nodes with libyaml (PyYAML's C
parser) and builds the tree from them itself: 30-50 times faster than ruamel.yaml's
pure-Python round-trip loader, which spent ~90% of `newswatch check` on a config of
10,000 watches. It takes only YAML whose meaning it knows to be the same as ruamel's
(YAML 1.2: `yes`, `on` and `08:00` stay strings): plain strings, decimal integers,
simple decimals, true/false and null, in mappings with string keys given once. Anything
else (a syntax error, a key given twice, a tag, a merge key, hex or octal numbers,
dates, aliases of mappings, a %YAML directive...) goes to ruamel.yaml, whose errors
(config.yaml_errors) and values are the reference; so a mistake is reported exactly as
before, and an unusual config loads exactly as before, only at the old speed."""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger(__name__)

try:  # PyYAML built with libyaml (its wheels are); without it every load takes ruamel's way
    from yaml import MappingNode, ScalarNode, SequenceNode, YAMLError
    from yaml._yaml import CParser
except ImportError:  # pragma: no cover - depends on how PyYAML was installed
    CParser = None

STR, MAP, SEQ = ("tag:yaml.org,2002:str", "tag:yaml.org,2002:map",
                 "tag:yaml.org,2002:seq")
INT, FLOAT, BOOL, NULL = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                          "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null")
OTHER = "newswatch:not-a-string"  # a plain scalar YAML 1.2 reads as something unusual

# YAML 1.2's core schema as ruamel.yaml resolves it: which plain scalars are not strings.
# Forms this reader builds itself are matched first; anything else that is not a string
# in YAML 1.2 (hex, octal, 1_000, 1e3, .inf, dates, <<, =) is OTHER and sent to ruamel.
_BOOL = {"true": True, "True": True, "TRUE": True,
         "false": False, "False": False, "FALSE": False}
_NULL = {"", "~", "null", "Null", "NULL"}
_SIMPLE_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_SIMPLE_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]+\Z")
_OTHER = re.compile(r"""
    [-+]?0b[0-1_]+ | [-+]?0o?[0-7_]+ | [-+]?[0-9_]+ | [-+]?0x[0-9a-fA-F_]+   # ints
  | [-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?                          # floats
  | [-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
  | [-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
  | [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)
  | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt \t].*)?                           # dates, times
  | << | =                                                                  # merge, value
""", re.VERBOSE)

# line breaks YAML 1.1 (libyaml) counts and YAML 1.2 (ruamel) does not: the lines would
# differ; and a directive could ask for YAML 1.1's meanings
_UNUSUAL_TEXT = re.compile("[\x85\u2028\u2029]|^%", re.MULTILINE)


class LineMap(dict[str, Any]):
    """A YAML mapping; `lines[key]` is the 0-based line its key is written on."""

    lines: dict[str, int]

    def __init__(self) -> None:
        super().__init__()
        self.lines = {}


class LineSeq(list[Any]):
    """A YAML sequence; `lines[i]` is the 0-based line its item i starts on."""

    lines: list[int]

    def __init__(self) -> None:
        super().__init__()
        self.lines = []


class YamlSyntaxError(Exception):
    """Text that is not YAML; `error` is ruamel.yaml's MarkedYAMLError, which
    config.yaml_errors puts in plain words."""

    def __init__(self, error: Any):
        super().__init__(str(error))
        self.error = error


class _Unusual(Exception):
    """YAML the fast reader leaves to ruamel."""


def _resolve(value: str) -> str:
    """The tag of a plain scalar under YAML 1.2's core schema (as ruamel reads it)."""
    if value in _BOOL:
        return BOOL
    if value in _NULL:
        return NULL
    if value[:1] in "-+0123456789.<=":
        if _SIMPLE_INT.match(value):
            return INT
        if _SIMPLE_FLOAT.match(value):
            return FLOAT
        if _OTHER.fullmatch(value):
            return OTHER
    return STR


if CParser is not None:
    class _Composer(CParser):
        """libyaml's parser and composer, with the resolver above for plain scalars."""

        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            if kind is ScalarNode:
                return _resolve(value) if implicit[0] else STR
            return MAP if kind is MappingNode else SEQ

        # the composer asks for these around each node (PyYAML's path resolvers, unused)
        def descend_resolver(self, parent: Any, index: Any) -> None:
            pass

        def ascend_resolver(self) -> None:
            pass


def _scalar(node: Any) -> Any:
    value: str = node.value
    tag = node.tag
    # a tag written out (`!!str 12`, `!env X`) differs from the one its text resolves to
    expected = _resolve(value) if node.style in ("", None) else STR
    if tag != expected:
        raise _Unusual(f"tag {tag}")
    if tag == STR:
        return value
    if tag == INT:
        return int(value)
    if tag == FLOAT:
        return float(value)
    if tag == BOOL:
        return _BOOL[value]
    if tag == NULL:
        return None
    raise _Unusual(f"scalar {value!r}")


def _build(node: Any, seen: set[int]) -> Any:
    if isinstance(node, ScalarNode):
        return _scalar(node)
    if id(node) in seen:  # an alias of a mapping or list (or one of itself)
        raise _Unusual("alias")
    seen.add(id(node))
    if isinstance(node, MappingNode) and node.tag == MAP:
        out = LineMap()
        for key_node, value_node in node.value:
            key = _scalar(key_node) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str) or key in out:
                raise _Unusual("a key that is not a string, or is given twice")
            out[key] = _build(value_node, seen)
            out.lines[key] = key_node.start_mark.line
        return out
    if isinstance(node, SequenceNode) and node.tag == SEQ:
        items = LineSeq()
        for item in node.value:
            items.append(_build(item, seen))
            items.lines.append(item.start_mark.line)
        return items
    raise _Unusual(f"tag {node.tag}")


def fast_tree(text: str) -> tuple[bool, Any]:
    """(True, the tree) when libyaml reads `text` as ruamel would; (False, None) when
    ruamel must read it (see the module docstring)."""
    if CParser is None or _UNUSUAL_TEXT.search(text):
        return False, None
    try:
        composer = _Composer(text)
        try:
            root = composer.get_single_node()
        finally:
            composer.dispose()
        return True, (None if root is None else _build(root, set()))
    except (YAMLError, _Unusual, RecursionError, ValueError) as exc:
        log.debug("config YAML read by ruamel.yaml: %s", exc)
        return False, None


def from_ruamel(node: Any) -> Any:
    """ruamel's round-trip tree as plain values in LineMap/LineSeq, keys as strings."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        out = LineMap()
        for key, value in node.items():
            out[str(key)] = from_ruamel(value)
            if key in node.lc.data:  # merged keys (<<) have no line of their own here
                out.lines[str(key)] = node.lc.key(key)[0]
        return out
    if isinstance(node, CommentedSeq):
        items = LineSeq()
        for i, value in enumerate(node):
            items.append(from_ruamel(value))
            items.lines.append(node.lc.item(i)[0])
        return items
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def read_tree(text: str) -> Any:
    """The YAML text as LineMap/LineSeq/plain values; raises YamlSyntaxError. libyaml
    first, then ruamel.yaml for what libyaml is not sure of (and to explain mistakes)."""
    sure, tree = fast_tree(text)
    if sure:
        return tree
    # imported here: loading ruamel.yaml costs every command that reads a config time
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    try:
        return from_ruamel(YAML(typ="rt").load(text))
    except MarkedYAMLError as exc:
        raise YamlSyntaxError(exc) from None
