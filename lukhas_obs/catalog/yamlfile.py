"""Reading a catalog file: bounded, strict YAML, with the line of every node for error messages.

PyYAML's ``safe_load`` is safe against code execution but not against a hostile or merely careless file:

* a **duplicate key** silently keeps the last value (``attributes: [tier]`` … ``attributes: [reason]`` drops a label);
* **aliases** expand without bound once anything walks the result (the "billion laughs" document is a few hundred
  bytes and, validated, visits 10**9 nodes);
* **deep nesting** (``[[[[…]]]]``) overflows the C composer's stack (a segmentation fault at ~100,000 levels), or
  raises RecursionError in the pure-Python one;
* a file that is not UTF-8, a huge integer literal (``int()`` refuses more than 4,300 digits) or an unknown tag
  raises assorted exceptions.

:func:`read_yaml` scans the event stream first (iterative, in C when libyaml is available) and refuses documents
deeper than :data:`MAX_DEPTH` levels, expanding (aliases counted at their full size) to more than :data:`MAX_NODES`
nodes, or with a recursive alias; files are at most :data:`MAX_BYTES` and must be UTF-8. Only then is the document
composed and constructed, with a constructor that refuses duplicate keys. Every failure is a
:class:`~lukhas_obs.errors.CatalogError` naming the file and line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from lukhas_obs.errors import CatalogError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "StrictLoader", "YamlDocument", "parse_yaml", "read_yaml"]

#: Largest catalog file read (the shipped ones are ~12 KB).
MAX_BYTES = 8 * 1024 * 1024
#: Deepest nesting of mappings and sequences (a catalog needs ~15).
MAX_DEPTH = 64
#: Most nodes the document may expand to, aliases counted at their full size (the core catalog has ~1,100).
MAX_NODES = 200_000

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictLoader(_Base):
    """The safe loader (libyaml's when available) with a constructor that refuses duplicate mapping keys.

    Merged keys (``<<: *defaults``) may be overridden, as YAML intends; two explicit keys that compare equal (``a``
    twice, or ``1`` and ``true``) are an error naming both lines.
    """

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark
                    ) from None
                if first is not None:
                    shown = repr(key)[:60] if isinstance(key, (str, int, float, bool)) else type(key).__name__
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {shown} (first defined at line {first + 1}); "
                        "a repeated key would silently replace the first value",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML document and the node tree it came from (for line numbers)."""

    data: Any
    root: yaml.Node | None

    def line(self, loc: Sequence[Any]) -> int | None:
        """The 1-based line of the node at ``loc`` (keys and list indexes), or of its deepest existing ancestor."""
        node = self.root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for el in loc:
            nxt = None
            if isinstance(node, yaml.MappingNode) and isinstance(el, str):
                for key_node, value_node in node.value:
                    if isinstance(key_node, yaml.ScalarNode) and key_node.value == el:
                        line, nxt = key_node.start_mark.line + 1, value_node
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(el, int) and 0 <= el < len(node.value):
                nxt = node.value[el]
                line = nxt.start_mark.line + 1
            if nxt is None:
                break
            node = nxt
        return line


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "unknown position"


def _yaml_problem(exc: BaseException, origin: str) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = f"{mark.line + 1}:" if mark is not None else ""
        parts = [p for p in (exc.context, exc.problem) if p]
        return f"{origin}:{line} not valid YAML: {'; '.join(parts)[:300]} ({_where(mark)})"
    return f"{origin}: not valid YAML: {type(exc).__name__}: {str(exc)[:300]}"


def _scan(text: str, origin: str) -> None:
    """Refuse documents too deep, too large once aliases are expanded, or with recursive aliases (events only)."""
    sizes: dict[str, int] = {}
    stack: list[list[Any]] = []  # [expanded size so far, anchor]
    total = 0
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(stack) >= MAX_DEPTH:
                mark = event.start_mark
                raise CatalogError(origin, [f"{origin}:{mark.line + 1}: nesting deeper than {MAX_DEPTH} levels"])
            stack.append([1, event.anchor])
            total += 1
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            size, anchor = stack.pop()
            if anchor is not None:
                sizes[anchor] = size
            if stack:
                stack[-1][0] += size
            continue
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            if isinstance(event, yaml.AliasEvent):
                if event.anchor not in sizes and any(a == event.anchor for _, a in stack):
                    mark = event.start_mark
                    raise CatalogError(origin, [f"{origin}:{mark.line + 1}: recursive alias *{event.anchor}"])
                size = sizes.get(event.anchor, 1)
            else:
                size = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            total += size
            if stack:
                stack[-1][0] += size
        else:
            continue
        if total > MAX_NODES:
            mark = event.start_mark
            raise CatalogError(
                origin,
                [
                    f"{origin}:{mark.line + 1}: the document expands to more than {MAX_NODES} nodes "
                    "(aliases counted at their full size)"
                ],
            )


def parse_yaml(text: str, origin: str) -> YamlDocument:
    """Parse one YAML document from ``text`` within the bounds above; CatalogError names ``origin`` and the line."""
    try:
        _scan(text, origin)
        loader = StrictLoader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except CatalogError:
        raise
    except Exception as exc:  # yaml errors, int() digit limits, odd tags: all one CatalogError
        raise CatalogError(origin, [_yaml_problem(exc, origin)]) from None
    return YamlDocument(data=data, root=root)


def read_yaml(path: str | os.PathLike[str]) -> YamlDocument:
    """Read and parse a catalog file (UTF-8, at most :data:`MAX_BYTES`). OSError if it cannot be opened."""
    origin = os.fspath(path)
    with open(path, "rb") as fh:
        raw = fh.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise CatalogError(origin, [f"{origin}: larger than {MAX_BYTES} bytes; a catalog is a small text file"])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CatalogError(
            origin,
            [f"{origin}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save the file as UTF-8"],
        ) from None
    return parse_yaml(text, origin)
