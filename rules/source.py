"""Safe, position-keeping YAML loading: plain data plus the node of every path.

Loading composes the document with PyYAML's SafeLoader (nothing is ever constructed from tags
other than the safe scalars), forbids aliases (so "billion laughs" input fails at the first `*`),
bounds nesting depth and input size, rejects duplicate keys, and keeps mapping keys as the
strings written (YAML 1.1 would turn an unquoted `on:` key into `True`). Every value that cannot
be built (`!!int abc`, `2026-13-45`), every string a database would refuse (NUL, unpaired
surrogates) and every number that is not finite or larger than MAX_NUMBER is an issue at its
line and column, never an exception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from rules.errors import Issue

MAX_BYTES = 256 * 1024
MAX_DEPTH = 24
# No number in a rule set needs more: step counts, targets, days and priorities are far below.
MAX_NUMBER = 10**9

Path = tuple[str | int, ...]
_SAFE_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")
)


def format_path(path: Path) -> str:
    """Render ('rules', 2, 'when') as `rules[2].when`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class _Refused(Exception):
    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and deep nesting while composing."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused("aliases are not allowed", event.start_mark)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Refused(f"nesting deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


@dataclass
class Document:
    """Loaded YAML: `data` as plain Python, and the node (and key node) at every path."""

    data: Any
    nodes: dict[Path, yaml.Node] = field(default_factory=dict)
    keys: dict[Path, yaml.Node] = field(default_factory=dict)

    def issue(
        self, path: Path, message: str, *, at_key: bool = False, offset: int | None = None
    ) -> Issue:
        """Build an Issue located at the node for `path` (or its nearest existing parent)."""
        node = self.keys.get(path) if at_key else None
        probe = path
        while node is None:
            node = self.nodes.get(probe)
            if node is None and not probe:
                return Issue(1, 1, format_path(path), message)
            probe = probe[:-1]
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        if offset is not None and node is self.nodes.get(path):
            line, column = position_in_scalar(node, offset)
        return Issue(line, column, format_path(path), message)


def position_in_scalar(node: yaml.Node, offset: int) -> tuple[int, int]:
    """Return the 1-based line and column of character `offset` inside a scalar's text."""
    start, end = node.start_mark, node.end_mark
    value = node.value if isinstance(node.value, str) else ""
    style = getattr(node, "style", None)
    single_line = start.line == end.line and "\n" not in value
    if single_line and style in (None, "", '"', "'"):
        quote = 1 if style in ('"', "'") else 0
        return start.line + 1, start.column + 1 + quote + offset
    if style in ("|", ">"):
        # Block scalars start on the line after the indicator; locate the offset's line.
        before = value[:offset]
        line_index = before.count("\n")
        indent = _block_indent(node)
        column = len(before) - (before.rfind("\n") + 1) if line_index else offset
        if style == ">":
            return _folded_position(node, offset, indent)
        return start.line + 2 + line_index, indent + 1 + column
    return start.line + 1, start.column + 1


def _folded_position(node: yaml.Node, offset: int, indent: int) -> tuple[int, int]:
    """Line and column of `offset` in a folded (`>`) scalar: each source line, less the block's
    indentation, is one piece of the value and each line break one character (a space, or a
    newline before a more-indented line). Blank lines fold differently: the first line then."""
    buffer = node.start_mark.buffer or ""
    first = node.start_mark.line + 1
    lines = buffer.split("\n")[first : node.end_mark.line + 1]
    position = 0
    for number, line in enumerate(lines):
        if not line.strip():
            break
        piece = line[indent:]
        if offset < position + len(piece) + 1:
            return first + number + 1, indent + 1 + min(offset - position, len(piece))
        position += len(piece) + 1
    return first + 1, indent + 1


def _block_indent(node: yaml.Node) -> int:
    buffer = node.start_mark.buffer or ""
    pointer = node.start_mark.pointer
    next_line = buffer.find("\n", pointer) + 1
    if next_line <= 0:
        return node.start_mark.column
    line = buffer[next_line:].split("\n", 1)[0]
    return len(line) - len(line.lstrip(" "))


def load_document(text: str) -> tuple[Document | None, list[Issue]]:
    """Load YAML text safely; return the document, or None and the issues that stopped it."""
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        return None, [Issue(1, 1, "", f"rule set larger than {MAX_BYTES // 1024} KiB")]
    try:
        root = _compose(text)
    except (_Refused, yaml.YAMLError) as exc:
        return None, [_stopping_issue(text, exc)]
    if root is None:
        return None, [Issue(1, 1, "", "the rule set is empty")]
    document = Document(None)
    issues: list[Issue] = []
    document.data = _convert(root, (), document, issues, yaml.SafeLoader(""))
    return document, issues


def _compose(text: str) -> yaml.Node | None:
    # The reader checks every character (NUL and other controls) as the loader is built.
    loader = _StrictLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _stopping_issue(text: str, exc: Exception) -> Issue:
    """The issue that stopped composing the document."""
    if isinstance(exc, _Refused):
        return _mark_issue(exc.mark, exc.message)
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "invalid YAML"
        return _mark_issue(exc.problem_mark or exc.context_mark, f"YAML syntax error: {problem}")
    if isinstance(exc, yaml.reader.ReaderError):
        return _position_issue(text, exc)
    return Issue(1, 1, "", f"YAML error: {exc}")


def _mark_issue(mark: yaml.Mark | None, message: str) -> Issue:
    if mark is None:
        return Issue(1, 1, "", message)
    return Issue(mark.line + 1, mark.column + 1, "", message)


def _position_issue(text: str, exc: yaml.reader.ReaderError) -> Issue:
    """Locate a character the YAML reader refused (it reports an offset, not a mark)."""
    position = max(0, min(exc.position, len(text)))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    character = exc.character if isinstance(exc.character, int) else 0
    return Issue(line, column, "", f"character U+{character:04X} is not allowed in a rule set")


_KINDS = {
    "int": "whole number",
    "float": "number",
    "bool": "true or false",
    "timestamp": "date",
    "null": "null",
    "str": "string",
}


def _shown(value: str) -> str:
    """A scalar's text for a message: short, and printable whatever it holds."""
    text = value if len(value) <= 24 else value[:20] + "..."
    return repr(text.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace"))


def _text_problem(value: str) -> str | None:
    if "\x00" in value:
        return "must not contain NUL characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode text (no unpaired surrogates such as \\ud800)"
    return None


def _number_problem(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "numbers must be finite (no .inf or .nan)"
    if abs(value) > MAX_NUMBER:
        return f"number too large: at most {MAX_NUMBER:,} either side of zero"
    return None


def _scalar(node: yaml.Node, loader: yaml.SafeLoader) -> tuple[Any, str | None]:
    """Build a scalar; return (value, None) or (None, why it is refused)."""
    kind = _KINDS.get(node.tag.rsplit(":", 1)[-1], "value")
    try:
        value = loader.construct_object(node, deep=True)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, yaml.YAMLError):
        # PyYAML's safe constructors raise plain Python errors on bad input (`!!int abc`,
        # a bare `2026-13-45` read as a date, integers past Python's 4300-digit limit).
        if kind == "whole number" and node.value.lstrip("+-").replace("_", "").isdigit():
            return None, f"number too large: at most {MAX_NUMBER:,} either side of zero"
        hint = " (quote it to keep it as text)" if kind == "date" else ""
        return None, f"{_shown(node.value)} is not a valid {kind}{hint}"
    problem = _text_problem(value) if isinstance(value, str) else _number_problem(value)
    return (None, problem) if problem else (value, None)


def _convert(
    node: yaml.Node, path: Path, doc: Document, issues: list[Issue], loader: yaml.SafeLoader
) -> Any:
    doc.nodes[path] = node
    if node.tag not in _SAFE_TAGS:
        issues.append(_mark_issue(node.start_mark, f"YAML tag '{node.tag}' is not allowed"))
        return None
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                issues.append(
                    _mark_issue(key_node.start_mark, "mapping keys must be plain strings")
                )
                continue
            key = str(key_node.value)
            key_problem = _text_problem(key)
            if key_problem:
                issues.append(_mark_issue(key_node.start_mark, f"a key {key_problem}"))
                continue
            if key in result:
                mark = key_node.start_mark
                issues.append(
                    Issue(
                        mark.line + 1,
                        mark.column + 1,
                        format_path((*path, key)),
                        f"duplicate key '{key}'",
                    )
                )
                continue
            doc.keys[(*path, key)] = key_node
            result[key] = _convert(value_node, (*path, key), doc, issues, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, (*path, i), doc, issues, loader) for i, item in enumerate(node.value)
        ]
    value, problem = _scalar(node, loader)
    if problem:
        issues.append(Issue(*_line_column(node), format_path(path), problem))
    return value


def _line_column(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1
