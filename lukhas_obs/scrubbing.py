"""One scrubber for every signal: span attributes, span events (exception messages and stack traces), span status,
metric attribute values, the resource, and log records.

Two kinds of rules:

- **Key rules** look at an attribute *name*, split into words (``http.request.header.authorization`` →
  ``http request header authorization``; ``apiKey`` → ``api key``). A name with a sensitive word (password, secret,
  token, jwt, authorization, cookie, session, csrf, credential, totp, ...) or pair (api key, private key, credit card)
  has its whole value replaced. Matching whole words keeps ``tokens_used`` or ``author`` intact.
- **Value rules** find secret *shapes* inside any string: JWTs, ``Bearer``/``Basic`` credentials, ``password=...``
  style pairs, passwords in URLs, PEM private keys, argon2/bcrypt hashes, card numbers (Luhn-checked), cloud keys.
  Only the matched secret is replaced, so an exception message stays readable.

The placeholder names the rule that fired — ``[REDACTED:password]`` — never any part of the value. Extra patterns
(regular expressions, applied to names and values) and an allow-list of attribute names are configurable.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status

__all__ = ["DEFAULT_SENSITIVE_WORDS", "Scrubber", "ScrubbingLogFilter", "ScrubbingSpanExporter", "placeholder"]

#: Single words that make an attribute name sensitive.
DEFAULT_SENSITIVE_WORDS: frozenset[str] = frozenset(
    {
        "password", "passwd", "passphrase", "pwd", "secret", "secrets", "token", "jwt", "bearer",
        "authorization", "cookie", "cookies", "session", "sessionid", "csrf", "xsrf", "credential", "credentials",
        "apikey", "totp", "otp", "mfa", "ssn", "cvv", "cvc", "pin", "signature",
    }
)  # fmt: skip
#: Adjacent word pairs that make an attribute name sensitive.
DEFAULT_SENSITIVE_PAIRS: frozenset[tuple[str, str]] = frozenset(
    {
        ("api", "key"), ("private", "key"), ("secret", "key"), ("access", "key"), ("credit", "card"),
        ("card", "number"), ("set", "cookie"), ("client", "secret"), ("refresh", "token"), ("access", "token"),
    }
)  # fmt: skip

_KEY_WORDS = r"password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|totp|otp|session(?:_?id)?|cookie|csrf|jwt"  # noqa: E501

#: (literal hints, compiled pattern, replacement). A rule's regex runs only when one of its lower-case hints occurs
#: in the text. Order matters: specific shapes before the generic ``key=value``.
_VALUE_RULES: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    (
        ("private key-----",),
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL),
        "[REDACTED:private-key]",
    ),
    (("eyj",), re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[REDACTED:jwt]"),
    (
        ("bearer", "basic", "token", "digest"),
        re.compile(r"(?i)\b(bearer|basic|token|digest)(\s+)[A-Za-z0-9._~+/=:-]{6,}"),
        r"\1\2[REDACTED:authorization]",
    ),
    (("://",), re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+):[^/\s@]+@"), r"\1:[REDACTED:url-password]@"),
    (("$argon2", "$2a$", "$2b$", "$2y$", "$scrypt$", "$pbkdf2"), re.compile(r"\$(?:argon2(?:id|i|d)|2[aby]|scrypt|pbkdf2[-\w]*)\$[^\s\"';]+"), "[REDACTED:password-hash]"),  # noqa: E501
    (("akia", "asia"), re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "[REDACTED:cloud-key]"),
    (
        ("pass", "pwd", "secret", "token", "key", "otp", "session", "cookie", "csrf", "jwt"),
        re.compile(rf"(?i)\b({_KEY_WORDS})(\"?'?\s*[:=]\s*\"?'?)([^\s\"',;&)}}\]]+)"),
        r"\1\2[REDACTED:\1]",
    ),
)
_CARD_RE = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
_NO_DIGITS = str.maketrans("", "", "0123456789")
_ANY_HINT = re.compile("|".join(re.escape(hint) for hints, _, _ in _VALUE_RULES for hint in hints))
#: Strings up to this length have their scrubbed form memoised (attribute values repeat: tiers, components, ...).
_MEMO_MAX_LENGTH = 256
_MEMO_MAX_ENTRIES = 4096


_CAMEL_RE = re.compile(r"([a-z0-9])([A-Z])")
_SPLIT_RE = re.compile(r"[^a-z0-9]+")


def placeholder(rule: str) -> str:
    """The text that replaces a redacted value: it names the rule, never the value."""
    return f"[REDACTED:{rule}]"


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _key_words(key: str) -> list[str]:
    return [w for w in _SPLIT_RE.split(_CAMEL_RE.sub(r"\1 \2", key).lower()) if w]


class Scrubber:
    """Redacts secrets by attribute name and by value shape; see the module docstring.

    ``extra_patterns`` are regular expressions (case-insensitive) matched against attribute names (whole value
    redacted) and searched in string values (the match redacted). ``allow`` names attributes never scrubbed.
    """

    def __init__(self, extra_patterns: Sequence[str] = (), allow: Iterable[str] = ()) -> None:
        self.extra_patterns = tuple(extra_patterns)
        self._extra = tuple(re.compile(p, re.IGNORECASE) for p in self.extra_patterns)
        self.allow = frozenset(allow)
        self._key_cache: dict[str, str | None] = {}
        self._text_memo: dict[str, str] = {}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Scrubber) and other.extra_patterns == self.extra_patterns and other.allow == self.allow
        )

    def __hash__(self) -> int:
        return hash((self.extra_patterns, self.allow))

    def key_rule(self, key: str) -> str | None:
        """The rule a sensitive attribute name matches, or None (cached: names are few)."""
        cached = self._key_cache.get(key, "")
        if cached != "":
            return cached
        rule: str | None = None
        if key not in self.allow:
            words = _key_words(key)
            rule = next((w for w in words if w in DEFAULT_SENSITIVE_WORDS), None)
            if rule is None:
                pair = next((p for p in itertools.pairwise(words) if p in DEFAULT_SENSITIVE_PAIRS), None)
                rule = "-".join(pair) if pair else None
            if rule is None:
                rule = next((f"pattern:{p.pattern}" for p in self._extra if p.search(key)), None)
        if len(self._key_cache) < 4096:
            self._key_cache[key] = rule
        return rule

    def scrub_text(self, text: str) -> str:
        """``text`` with every secret-shaped substring replaced by its placeholder."""
        short = len(text) <= _MEMO_MAX_LENGTH
        if short:
            memo = self._text_memo.get(text)
            if memo is not None:
                return memo
        result = self._apply_value_rules(text)
        if short:
            if len(self._text_memo) >= _MEMO_MAX_ENTRIES:
                self._text_memo.clear()
            self._text_memo[text] = result
        return result

    def _apply_value_rules(self, text: str) -> str:
        lowered = text.lower()
        if _ANY_HINT.search(lowered) is None and not self._extra and len(text) - len(text.translate(_NO_DIGITS)) < 13:
            return text  # the common case: nothing that could be a secret, decided in C
        for hints, pattern, replacement in _VALUE_RULES:
            if any(hint in lowered for hint in hints) and pattern.search(text):  # literal hint first: C speed
                text = pattern.sub(replacement, text)
        if len(text) - len(text.translate(_NO_DIGITS)) >= 13 and _CARD_RE.search(text):
            text = _CARD_RE.sub(_card_replacement, text)
        for pattern in self._extra:
            text = pattern.sub(placeholder(f"pattern:{pattern.pattern}"), text)
        return text

    def scrub_value(self, key: str, value: Any) -> Any:
        """The value to emit for attribute ``key``: redacted whole for a sensitive name, else scrubbed inside."""
        if key in self.allow:
            return value
        rule = self.key_rule(key)
        if rule is not None:
            return placeholder(rule)
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self.scrub_text(v) if isinstance(v, str) else v for v in value)
        return value

    def scrub_attributes(self, attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A scrubbed copy of ``attributes``, or None when nothing changed (so callers can keep the original)."""
        if not attributes:
            return None
        out: dict[str, Any] = {}
        changed = False
        for key, value in attributes.items():
            new = self.scrub_value(key, value)
            changed = changed or new != value
            out[key] = new
        return out if changed else None


def _card_replacement(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return placeholder("credit-card") if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


class ScrubbingSpanExporter(SpanExporter):
    """Hands the wrapped exporter scrubbed copies of spans; every exporter lukhas-obs builds sits behind one."""

    def __init__(self, inner: SpanExporter, scrubber: Scrubber) -> None:
        self.inner = inner
        self.scrubber = scrubber

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            cleaned = [self.scrub_span(span) for span in spans]
        except Exception:  # never export an unscrubbed span because scrubbing failed
            logging.getLogger("lukhas_obs").warning("lukhas_obs: span scrubbing failed; the batch is dropped")
            return SpanExportResult.FAILURE
        return self.inner.export(cleaned)

    def scrub_span(self, span: ReadableSpan) -> ReadableSpan:
        s = self.scrubber
        attributes = s.scrub_attributes(span.attributes)
        events = [_scrub_event(s, e) for e in span.events]
        links = [_scrub_link(s, link) for link in span.links]
        description = span.status.description
        new_description = s.scrub_text(description) if description else description
        if (
            attributes is None
            and all(new is old for new, old in zip(events, span.events, strict=True))
            and all(new is old for new, old in zip(links, span.links, strict=True))
            and new_description == description
        ):
            return span
        return ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=attributes if attributes is not None else span.attributes,
            events=events,
            links=links,
            kind=span.kind,
            status=Status(span.status.status_code, new_description),
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _scrub_event(scrubber: Scrubber, event: Event) -> Event:
    attributes = scrubber.scrub_attributes(event.attributes)
    if attributes is None:
        return event
    return Event(event.name, attributes, event.timestamp)


def _scrub_link(scrubber: Scrubber, link: Link) -> Link:
    attributes = scrubber.scrub_attributes(link.attributes)
    return link if attributes is None else Link(link.context, attributes)


class ScrubbingLogFilter(logging.Filter):
    """A logging filter that scrubs the formatted message of every record it sees (attach it to your handlers)."""

    def __init__(self, scrubber: Scrubber | None = None) -> None:
        super().__init__()
        self.scrubber = scrubber or Scrubber()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        cleaned = self.scrubber.scrub_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
