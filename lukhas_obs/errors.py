"""Exceptions lukhas-obs raises.

Only configuration and catalog problems raise, and only at configure/load time: the recording path never raises into
application code (see :mod:`lukhas_obs.drops`).

A :class:`ConfigurationError` shows the offending value so the user can find it, but a configuration value is where
secrets are pasted by mistake (a collector URL with ``user:password@``, a bearer token in a header list, a
``db.password`` resource attribute), and an exception message travels to logs, crash reporters and CI output. So the
value is shown only through :func:`describe_value`: credential settings are never shown, and every other value has
URL userinfo, query strings, ``key=value`` pairs whose key names a credential and secret-shaped substrings (the
scrubber's value rules) redacted; huge or unprintable values are described, never printed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["REDACTED", "AlreadyConfiguredError", "CatalogError", "ConfigurationError", "describe_value", "redact_text"]

#: What a message shows instead of a credential setting's value.
REDACTED = "<redacted>"
#: Text longer than this is described by its length, never scanned or shown (bounds the time and the message).
_SCAN_LIMIT = 4096
#: At most this many characters of a (redacted) value are shown.
_SHOWN_LIMIT = 200
#: Integers wider than this are described by their width (``repr`` of a 5,000-digit int raises).
_INT_BITS_LIMIT = 128
#: Items of a mapping or sequence shown before "...".
_ITEMS_LIMIT = 8

# Characters that end the user-info part scanned backwards from an "@" (the "@" itself too, so scans never overlap).
_USERINFO_REV = re.compile(r"[^\s/\\'\"<>()\[\]{},;=&?@]*")
# A URL runs from "://" to the next whitespace or quote.
_URL_END = re.compile(r"[\s'\"<>]")
# A key before a ":" or "=" separator, matched on the reversed text: optional blanks and quote, then key characters.
_KEY_REV = re.compile(r"[ \t]*[\"']?([A-Za-z0-9_.\-]+)")
_SEPARATOR = re.compile(r"[:=]")
_VALUE_END = re.compile(r"[,;&\r\n]")
# An HTTP authorization scheme followed by its credentials (whatever their shape: a header value is a credential).
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|digest|negotiate)([ \t]+)[^\s,;'\"]+")


def _plain(text: str) -> str:
    """An exact ``str`` copy of ``text`` made without calling any method a ``str`` subclass may override."""
    return text if type(text) is str else str.__getitem__(text, slice(None))


def _placeholder(rule: str) -> str:
    return f"[REDACTED:{rule}]"


def _redact_userinfo(text: str) -> str:
    """Everything right before an ``@`` up to a delimiter (``user:password@``, ``token@``) is user info."""
    if "@" not in text:
        return text
    rev = text[::-1]
    out: list[str] = []
    emitted = 0
    at = text.find("@")
    while at >= 0:
        length = _USERINFO_REV.match(rev, len(text) - at).end() - (len(text) - at)  # type: ignore[union-attr]
        start = at - length
        if length and start >= emitted:
            out += [text[emitted:start], _placeholder("userinfo")]
            emitted = at
        at = text.find("@", at + 1)
    out.append(text[emitted:])
    return "".join(out)


def _redact_urls(text: str) -> str:
    """In every ``scheme://...`` the user info (up to the last ``@``) and the query and fragment are redacted."""
    out: list[str] = []
    pos = 0
    while True:
        mark = text.find("://", pos)
        if mark < 0:
            break
        start = mark + 3
        end_match = _URL_END.search(text, start)
        end = end_match.start() if end_match else len(text)
        span = text[start:end]
        at = span.rfind("@")
        if at >= 0:
            span = _placeholder("userinfo") + span[at:]
            at = len(_placeholder("userinfo"))
        cut = min((i for i in (span.find("?", at + 1), span.find("#", at + 1)) if i >= 0), default=-1)
        if cut >= 0:
            span = span[: cut + 1] + _placeholder("query")
        out += [text[pos:start], span]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _redact_pairs(text: str, scrubber: Any) -> str:
    """``key=value`` / ``key: value`` pairs whose key names a credential (``DB_PASSWORD``, ``x-api-key``) lose
    their value: up to the closing quote when quoted, else up to the next ``,``/``;``/``&``/end of line."""
    rev = text[::-1]
    out: list[str] = []
    emitted = 0
    for sep in _SEPARATOR.finditer(text):
        i = sep.start()
        if i < emitted:
            continue
        key = _KEY_REV.match(rev, len(text) - i)
        if key is None:
            continue
        rule = scrubber.key_rule(key.group(1)[::-1])
        if rule is None:
            continue
        j = i + 1
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] in "\"'":
            close = text.find(text[j], j + 1)
            start, end = j + 1, (close if close >= 0 else len(text))
        else:
            stop = _VALUE_END.search(text, j)
            start, end = j, (stop.start() if stop else len(text))
        if end > start:
            out += [text[emitted:start], _placeholder(rule)]
            emitted = end
    out.append(text[emitted:])
    return "".join(out)


def redact_text(text: str) -> str:
    """``text`` with every secret-shaped part replaced by a placeholder naming the rule, never any part of the value.

    The scrubber's value rules (bearer/basic credentials, JWTs, cloud keys, ...) run first, then URL user info, URL
    query strings and fragments, and ``key=value`` pairs whose key the scrubber's key rules call a credential. Every
    pass is linear in the length of ``text``.
    """
    from lukhas_obs.scrubbing import Scrubber  # lazy: errors is imported by everything, scrubbing imports the SDK

    text = _plain(text)
    scrubber = Scrubber()
    text = scrubber.scrub_text(text)
    text = _AUTH_SCHEME.sub(lambda m: m.group(1) + m.group(2) + _placeholder("authorization"), text)
    text = _redact_userinfo(text)
    text = _redact_urls(text)
    return _redact_pairs(text, scrubber)


def _sensitive_key(key: object) -> bool:
    from lukhas_obs.scrubbing import Scrubber

    return isinstance(key, str) and Scrubber().key_rule(_plain(key)) is not None


def _shown_text(text: str) -> tuple[str | None, bool, bool]:
    """``(shown, exact, truncated)``: the redacted, bounded form of ``text`` (None when too long to scan)."""
    text = _plain(text)
    if len(text) > _SCAN_LIMIT:
        return None, False, True
    redacted = redact_text(text)
    if len(redacted) > _SHOWN_LIMIT:
        return redacted[:_SHOWN_LIMIT], False, True
    return redacted, redacted == text, False


def _render_text(text: str) -> tuple[str, bool]:
    shown, exact, truncated = _shown_text(text)
    if shown is None:
        return f"<{len(text)} characters, not shown>", False
    return repr(shown) + (f"... ({len(text)} characters)" if truncated else ""), exact


def _render(value: object, depth: int) -> tuple[str, bool]:
    """``(text, exact)``: how ``value`` is shown, and whether that is exactly its ``repr``."""
    if value is None or value is True or value is False:
        return repr(value), True
    if isinstance(value, str):
        text, exact = _render_text(value)
        return text, exact and type(value) is str
    if isinstance(value, int):
        bits = int.bit_length(value)
        if bits > _INT_BITS_LIMIT:
            return f"<an integer of {bits} bits, not shown>", False
        return int.__repr__(value), type(value) is int
    if isinstance(value, float):
        return float.__repr__(value), type(value) is float
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{type(value).__name__} of {memoryview(value).nbytes} bytes, not shown>", False
    if depth >= 2:
        return f"<{type(value).__name__}>", False
    if isinstance(value, Mapping):
        items = []
        for index, (key, item) in enumerate(value.items()):
            if index == _ITEMS_LIMIT:
                items.append(("...", False))
                break
            key_text, key_exact = _render(key, depth + 1)
            item_text, item_exact = (repr(REDACTED), False) if _sensitive_key(key) else _render(item, depth + 1)
            items.append((f"{key_text}: {item_text}", key_exact and item_exact))
        exact = type(value) is dict and all(e for _, e in items)
        return "{" + ", ".join(t for t, _ in items) + "}", exact
    if isinstance(value, (list, tuple)):
        parts: list[tuple[str, bool]] = []
        for index, item in enumerate(value):
            if index == _ITEMS_LIMIT:
                parts.append(("...", False))
                break
            if isinstance(item, tuple) and len(item) == 2 and _sensitive_key(item[0]):  # (name, value) pairs
                parts.append((f"({_render(item[0], depth + 1)[0]}, {REDACTED!r})", False))
            else:
                parts.append(_render(item, depth + 1))
        exact = type(value) in (list, tuple) and all(e for _, e in parts)
        if isinstance(value, list):
            return "[" + ", ".join(t for t, _ in parts) + "]", exact
        return "(" + ", ".join(t for t, _ in parts) + ("," if len(parts) == 1 else "") + ")", exact
    text = repr(value)
    if not isinstance(text, str):
        raise TypeError("__repr__ returned a non-string")
    shown, exact, truncated = _shown_text(text)
    if shown is None:
        return f"<{type(value).__name__} value, not shown>", False
    return shown + ("..." if truncated else ""), exact


def describe_value(value: object, *, secret: bool = False) -> tuple[str, bool]:
    """How a configuration value is shown in a message: ``(text, exact)``.

    ``exact`` is True when the text is exactly ``repr(value)`` (nothing hidden). A ``secret`` value is never shown;
    other values are redacted with :func:`redact_text` (mapping values by their key as well), bounded in length, and
    values whose ``repr`` raises or would be huge (a 5,000-digit int) are described by their type or size instead.
    This function never raises.
    """
    if secret:
        return repr(REDACTED), False
    try:
        return _render(value, 0)
    except Exception:  # a hostile __repr__, __len__, items(), ...: describe, never fail
        try:
            name = type(value).__name__
        except Exception:
            name = "object"
        return f"<{_plain(name) if isinstance(name, str) else 'object'} value, not shown>", False


class ConfigurationError(ValueError):
    """A setting has a value lukhas-obs cannot use.

    The message names the field, where the value came from (argument or environment variable), the value, and what is
    accepted, e.g. ``otlp_protocol='foo' (from OTEL_EXPORTER_OTLP_PROTOCOL) is not accepted; expected one of: grpc,
    http/protobuf, http``. The value is shown through :func:`describe_value`: never for a ``secret`` setting, and with
    credentials redacted for every other one. ``value`` holds the offending value, or, when any part of it was hidden,
    the text the message shows instead. ``setting`` names the ``configure()`` argument when ``field`` is a variable.
    """

    def __init__(
        self,
        field: str,
        value: object,
        expected: str,
        source: str | None = None,
        *,
        secret: bool = False,
        setting: str | None = None,
    ) -> None:
        shown, exact = describe_value(value, secret=secret)
        self.field = field
        self.value = value if exact else (REDACTED if secret else shown)
        self.expected = expected
        self.source = source
        self.setting = setting
        notes = []
        if source and source != field:
            notes.append(f"from {source}")
        if setting and setting != field:
            notes.append(f"the {setting} setting")
        origin = f" ({'; '.join(notes)})" if notes else ""
        super().__init__(f"lukhas_obs: {field}={shown}{origin} is not accepted; expected {expected}")


class AlreadyConfiguredError(RuntimeError):
    """``configure()`` was called again with settings that differ from the active ones.

    lukhas-obs never half-applies a second configuration: call :func:`lukhas_obs.shutdown` first, then configure
    again (everything is rebuilt), or pass ``reconfigure=True`` to do both in one call.
    """

    def __init__(self, differing: Iterable[str]) -> None:
        self.differing = tuple(differing)
        super().__init__(
            "lukhas_obs is already configured with different settings (differs in: "
            + ", ".join(self.differing)
            + "); call lukhas_obs.shutdown() first or pass reconfigure=True"
        )


class CatalogError(ValueError):
    """A catalog (metric and span specification) is invalid; raised when it is loaded."""

    def __init__(self, catalog: str, problems: Iterable[str]) -> None:
        self.catalog = catalog
        self.problems = tuple(problems)
        super().__init__(f"catalog {catalog!r} is invalid:\n  - " + "\n  - ".join(self.problems))
