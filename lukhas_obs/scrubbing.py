"""One scrubber for every signal: span names, span attributes, span events (their names, exception messages and stack
traces), span status, link attributes, metric attribute values, the resource, and log records.

Two kinds of rules:

- **Key rules** look at an attribute *name*, split into words (``http.request.header.authorization`` →
  ``http request header authorization``; ``apiKey`` → ``api key``; ``DB_PASSWORD`` → ``db password``). A name with
  a sensitive word (password, pass, pwd, secret, token, jwt, authorization, cookie, session, csrf, credential, totp,
  ...), a sensitive pair (api key, private key, credit card, auth key, ...) or a glued compound (``PGPASSWORD``,
  ``accesstoken``, ``jsessionid``, ``clientsecret``) has its whole value replaced. Whole words keep ``passage``,
  ``compass``, ``tokenizer_name`` or ``author`` readable. A name whose *last* word says it describes the secret
  rather than holds it — count, length, type, expiry, name, enabled, ... — is kept: ``token_count`` and
  ``password_length`` are not secrets.
- **Value rules** find secret *shapes* inside any string: ``key=value`` / ``key: value`` / JSON ``"key": "value"``
  pairs whose key passes the key rules (``DB_PASSWORD=…``, ``?access_token=…``, ``"pass": "…"``, escaped JSON, CLI
  ``--password …``), ``Bearer``/``Basic``/``token`` credentials, passwords in URLs, PEM and PuTTY private keys,
  JWTs, argon2/bcrypt/scrypt/pbkdf2 hashes, Luhn-valid card numbers, and vendor tokens taken from the public
  secret-scanning rule sets (gitleaks ``cmd/generate/config/rules``, Yelp detect-secrets ``plugins``): GitHub,
  GitLab, Slack tokens and webhooks, AWS access key ids, Stripe, Google API keys, OpenAI/Anthropic ``sk-``, npm,
  PyPI, Twilio, SendGrid, Shopify. Only the matched secret is replaced, so an exception message stays readable.

The placeholder names the rule that fired — ``[REDACTED:password]`` — never any part of the value. Extra patterns
(regular expressions, applied to names and values) and an allow-list of attribute names are configurable.

**Linear time, bounded scan.** Every built-in pattern is linear by construction, without possessive quantifiers or
atomic groups (Python 3.10 has neither): each starts with a literal (so ``re`` finds candidates with its fast
literal search), quantifiers that follow one another never overlap or are bounded, and anchors that would let a
pattern restart inside a run it already scanned (``eyJ-eyJ-…``, ``a.a.a…://``) are lookbehinds placed after the
literal. All rules report spans of the original text, merged once, so the output is built in one pass and
scrubbing is idempotent. A string is scanned up to :data:`MAX_SCAN_CHARS` characters; the rest is **cut** and
replaced by ``[REDACTED:truncated]`` (an unscanned tail could hold anything, so it is never emitted). The cut
backs off over a token-like run it would split, so no head of a token is left behind. Measured figures:
``benchmarks/bench_scrubber.py``.

Limits (what no scrubber can know): a secret with no recognisable shape under an innocuous name (a base32 TOTP
seed in an attribute called ``note``); a password in prose (``my password is hunter2``); vendor formats not listed
here. The ``key: value`` rule also redacts a word after ``token:`` in prose (``refresh token: connection refused``).
User ``extra_patterns`` are the user's own regular expressions: they run on the bounded scan only, and their time
is theirs.
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import itertools
import logging
import re
import string
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status

from lukhas_obs import drops

__all__ = [
    "DEFAULT_SENSITIVE_WORDS",
    "MAX_SCAN_CHARS",
    "Scrubber",
    "ScrubbingLogFilter",
    "ScrubbingSpanExporter",
    "placeholder",
    "scrub_log_records",
]

#: Longest part of a string the value rules scan; the rest is cut (see the module docstring).
MAX_SCAN_CHARS = 64 * 1024
#: How far the cut backs up so it does not split a token (vendor tokens are shorter than this).
_CUT_BACKOFF = 512

#: Single words that make an attribute name sensitive.
DEFAULT_SENSITIVE_WORDS: frozenset[str] = frozenset(
    {
        "password", "passwd", "passphrase", "pass", "pwd", "secret", "secrets", "token", "jwt", "bearer",
        "authorization", "cookie", "cookies", "session", "sessionid", "sessid", "csrf", "xsrf", "credential",
        "credentials", "apikey", "totp", "otp", "mfa", "ssn", "cvv", "cvc", "pin", "signature", "sig", "dsn",
    }
)  # fmt: skip
#: Adjacent word pairs that make an attribute name sensitive (detect-secrets ``keyword.py`` DENYLIST pairs, ...).
DEFAULT_SENSITIVE_PAIRS: frozenset[tuple[str, str]] = frozenset(
    {
        ("api", "key"), ("private", "key"), ("priv", "key"), ("secret", "key"), ("access", "key"), ("auth", "key"),
        ("client", "key"), ("account", "key"), ("service", "key"), ("signing", "key"), ("encryption", "key"),
        ("master", "key"), ("hmac", "key"), ("session", "key"), ("credit", "card"), ("card", "number"),
        ("set", "cookie"), ("client", "secret"), ("refresh", "token"), ("access", "token"),
    }
)  # fmt: skip
#: Glued compounds found *inside* one word (``PGPASSWORD``, ``accesstoken``): substring → rule words.
_COMPOUND_STEMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("password", ("password",)), ("passwd", ("passwd",)), ("passphrase", ("passphrase",)), ("pwd", ("pwd",)),
    ("secret", ("secret",)), ("credential", ("credential",)), ("apikey", ("api", "key")),
    ("privatekey", ("private", "key")), ("accesskey", ("access", "key")), ("sessionid", ("session",)),
    ("sessid", ("session",)), ("cookie", ("cookie",)), ("csrf", ("csrf",)), ("xsrf", ("xsrf",)), ("jwt", ("jwt",)),
    ("totp", ("totp",)),
)  # fmt: skip
#: A name whose last word is one of these describes a secret rather than holds it (``token_count``).
_METADATA_WORDS: frozenset[str] = frozenset(
    {
        "count", "counts", "len", "length", "size", "limit", "limits", "max", "min", "total", "used", "usage",
        "type", "types", "kind", "ttl", "expiry", "expires", "expired", "age", "enabled", "disabled", "required",
        "policy", "strength", "rotated", "changed", "present", "provided", "valid", "ok", "status", "version",
        "algorithm", "alg", "name", "names", "format", "source", "url", "uri", "endpoint", "issuer", "scope",
        "scopes", "audience", "attempts", "retries", "failures", "errors", "error", "reason", "result",
    }
)  # fmt: skip

#: Strings up to this length have their scrubbed form memoised (attribute values repeat: tiers, components, ...).
_MEMO_MAX_LENGTH = 256
_MEMO_MAX_ENTRIES = 4096
_KEY_CACHE_MAX_ENTRIES = 4096

_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD_RE = re.compile(r"[a-z0-9]+")
_KEY_CHARS = string.ascii_letters + string.digits + "_.-"
_TOKEN_CHARS = string.ascii_letters + string.digits + "_.-+/=~:%@$"
_ASCII_LOWER = {ord(c): ord(c.lower()) for c in string.ascii_uppercase}
_TRUNCATED = "[REDACTED:truncated]"


def placeholder(rule: str) -> str:
    """The text that replaces a redacted value: it names the rule, never the value."""
    return f"[REDACTED:{rule}]"


def _plain(text: str) -> str:
    """``text`` as an exact ``str``: a subclass's own ``__hash__``/``__len__``/``lower`` may raise or lie."""
    return text if text.__class__ is str else str.__str__(text)


def _key_words(key: str) -> list[str]:
    """``apiKey`` → ``[api, key]``, ``DB_PASSWORD`` → ``[db, password]``."""
    if not key.islower():
        key = _CAMEL_RE.sub(" ", key)
    return _WORD_RE.findall(key.lower())


def _classify_words(words: list[str]) -> tuple[str, ...] | None:
    """The sensitive word(s) of a split name, or None (see the module docstring for the order of the checks)."""
    if not words or (len(words) > 1 and words[-1] in _METADATA_WORDS):
        return None
    for word in words:
        if word in DEFAULT_SENSITIVE_WORDS:
            return (word,)
    for pair in itertools.pairwise(words):
        if pair in DEFAULT_SENSITIVE_PAIRS:
            return pair
    for word in words:
        if len(word) > 5 and word.endswith("token"):  # authtoken, accesstoken, csrftoken (not "tokenizer")
            return ("token",)
        for stem, rule in _COMPOUND_STEMS:
            if stem in word and not (stem == "secret" and "secretar" in word):  # secretary is no secret
                return rule
    return None


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


_NO_SEPARATORS = str.maketrans("", "", " -")


def _card_ok(text: str) -> bool:
    digits = text.translate(_NO_SEPARATORS)
    return 13 <= len(digits) <= 19 and digits.isascii() and digits.isdigit() and _luhn_ok(digits)


def _basic_ok(text: str) -> bool:
    """``Basic`` credentials are base64 of ``user:password``: decode to tell them from prose (``Basic auth``)."""
    try:
        return b":" in base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False


class _Rule(NamedTuple):
    """A value rule: a linear pattern, the group it redacts, an optional check on the match, and its placeholder."""

    name: str
    pattern: re.Pattern[str]
    lowered: bool  # the pattern is lower-case and runs on the lower-cased text (same positions)
    group: str | int = 0
    check: Callable[[str], bool] | None = None

    @property
    def prefix(self) -> str:
        """The literal every match starts with: ``re`` searches for it at C speed, short texts test it with ``in``."""
        return _literal_prefix(self.pattern.pattern)


def _literal_prefix(pattern: str) -> str:
    head = re.match(r"(?:[A-Za-z0-9_ :/-]|\\[.$])+", pattern)
    return head.group(0).replace("\\", "") if head else ""


_B64URL = "A-Za-z0-9_-"


def _rules() -> tuple[_Rule, ...]:
    """The built-in value rules, most specific first: on overlap, the earlier rule names the placeholder."""
    r = re.compile
    return (
        # PEM blocks (gitleaks privatekey.go, detect-secrets private_key.py); an unterminated block runs to the end.
        _Rule(
            "private-key",
            r(
                r"-----BEGIN (?:[A-Z0-9_-]{1,24} ){0,4}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
                r"(?:-----END (?:[A-Z0-9_-]{1,24} ){0,4}PRIVATE KEY(?: BLOCK)?-----|\Z)"
            ),
            False,
        ),
        _Rule("private-key", r(r"PuTTY-User-Key-File-\d:[\s\S]*?(?:Private-MAC: ?[0-9a-fA-F]+|\Z)"), False),
        # JWTs (gitleaks jwt.go, detect-secrets jwt.py): header "eyJ" not inside a base64url run; optional signature.
        _Rule(
            "jwt",
            r(rf"eyJ(?<![{_B64URL}]eyJ)[{_B64URL}]{{10,}}\.[{_B64URL}]{{4,}}(?:\.[A-Za-z0-9_+/=-]*)?"),
            False,
        ),
        _Rule("jwt", r(r"ZXlK(?<![A-Za-z0-9+/]ZXlK)[A-Za-z0-9+/_-]{40,}={0,2}"), False),  # gitleaks jwt-base64
        # Authorization schemes (on lower-cased text).
        # RFC 6750 b64token: "=" only as padding at the end, so "Bearer access_token=..." is a key, not a token.
        _Rule(
            "authorization", r(r"bearer[ \t]+(?!realm\b)(?P<v>[a-z0-9._~+/-]{4,}=*)(?![a-z0-9._~+/=\[-])"), True, "v"
        ),
        _Rule("authorization", r(r"basic[ \t]+(?P<v>[a-z0-9+/]{6,}={0,2})"), True, "v", _basic_ok),
        _Rule(
            "authorization",
            r(r"token[ \t]+(?=[a-z._~+/-]{0,256}[0-9])(?P<v>[a-z0-9._~+/-]{8,}=*)(?![a-z0-9._~+/=\[-])"),
            True,
            "v",
        ),
        _Rule("authorization", r(r"digest[ \t]+(?=[a-z]{1,32}=)(?P<v>[^\n]{1,4096})"), True, "v"),
        # user:password@ in URLs (detect-secrets basic_auth.py): anchored on "://", never on the scheme's letters.
        _Rule("url-password", r(r"://[^/\s:@?#\"'<>]*:(?P<v>[^/\s?#\"'<>]+)@"), False, "v"),
        _Rule("password-hash", r(r"\$(?:argon2(?:id|i|d)|2[aby]|scrypt|pbkdf2[-\w]{0,16})\$[^\s\"';]+"), False),
        # Vendor tokens: gitleaks cmd/generate/config/rules/*.go and detect-secrets plugins/*.py.
        _Rule("github-token", r(r"gh[pousr]_[0-9A-Za-z]{36,251}"), False),
        _Rule("github-token", r(r"github_pat_[0-9A-Za-z_]{22,251}"), False),
        _Rule(
            "gitlab-token",
            r(r"gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas|ffct)-[0-9A-Za-z_-]{20,300}(?:\.[0-9a-z]{9})?"),
            False,
        ),
        _Rule("gitlab-token", r(r"GR1348941[0-9A-Za-z_-]{20,300}"), False),
        _Rule("slack-token", r(r"xox[abposre]-\d+-[0-9A-Za-z-]{10,}"), False),
        _Rule("slack-token", r(r"xapp-\d-[0-9A-Za-z-]{10,}"), False),
        _Rule(
            "slack-webhook",
            r(r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<v>[A-Za-z0-9_+/]{20,})"),
            False,
            "v",
        ),
        _Rule("aws-access-key", r(r"A(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])(?<![A-Z0-9]....)[A-Z0-9]{16}(?![A-Z0-9])"), False),
        _Rule("stripe-key", r(r"sk_(?<![0-9A-Za-z_]sk_)(?:test|live|prod)_[0-9A-Za-z]{10,}"), False),
        _Rule("stripe-key", r(r"rk_(?<![0-9A-Za-z_]rk_)(?:test|live|prod)_[0-9A-Za-z]{10,}"), False),
        _Rule("google-api-key", r(r"AIza(?<![\w-]AIza)[\w-]{35}(?![\w-])"), False),
        _Rule("api-key", r(r"sk-(?<![\w-]sk-)[A-Za-z0-9_-]{20,}"), False),  # OpenAI, Anthropic, ...
        _Rule("npm-token", r(r"npm_[A-Za-z0-9]{36}"), False),
        _Rule("pypi-token", r(r"pypi-AgE[A-Za-z0-9_-]{50,}"), False),
        _Rule("twilio-key", r(r"SK(?<![0-9A-Za-z]SK)[0-9a-zA-F]{32}(?![0-9A-Za-z])"), False),
        _Rule("twilio-key", r(r"AC(?<![0-9A-Za-z]AC)[0-9a-zA-F]{32}(?![0-9A-Za-z])"), False),
        _Rule("sendgrid-key", r(r"SG\.[\w-]{16,32}\.[\w-]{16,64}"), False),
        _Rule("shopify-token", r(r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"), False),
    )


_VALUE_RULES = _rules()
_PREFIXES = tuple(rule.prefix for rule in _VALUE_RULES)
#: Rule ``i`` has priority ``2 * i`` (lower wins on overlap); key/value pairs rank right after the JWT rules, before
#: schemes and vendors (``"api_key": "sk-…"`` is named by its key); cards and extra patterns come last.
_KV_PRIORITY = 2 * next(i for i, rule in enumerate(_VALUE_RULES) if rule.name == "authorization") - 1
_CARD_PRIORITY = 2 * len(_VALUE_RULES)
_EXTRA_PRIORITY = _CARD_PRIORITY + 2

#: Card numbers: 13-19 digits, or groups of 4 (4-6-5 / 4-6-4 for Amex/Diners), Luhn-checked. Searched in a byte mask
#: of the text (digit → ``0``, space and dash kept, anything else → ``x``), so the search runs on the literal ``0000``
#: instead of testing a digit class at every position; positions are the text's (one byte per character).
_CARD_MASK = bytes(
    ord("0") if chr(b).isdigit() and b < 128 else b if b in b" -" else ord("x") for b in range(256)
)
_CARD_RE = re.compile(rb"0000(?<![0-]0000)(?:0{9,15}|(?:[ -]0000){2,3}(?:[ -]0{1,4})?|[ -]000000[ -]0{4,5})(?!0)")
_CARD_NAME = placeholder("credit-card")

#: ``key <op> value`` where the key holds a sensitive stem; the key itself is then judged by the key rules. One
#: pattern per stem, each led by its literal. The rest of the key (at most 32 characters after the stem) is taken
#: whole through a lookahead and a back-reference, the atomic-group idiom that works on Python 3.10: it is never
#: re-tried character by character, so a run of stems (``keykeykey…``) costs each start 32 steps, not 32 × 6.
_KV_STEMS = ("pass", "pwd", "secret", "token", "key", "auth", "cred", "sess", "cookie", "srf", "jwt", "otp", "pin",
             "ssn", "cv", "sig", "mfa", "dsn")  # fmt: skip
_SCHEMES = "bearer|basic|digest|negotiate|token"
_KV_KEY_TAIL = r"(?=(?P<rest>[a-z0-9_.-]{0,32}))(?P=rest)(?:\\?[\"'])?[ \t]{0,8}(?:===?|!==?|:=|=>|=|:)[ \t]{0,8}"
_KV_RES = tuple(re.compile(re.escape(stem) + _KV_KEY_TAIL) for stem in _KV_STEMS)
#: The value after a sensitive key's operator: quoted (to the closing quote, JSON-escaped quotes too) or bare; a
#: scheme word (``Bearer``) is kept; a value that is already a placeholder is left alone (idempotence).
_KV_VALUE_RE = re.compile(
    rf"(?:(?:{_SCHEMES})[ \t]+|(?!(?:{_SCHEMES})[ \t]))(?!\[redacted:)"
    r"(?:\\?\"(?!\[redacted:)(?P<dq>[^\"\\\n]+)|\\?'(?!\[redacted:)(?P<sq>[^'\\\n]+)"
    r"|(?P<bare>[^\s\"',;&)}\]<>=:\\][^\s\"',;&)}\]<>]*))"
)
#: ``--password value`` on a command line (``--password=value`` is a key/value pair already).
_CLI_RE = re.compile(
    r"--(?<![\w-]--)(?P<key>(?=[a-z])[a-z0-9-]{0,40}?(?:pass|pwd|secret|token|key|auth|cred)[a-z0-9-]{0,24})"
    r"[ \t]+(?!-)(?:\"(?P<dq>[^\"\n]+)|'(?P<sq>[^'\n]+)|(?P<bare>[^\s\"']+))"
)
_KEY_CHAR_SET = frozenset(_KEY_CHARS)
#: Up to this length, a rule runs only when its literal prefix occurs (``in`` is cheaper than a call into ``re``).
_GATE_MAX_LENGTH = 8192


class _Missing(enum.Enum):
    """The type of :data:`_MISSING`, so a type checker narrows ``cache.get(key, _MISSING)`` on ``is _MISSING``."""

    MISSING = enum.auto()


#: "Not cached" (``None`` is a cached answer).
_MISSING: Final = _Missing.MISSING


@functools.lru_cache(maxsize=256)
def _text_placeholder(words: tuple[str, ...]) -> str:
    return placeholder("_".join(words))


def _hint_trie() -> re.Pattern[str]:
    """One pattern that finds any rule's literal (lower-cased) in a short text, factored by first character so
    ``re`` tries few branches per position: the prefilter that lets most short strings skip every rule."""
    literals = {p.lower() for p in _PREFIXES if len(p) > 1 and p not in ("SK", "AC")} | set(_KV_STEMS)
    literals |= {"akia", "asia", "abia", "acca", "a3t"}  # the AWS rule's literal is just "A"
    literals |= {"$argon2", "$2a$", "$2b$", "$2y$", "$scrypt$", "$pbkdf2"}  # the hash rule's literal is just "$"
    tails: dict[str, list[str]] = {}
    for literal in sorted(literals, key=len, reverse=True):
        tails.setdefault(literal[0], []).append(re.escape(literal[1:]))
    tails["s"].append("k[0-9a-z]{32}")  # Twilio SK…, AC… (their literals alone are too common to gate on)
    tails["a"].append("c[0-9a-z]{32}")
    return re.compile("|".join(f"{re.escape(first)}(?:{'|'.join(rest)})" for first, rest in tails.items()))


_SHORT_HINT = _hint_trie()
#: Up to this length the prefilter pays off; longer texts go straight to the per-rule literal checks.
_SHORT_HINT_MAX_LENGTH = 128


class Scrubber:
    """Redacts secrets by attribute name and by value shape; see the module docstring.

    ``extra_patterns`` are regular expressions (case-insensitive) matched against attribute names (whole value
    redacted) and searched in string values (the match redacted). ``allow`` names attributes never scrubbed.
    No method raises: a value that cannot be read is replaced by ``[REDACTED:unreadable]``.
    """

    def __init__(self, extra_patterns: Sequence[str] = (), allow: Iterable[str] = ()) -> None:
        self.extra_patterns = tuple(extra_patterns)
        self._extra = tuple(re.compile(p, re.IGNORECASE) for p in self.extra_patterns)
        self.allow = frozenset(allow)
        self._key_cache: dict[str, tuple[str, ...] | None] = {}
        self._text_memo: dict[str, str] = {}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Scrubber) and other.extra_patterns == self.extra_patterns and other.allow == self.allow
        )

    def __hash__(self) -> int:
        return hash((self.extra_patterns, self.allow))

    # -- names ---------------------------------------------------------------------------------------------------

    def _classify(self, key: str) -> tuple[str, ...] | None:
        """The words that make ``key`` sensitive (cached, bounded), or None."""
        cached = self._key_cache.get(key, _MISSING)
        if cached is not _MISSING:
            return cached
        rule: tuple[str, ...] | None = None
        if key not in self.allow:
            rule = _classify_words(_key_words(key))
            if rule is None:
                rule = next((("pattern:" + p.pattern,) for p in self._extra if p.search(key)), None)
        if len(key) <= _MEMO_MAX_LENGTH:  # bounded in entries and in size: a huge name is judged, not kept
            if len(self._key_cache) >= _KEY_CACHE_MAX_ENTRIES:
                self._key_cache.clear()  # names repeat, so the live ones are back after a few calls
            self._key_cache[key] = rule
        return rule

    def key_rule(self, key: str) -> str | None:
        """The rule a sensitive attribute name matches (``password``, ``api-key``, ...), or None."""
        try:
            words = self._classify(_plain(key))
        except Exception:
            return "unreadable"
        return "-".join(words) if words else None

    # -- values --------------------------------------------------------------------------------------------------

    def scrub_text(self, text: str) -> str:
        """``text`` with every secret-shaped substring replaced by its placeholder (the same object if none).

        At most :data:`MAX_SCAN_CHARS` characters are scanned; a longer text is cut and ends in
        ``[REDACTED:truncated]``.
        """
        try:
            text = _plain(text)
            short = len(text) <= _MEMO_MAX_LENGTH
            if short:
                memo = self._text_memo.get(text)
                if memo is not None:
                    return memo
                result = self._scrub(text)
                if len(self._text_memo) >= _MEMO_MAX_ENTRIES:
                    self._text_memo.clear()
                self._text_memo[text] = result
                return result
            if len(text) <= MAX_SCAN_CHARS:
                return self._scrub(text)
            return self._scrub(_bounded_head(text)) + _TRUNCATED
        except Exception as exc:  # never emit what could not be scrubbed
            drops.report("scrubber", "scrub_failed", type(exc).__name__)
            return placeholder("unreadable")

    def _apply_value_rules(self, text: str) -> str:
        """Every value rule over the whole of ``text``, unbounded (what the linear-time tests and benchmark time)."""
        return self._scrub(_plain(text))

    def _scrub(self, text: str) -> str:
        spans = self._spans(text)
        if not spans:
            return text
        spans.sort()
        out: list[str] = []
        position = 0
        start, end, priority, name = spans[0]
        for s, e, p, n in itertools.islice(spans, 1, None):
            if s < end:  # overlapping: one region, named by the most specific rule
                if e > end:
                    end = e
                if p < priority:
                    priority, name = p, n
                continue
            out += (text[position:start], name)
            position = end
            start, end, priority, name = s, e, p, n
        out += (text[position:start], name, text[end:])
        return "".join(out)

    def _spans(self, text: str) -> list[tuple[int, int, int, str]]:
        """(start, end, priority, placeholder) of every secret in ``text``; positions of the original text."""
        lowered = text.lower()
        if len(lowered) != len(text):  # a character whose lower case is longer: keep positions, lower ASCII only
            lowered = text.translate(_ASCII_LOWER)
        spans: list[tuple[int, int, int, str]] = []
        append = spans.append
        gate = len(text) <= _GATE_MAX_LENGTH  # short: a rule runs only if its literal occurs
        hinted = len(text) > _SHORT_HINT_MAX_LENGTH or _SHORT_HINT.search(lowered) is not None
        for index, rule in enumerate(_VALUE_RULES if hinted else ()):
            source = lowered if rule.lowered else text
            if gate and _PREFIXES[index] not in source:
                continue
            priority, name, group, check = 2 * index, placeholder(rule.name), rule.group, rule.check
            for match in rule.pattern.finditer(source):
                start, end = match.span(group)
                if start < end and (check is None or check(text[start:end])):
                    append((start, end, priority, name))
        if hinted:
            self._key_value_spans(text, lowered, append, gate)
        mask = (text.encode("ascii") if text.isascii() else text.encode("ascii", "replace")).translate(_CARD_MASK)
        if b"0000" in mask:
            for card in _CARD_RE.finditer(mask):  # bytes matches: not the ``match`` (str) of the loops around
                start, end = card.span()
                if _card_ok(text[start:end]):
                    append((start, end, _CARD_PRIORITY, _CARD_NAME))
        for pattern in self._extra:
            name = placeholder(f"pattern:{pattern.pattern}")
            for match in pattern.finditer(text):
                if match.end() > match.start():
                    append((match.start(), match.end(), _EXTRA_PRIORITY, name))
        return spans

    def _key_value_spans(
        self, text: str, lowered: str, append: Callable[[tuple[int, int, int, str]], None], gate: bool
    ) -> None:
        """``key = value`` pairs whose key the key rules call sensitive: the value is redacted, the key kept."""
        classify, key_chars, cache, value_at = self._classify, _KEY_CHAR_SET, self._key_cache, _KV_VALUE_RE.match
        # Candidates of every stem in text order, so a value redacted once hides the candidates inside it (each
        # character of a value is read once) and a key holding two stems is judged once.
        candidates = [
            (m.start(), m.end("rest"), m.end())
            for stem, pattern in zip(_KV_STEMS, _KV_RES, strict=True)
            if not gate or stem in lowered
            for m in pattern.finditer(lowered)
        ]
        candidates.sort()
        covered = 0
        for start, key_end, op_end in candidates:
            if start < covered:
                continue
            if start and text[start - 1] in key_chars:  # the stem is inside a longer key: take all of it
                head = text[start - 64 if start > 64 else 0 : start]
                start -= len(head) - len(head.rstrip(_KEY_CHARS))
            key = text[start:key_end]
            words = cache.get(key, _MISSING)
            if words is _MISSING:
                words = classify(key)
            if words is None:
                continue
            value = value_at(lowered, op_end)
            if value is None:
                continue
            value_start, value_end = value.span(value.lastgroup)  # type: ignore[arg-type]
            append((value_start, value_end, _KV_PRIORITY, _text_placeholder(words)))
            covered = value_end
        if "--" in lowered:
            for match in _CLI_RE.finditer(lowered):
                words = classify(text[match.start("key") : match.end("key")])
                if words is not None:
                    value_start, value_end = match.span(match.lastgroup)  # type: ignore[arg-type]
                    append((value_start, value_end, _KV_PRIORITY, _text_placeholder(words)))

    def scrub_value(self, key: str, value: Any) -> Any:
        """The value to emit for attribute ``key``: redacted whole for a sensitive name, else scrubbed inside.

        Returns ``value`` itself when nothing changed (sequences included), so callers can compare by identity.
        """
        try:
            key = _plain(key)
            if key in self.allow:
                return value
            words = self._classify(key)
            if words is not None:
                return placeholder("-".join(words))
            if isinstance(value, str):
                return self.scrub_text(value)
            if isinstance(value, (list, tuple)):
                items = [self.scrub_text(v) if isinstance(v, str) else v for v in value]
                if all(new is old for new, old in zip(items, value, strict=True)) and value.__class__ in (list, tuple):
                    return value
                return tuple(items) if isinstance(value, tuple) else items
            return value
        except Exception as exc:
            drops.report("scrubber", "scrub_failed", type(exc).__name__)
            return placeholder("unreadable")

    def scrub_attributes(self, attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A scrubbed copy of ``attributes``, or None when nothing changed (so callers can keep the original).

        A mapping that cannot be read (its iteration raises) yields ``{}``: its attributes are withheld, never
        passed on unscrubbed, and the failure is counted (``metric="scrubber"``, ``reason="scrub_failed"``).
        """
        try:
            if not attributes:
                return None
            out: dict[str, Any] = {}
            changed = False
            for key, value in attributes.items():
                new = self.scrub_value(key, value)
                if new is not value or key.__class__ is not str:
                    changed = True
                    key = _plain(key)
                out[key] = new
            return out if changed else None
        except Exception as exc:
            drops.report("scrubber", "scrub_failed", type(exc).__name__)
            return {}


def _bounded_head(text: str) -> str:
    """The first :data:`MAX_SCAN_CHARS` characters, backed off over a token-like run the cut would split."""
    cut = MAX_SCAN_CHARS
    window = text[cut - _CUT_BACKOFF : cut]
    kept = window.rstrip(_TOKEN_CHARS)
    return text[: cut - (len(window) - len(kept)) if kept else cut - _CUT_BACKOFF]


class ScrubbingSpanExporter(SpanExporter):
    """Hands the wrapped exporter scrubbed copies of spans; every exporter lukhas-obs builds sits behind one.

    Spans are scrubbed one by one: a span that cannot be scrubbed is dropped alone (never exported unscrubbed)
    and counted (``lukhas_obs_dropped_measurements_total{metric="span_export",reason="scrub_failed"}``).
    """

    def __init__(self, inner: SpanExporter, scrubber: Scrubber) -> None:
        self.inner = inner
        self.scrubber = scrubber

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        cleaned: list[ReadableSpan] = []
        for span in spans:
            try:
                cleaned.append(self.scrub_span(span))
            except Exception as exc:  # drop this span only; the rest of the batch goes on
                drops.report("span_export", "scrub_failed", type(exc).__name__)
        if not cleaned:
            return SpanExportResult.SUCCESS
        return self.inner.export(cleaned)

    def scrub_span(self, span: ReadableSpan) -> ReadableSpan:
        """``span`` itself when nothing in it needs scrubbing, else a scrubbed copy (name, attributes, events, links,
        status description)."""
        s = self.scrubber
        name = span.name
        new_name = s.scrub_text(name)
        attributes = s.scrub_attributes(span.attributes)
        old_events, old_links = span.events, span.links
        events = [_scrub_event(s, e) for e in old_events]
        links = [_scrub_link(s, link) for link in old_links]
        status = span.status
        description = status.description
        new_description = s.scrub_text(description) if description else description
        if (
            new_name is name
            and attributes is None
            and all(new is old for new, old in zip(events, old_events, strict=True))
            and all(new is old for new, old in zip(links, old_links, strict=True))
            and new_description is description
        ):
            return span
        return ReadableSpan(
            name=new_name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=attributes if attributes is not None else span.attributes,
            events=events,
            links=links,
            kind=span.kind,
            status=status if new_description is description else Status(status.status_code, new_description),
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _scrub_event(scrubber: Scrubber, event: Event) -> Event:
    name = scrubber.scrub_text(event.name)
    attributes = scrubber.scrub_attributes(event.attributes)
    if attributes is None and name is event.name:
        return event
    return Event(name, attributes if attributes is not None else event.attributes, event.timestamp)


def _scrub_link(scrubber: Scrubber, link: Link) -> Link:
    attributes = scrubber.scrub_attributes(link.attributes)
    return link if attributes is None else Link(link.context, attributes)


class ScrubbingLogFilter(logging.Filter):
    """A logging filter that scrubs every record it sees: the formatted message, the exception traceback and the
    stack (attach it to your handlers). A record with an exception keeps its traceback as scrubbed ``exc_text`` and
    loses ``exc_info``, so no handler can render the raw exception again."""

    def __init__(self, scrubber: Scrubber | None = None) -> None:
        super().__init__()
        self.scrubber = scrubber or Scrubber()

    def filter(self, record: logging.LogRecord) -> bool:
        scrub = self.scrubber.scrub_text
        try:
            message = record.getMessage()
        except Exception:
            message = None
        try:
            if message is not None:
                cleaned = scrub(message)
                if cleaned is not message:
                    record.msg, record.args = cleaned, None
            if record.exc_info:
                if not record.exc_text:
                    record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
                record.exc_info = None
            if record.exc_text:
                record.exc_text = scrub(record.exc_text)
            if record.stack_info:
                record.stack_info = scrub(record.stack_info)
        except Exception:  # a record that cannot be scrubbed is not logged as it is
            record.msg, record.args, record.exc_info, record.exc_text, record.stack_info = (
                "lukhas_obs: log record withheld (it could not be scrubbed)",
                None,
                None,
                None,
                None,
            )
        return True


def scrub_log_records(scrubber: Scrubber, names: Iterable[str] = ("lukhas_obs", "opentelemetry")) -> Callable[[], None]:
    """Scrub every log record of the loggers ``names`` *and their children*, whatever handler later sees it.

    A filter added to a logger runs only for records logged on that very logger: a record of
    ``opentelemetry.exporter.otlp.proto.http.trace_exporter`` propagates to the handlers of ``opentelemetry``
    without passing its filters. This wraps the log-record factory instead, so the record is scrubbed as it is made.
    Returns a function that undoes the installation (safe to call more than once; a factory installed later by
    someone else stays in place, ours then just stops scrubbing).
    """
    prefixes = tuple(names)
    dotted = tuple(f"{name}." for name in prefixes)
    scrub = ScrubbingLogFilter(scrubber).filter
    previous = logging.getLogRecordFactory()
    active = True

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            name = record.name
            if active and (name in prefixes or name.startswith(dotted)):
                scrub(record)
        except Exception:  # pragma: no cover - the filter itself never raises; a hostile record name might
            pass
        return record

    def uninstall() -> None:
        nonlocal active
        active = False
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(previous)

    logging.setLogRecordFactory(factory)
    return uninstall
