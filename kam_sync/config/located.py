"""YAML documents that remember where every key and value came from.

PyYAML's composer gives each node its start mark; we turn the node tree into plain Python data
and keep an index from the data path (``("objects", "account", "fields", 0)``) to the line and
column of the value, and of the key that introduced it. Duplicate keys, which PyYAML accepts
silently (the last one wins), are reported as errors: an ops engineer who writes a key twice
almost never means the second one to erase the first.

The files are parsed at every start of every command, so the nodes come from libyaml's composer
(PyYAML's C extension, several times faster) when PyYAML has it. Its nodes carry the same
positions as PyYAML's own, except in the few constructs where the two readers disagree
(``_read_alike``); those documents, and every document libyaml rejects, are composed again by
PyYAML's own reader, so what a user reads (values, positions, every syntax error's text) is the
same with or without libyaml.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kam_sync.config.issues import ConfigIssue

Loc = tuple[str | int, ...]
Position = tuple[int, int]

# libyaml's composer with PyYAML's safe constructor and resolver, when PyYAML was built with it.
LIBYAML_LOADER: type[yaml.CSafeLoader] | None = yaml.CSafeLoader if yaml.__with_libyaml__ else None


@dataclass(slots=True)
class LocatedDocument:
    """Plain data of one YAML file plus the positions of its keys and values (1-based)."""

    path: Path
    data: Any
    value_positions: dict[Loc, Position] = field(default_factory=dict)
    key_positions: dict[Loc, Position] = field(default_factory=dict)

    def position(self, loc: Loc, *, prefer_key: bool = False) -> Position:
        """Best position for ``loc``: the exact node, else the closest ancestor that exists."""
        probe = tuple(loc)
        while True:
            if prefer_key and probe in self.key_positions:
                return self.key_positions[probe]
            if probe in self.value_positions:
                return self.value_positions[probe]
            if probe in self.key_positions:
                return self.key_positions[probe]
            if not probe:
                return (1, 1)
            probe = probe[:-1]

    def issue(self, loc: Loc, message: str, *, prefer_key: bool = False) -> ConfigIssue:
        line, col = self.position(loc, prefer_key=prefer_key)
        return ConfigIssue(self.path, line, col, message)

    def data_loc(self, loc: Loc) -> Loc:
        """Drop the parts of a validator's ``loc`` that are not keys in the data (union tags)."""
        node: Any = self.data
        kept: list[str | int] = []
        for part in loc:
            if isinstance(node, dict) and part in node:
                node = node[part]
                kept.append(part)
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
                kept.append(part)
            elif isinstance(node, dict | list):
                # A key the data does not have: keep it only if it is the last part (a missing
                # or extra key is reported against its parent).
                if part is loc[-1] and isinstance(part, str) and not _looks_like_tag(part):
                    kept.append(part)
                continue
            else:
                continue
        return tuple(kept)

    def walk_keys(self) -> Iterator[tuple[Loc, str]]:
        """Every mapping key in the document with its path."""
        for loc in self.key_positions:
            if loc and isinstance(loc[-1], str):
                yield loc, loc[-1]


def _looks_like_tag(part: str) -> bool:
    return "[" in part or part[:1].isupper()


def load_located(
    path: Path, text: str | None = None
) -> tuple[LocatedDocument | None, list[ConfigIssue]]:
    """Parse ``path`` (or ``text``, reported as ``path``) keeping positions.

    Returns the document (None when the YAML does not parse) and the problems found.
    """
    issues: list[ConfigIssue] = []
    if text is None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None, [ConfigIssue(path, None, None, "file not found")]
        except IsADirectoryError:
            return None, [ConfigIssue(path, None, None, "is a folder, not a file")]
        except OSError as exc:
            return None, [ConfigIssue(path, None, None, f"cannot read file: {exc.strerror}")]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, [not_utf8_issue(path, raw, exc)]
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_issue(path, text, exc)]
    except yaml.YAMLError as exc:
        return None, [ConfigIssue(path, None, None, f"YAML error: {exc}")]
    doc = LocatedDocument(path=path, data=None)
    if node is None:
        doc.data = {}
        return doc, issues
    doc.data = _build(node, (), doc, issues)
    return doc, issues


# Text libyaml reads although PyYAML refuses it: a tab (PyYAML refuses one after a colon), a byte
# order mark after the first character, and a comment straight after a block scalar's header
# (``>#``: YAML wants a space before the ``#``; this pattern also matches a few harmless texts,
# which PyYAML then reads, as before).
_READ_DIFFERENTLY = re.compile(r"\t|(?<!^)\ufeff|[|>][-+0-9]*#")


def _compose(text: str) -> yaml.Node | None:
    """The node tree of ``text``: libyaml's where it reads the text as PyYAML's own reader does,
    else PyYAML's (which also raises its own error for any text that does not parse)."""
    if LIBYAML_LOADER is not None and not _READ_DIFFERENTLY.search(text):
        try:
            node = yaml.compose(text, Loader=LIBYAML_LOADER)
        except yaml.YAMLError:
            pass  # composed again below, for PyYAML's error text and position
        else:
            if node is None or _read_alike(node, in_flow=False):
                return node
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _read_alike(node: yaml.Node, *, in_flow: bool) -> bool:
    """False where PyYAML's own reader could read libyaml's tree differently.

    The differences a node shows (those in the text were looked for before): inside ``{...}``
    or ``[...]``, an empty value (``{a: }``) starts one column later in libyaml, and PyYAML
    refuses a ``?`` within a plain word (``{i?d: 1}``) that libyaml takes as part of it.
    """
    if isinstance(node, yaml.ScalarNode):
        plain = not node.style
        return not (in_flow and plain and (node.value == "" or "?" in node.value))
    if isinstance(node, yaml.MappingNode):
        flow = in_flow or bool(node.flow_style)
        return all(
            _read_alike(key, in_flow=flow) and _read_alike(value, in_flow=flow)
            for key, value in node.value
        )
    if isinstance(node, yaml.SequenceNode):
        flow = in_flow or bool(node.flow_style)
        return all(_read_alike(item, in_flow=flow) for item in node.value)
    return True


def not_utf8_issue(path: Path, raw: bytes, error: UnicodeDecodeError) -> ConfigIssue:
    """The line and column of the first byte that is not UTF-8 (not Python's byte offset)."""
    before = raw[: error.start]
    line = before.count(b"\n") + 1
    line_start = before.rfind(b"\n") + 1
    column = len(before[line_start:].decode("utf-8", errors="replace")) + 1
    bad = raw[error.start : error.end].hex(" ")
    return ConfigIssue(
        path,
        line,
        column,
        f"the file is not UTF-8: byte {bad} cannot be read here; save the file as UTF-8 "
        "(an editor's 'Save with encoding' or `iconv -f latin1 -t utf-8`)",
    )


def _syntax_issue(path: Path, text: str, exc: yaml.MarkedYAMLError) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    if exc.context:
        problem = f"{exc.context}, {problem}"
    if mark is None:
        return ConfigIssue(path, None, None, f"YAML syntax error: {problem}")
    lines = text.splitlines()
    at_end = mark.line >= len(lines) or not lines[mark.line].strip()
    if at_end and exc.context_mark is not None and exc.context_mark is not mark:
        # "Expected ']' but got the end of the file": the useful place is where the unclosed
        # construct began, not the empty last line.
        problem += f" (the file ends at line {mark.line + 1} before it is closed)"
        mark = exc.context_mark
    shown = lines[mark.line] if 0 <= mark.line < len(lines) else ""
    caret = " " * mark.column + "^"
    message = f"YAML syntax error: {problem}\n    {shown}\n    {caret}"
    return ConfigIssue(path, mark.line + 1, mark.column + 1, message)


_SCALAR_CONSTRUCTOR = yaml.SafeLoader("")


def _position(node: yaml.Node) -> Position:
    """Where ``node`` starts: line and column, from 1."""
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(node: yaml.Node, loc: Loc, doc: LocatedDocument, issues: list[ConfigIssue]) -> Any:
    doc.value_positions[loc] = _position(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        _SCALAR_CONSTRUCTOR.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = _scalar(key_node, doc, issues) if isinstance(key_node, yaml.ScalarNode) else None
            if key is _UNREADABLE:  # reported
                continue
            if not isinstance(key, str | int | bool | float) or key is None:
                issues.append(
                    ConfigIssue(
                        doc.path,
                        *_position(key_node),
                        "keys must be plain words, not lists, mappings or null",
                    )
                )
                continue
            key = str(key) if not isinstance(key, str) else key
            child_loc = (*loc, key)
            if key in result:
                first = doc.key_positions[child_loc]
                issues.append(
                    ConfigIssue(
                        doc.path,
                        *_position(key_node),
                        f"duplicate key '{key}' (first defined at line {first[0]}); "
                        "each key may appear once",
                    )
                )
                continue
            doc.key_positions[child_loc] = _position(key_node)
            result[key] = _build(value_node, child_loc, doc, issues)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*loc, i), doc, issues) for i, item in enumerate(node.value)]
    value = _scalar(node, doc, issues)
    return None if value is _UNREADABLE else value


_UNREADABLE = object()  # a scalar whose tag gives it no value (reported as a problem)
_CORE_TAG = "tag:yaml.org,2002:"


def _scalar(node: yaml.Node, doc: LocatedDocument, issues: list[ConfigIssue]) -> Any:
    """The value of a scalar node; ``_UNREADABLE``, and a problem at its place, for one that has
    none (a tag PyYAML does not know, ``!!int abc``)."""
    try:
        return _SCALAR_CONSTRUCTOR.construct_object(node, deep=True)
    except Exception as exc:  # PyYAML's constructors fail on bad tagged values in many ways
        tag = node.tag.replace(_CORE_TAG, "!!", 1) if node.tag.startswith(_CORE_TAG) else node.tag
        known = not isinstance(exc, yaml.MarkedYAMLError)  # PyYAML has a constructor for it
        issues.append(
            ConfigIssue(
                doc.path,
                *_position(node),
                f"the value does not fit its YAML tag '{tag}'"
                if known
                else f"unknown YAML tag '{tag}'; write the value without a tag",
            )
        )
        return _UNREADABLE
