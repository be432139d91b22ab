"""The settings table: one row per parameter, with its argument, variables, parser, default and docs.

Each :class:`Param` says where a setting comes from (the ``configure()`` argument, then its variables in precedence
order, then ``OTEL_RESOURCE_ATTRIBUTES`` keys for the identity settings, then the default), how a raw value is parsed
and validated, what is accepted (used in error messages and the docs), and whether the value is a credential
(``secret``: never shown in a message or a ``repr``). :func:`lukhas_obs.settings.resolve_settings` resolves every row
with one loop; the README's settings table is generated from these rows
(:func:`lukhas_obs.settings.settings_reference`).

Parsers take ``(value, where)`` and return the parsed value or raise ``where.error(value)``. They may assume nothing
about the value (hostile objects, ``str`` subclasses whose methods raise, huge ints, NaN): the resolver turns any
other exception a parser lets through into a :class:`~lukhas_obs.errors.ConfigurationError` naming the field.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from lukhas_obs.errors import ConfigurationError

DEFAULT_SERVICE = "lukhas"
DEFAULT_LANE = "candidate"
DEFAULT_VERSION = "dev"
DEFAULT_ENVIRONMENT = "dev"
DEFAULT_NAMESPACE = "lukhas"
DEFAULT_PROMETHEUS_HOST = "127.0.0.1"
DEFAULT_PROMETHEUS_PORT = 9109
DEFAULT_TRACES_FILE = "lukhas-traces.jsonl"
DEFAULT_OTLP_TIMEOUT_S = 10.0
DEFAULT_METRIC_EXPORT_INTERVAL_S = 60.0
DEFAULT_SHUTDOWN_TIMEOUT_S = 5.0
DEFAULT_CARDINALITY_LIMIT = 1000
#: Longest accepted duration: beyond it the SDK's and threading's waits overflow (``threading.TIMEOUT_MAX``).
MAX_DURATION_S = 86400.0
DEFAULT_METRICS_PATH = "/metrics"
#: The built-in server's liveness path (not configurable; no metrics path may take it).
HEALTH_PATH = "/health"
JSON_CONTENT_TYPE = "application/json"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
#: ``(content type, body)``: what ``/health`` answered before the body was configurable.
DEFAULT_HEALTH_BODY = (JSON_CONTENT_TYPE, '{"status": "ok"}')
#: Largest ``/health`` body, in UTF-8 bytes; JSON nesting depth and item count of a mapping.
MAX_HEALTH_BODY_BYTES = 4096
MAX_HEALTH_JSON_DEPTH = 16
MAX_HEALTH_JSON_ITEMS = 512
#: Longest metrics path; most ``metrics_endpoints``; most catalogs per endpoint.
MAX_URL_PATH_CHARS = 256
MAX_METRICS_ENDPOINTS = 32
MAX_ENDPOINT_CATALOGS = 32

PROTOCOLS = ("grpc", "http/protobuf")
_PROTOCOL_ALIASES = {"grpc": "grpc", "http/protobuf": "http/protobuf", "http": "http/protobuf"}
TRACES_EXPORTERS = ("file", "console", "otlp", "none")
METRICS_EXPORTERS = ("prometheus", "otlp", "none")
#: Where log records of the stdlib ``logging`` integration go (:mod:`lukhas_obs.logs`); none by default.
LOGS_EXPORTERS = ("otlp", "file", "console", "none")
COMPRESSIONS = ("gzip", "none")
SIGNALS = ("traces", "metrics", "logs")

_LANE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_RESOURCE_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HEADER_VALUE_BAD_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
_URL_PATH_RE = re.compile(r"/[A-Za-z0-9._~/-]*")
_BODY_BAD_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # tab, LF, CR allowed

# Resource keys that have a first-class setting; OTEL_RESOURCE_ATTRIBUTES values for them are a fallback only.
FIRST_CLASS_KEYS = frozenset(
    {
        "service.name",
        "service.version",
        "service.namespace",
        "deployment.environment.name",
        "deployment.environment",
        "lukhas.lane",
    }
)

Parser = Callable[[Any, "Where"], Any]


@dataclass(frozen=True)
class Param:
    """One setting: where it is read from, how it is parsed, and how it is documented."""

    name: str
    """The setting's name in messages and docs: the ``configure()`` argument, or the variable for variable-only rows."""
    argument: str | None
    """The ``configure()`` / ``resolve_settings()`` keyword, or None when the setting is read from variables only."""
    variables: tuple[str, ...]
    """Environment variables in precedence order; ``{SIGNAL}`` stands for ``TRACES`` or ``METRICS``."""
    parse: Parser
    """Parses and validates the argument (and the variables unless ``parse_env`` is set)."""
    default: Any
    """The value when nothing is set (parsed like an argument unless None)."""
    accepted: str
    """What is accepted, as error messages and docs say it."""
    doc: str
    """What the setting does."""
    secret: bool = False
    """A credential: its value is never shown in an error message, a warning or a ``repr``."""
    parse_env: Parser | None = None
    """Parser for variable values when they differ from arguments (milliseconds, ``true``/``false``, k=v lists)."""
    resource_keys: tuple[str, ...] = ()
    """``OTEL_RESOURCE_ATTRIBUTES`` keys used as a fallback after the variables (identity settings)."""
    per_signal: bool = False
    """Resolved once per signal (traces, metrics): the OTLP exporter settings."""
    merge_variables: bool = False
    """Every set variable is read and the mappings merged, the earlier variable winning key by key (OTLP headers)."""
    together_with: str | None = None
    """Another setting that must be given too, or neither (the TLS certificate and key)."""
    setting: str | None = None
    """For a variable-only row: the ``configure()`` argument it feeds, named in its messages."""
    default_doc: str | None = None
    """How the docs describe the default, when the default is not a plain value."""

    def variables_for(self, signal: str | None) -> tuple[str, ...]:
        """The variables with ``{SIGNAL}`` filled in for ``signal``."""
        if signal is None:
            return self.variables
        return tuple(v.replace("{SIGNAL}", signal.upper()) for v in self.variables)


@dataclass(frozen=True)
class Where:
    """The parameter and the source (argument name or variable) a value being parsed came from."""

    param: Param
    source: str

    def error(self, value: object, expected: str | None = None, *, field: str | None = None) -> ConfigurationError:
        """A ConfigurationError for ``value``, naming the field, the source and what is accepted."""
        param = self.param
        return ConfigurationError(
            field or param.name,
            value,
            expected or param.accepted,
            self.source,
            secret=param.secret,
            setting=param.setting,
        )


# --- helpers ---------------------------------------------------------------------------------------------------------


def plain(value: object) -> object:
    """``value`` with a ``str`` subclass replaced by an exact ``str`` (its overridden methods are never called)."""
    if isinstance(value, str) and type(value) is not str:
        return str.__getitem__(value, slice(None))
    return value


def _clean(text: str) -> bool:
    """No control characters and no lone surrogates (which no exporter can encode)."""
    return _CONTROL_RE.search(text) is None and _SURROGATE_RE.search(text) is None


def parse_key_value_list(
    raw: str, source: str, *, secret_values: bool = False, setting: str | None = None
) -> dict[str, str]:
    """Parse the W3C-baggage-like ``k1=v1,k2=v2`` format of ``OTEL_RESOURCE_ATTRIBUTES`` and ``*_HEADERS``.

    Values are percent-decoded. A member without ``=`` or with an empty key is an error; for header lists the error
    never echoes the value, which may be a credential (other lists are shown redacted).
    """
    raw = plain(raw)  # type: ignore[assignment]
    result: dict[str, str] = {}
    for member in raw.split(","):
        if member.strip() == "":
            continue
        key, sep, value = member.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigurationError(
                source,
                member.strip(),
                "a comma-separated list of key=value pairs (values percent-encoded)",
                source,
                secret=secret_values,
                setting=setting,
            )
        result[unquote(key)] = unquote(value.strip())
    return result


# --- parsers ---------------------------------------------------------------------------------------------------------


def text_parser(pattern: re.Pattern[str] | None = None) -> Parser:
    """A non-empty, printable string of at most 128 characters (matching ``pattern`` when given)."""

    def parse(value: object, where: Where) -> str:
        if not isinstance(value, str):
            raise where.error(value, "a string")
        text = value.strip()
        if not text or len(text) > 128 or not _clean(text):
            raise where.error(value)
        if pattern is not None and not pattern.match(text):
            raise where.error(value)
        return text

    return parse


def parse_port(value: object, where: Where) -> int:
    """An integer port 0-65535 (0 picks a free port); a whole float is accepted, bools are not."""
    if isinstance(value, bool):
        raise where.error(value)
    port: int | None
    try:
        port = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        port = None
    if port is None or (isinstance(value, float) and value != port) or not 0 <= port <= 65535:
        raise where.error(value)
    return port


def _duration(value: object, where: Where, scale: float) -> float:
    unit = "milliseconds" if scale != 1.0 else "seconds"
    expected = f"a positive number of {unit} (at most {MAX_DURATION_S / scale:.0f})"
    if isinstance(value, bool):
        raise where.error(value, expected)
    number: float | None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None or not math.isfinite(number) or number <= 0 or number * scale > MAX_DURATION_S:
        raise where.error(value, expected)
    return number * scale


def parse_seconds(value: object, where: Where) -> float:
    """A positive, finite duration in seconds, at most :data:`MAX_DURATION_S`."""
    return _duration(value, where, 1.0)


def parse_milliseconds(value: object, where: Where) -> float:
    """The OTel variables' durations: positive milliseconds, returned in seconds."""
    return _duration(value, where, 0.001)


def choices_parser(accepted: Sequence[str]) -> Parser:
    """A comma-separated string or a sequence of names, each in ``accepted``; ``none`` alone means the empty tuple."""

    def parse(value: object, where: Where) -> tuple[str, ...]:
        expected = "one or more of: " + ", ".join(accepted)
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, Sequence) or isinstance(items, (bytes, bytearray)):
            raise where.error(value, expected)
        chosen: list[str] = []
        for item in items:
            item = plain(item)
            if not isinstance(item, str) or item.strip().lower() not in accepted:
                raise where.error(value, expected)
            if item.strip().lower() not in chosen:
                chosen.append(item.strip().lower())
        if "none" in chosen:
            if len(chosen) > 1:
                raise where.error(value, "'none' alone, or one or more of: " + ", ".join(accepted))
            return ()
        if not chosen:
            raise where.error(value, expected)
        return tuple(chosen)

    return parse


def parse_protocol(value: object, where: Where) -> str:
    """``grpc`` or ``http/protobuf`` (``http`` is an alias); ``http/json`` is refused with a reason."""
    if isinstance(value, str) and value.strip().lower() in _PROTOCOL_ALIASES:
        return _PROTOCOL_ALIASES[value.strip().lower()]
    hint = "grpc, http/protobuf, http (alias of http/protobuf)"
    if isinstance(value, str) and value.strip().lower() == "http/json":
        hint += "; http/json is not supported by the Python OTLP exporters"
    raise where.error(value, "one of: " + hint)


#: Where metric handles aggregate (``aggregation``): the own engine, or the OTel SDK's instruments.
AGGREGATIONS = ("own", "sdk")


def parse_aggregation(value: object, where: Where) -> str:
    """``own`` (lukhas-obs' aggregation, the default) or ``sdk`` (the OTel SDK's instruments)."""
    if isinstance(value, str) and value.strip().lower() in AGGREGATIONS:
        return value.strip().lower()
    raise where.error(value, "one of: own, sdk")


#: ``metrics_temporality``: what OTLP metric exporters ask for (the OTel variable's values; Prometheus is always
#: cumulative). ``delta``/``lowmemory`` make handles record through the SDK (the own aggregation is cumulative).
TEMPORALITIES = ("cumulative", "delta", "lowmemory")
#: ``traces_sampler``: the OTel SDK's built-in samplers (``OTEL_TRACES_SAMPLER`` spelling).
SAMPLERS = (
    "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio",
    "always_on", "always_off", "traceidratio",
)  # fmt: skip


def _word_parser(accepted: Sequence[str]) -> Parser:
    """One word of ``accepted`` (any case, surrounding spaces ignored)."""

    def parse(value: object, where: Where) -> str:
        value = plain(value)
        if isinstance(value, str) and value.strip().lower() in accepted:
            return value.strip().lower()
        raise where.error(value, "one of: " + ", ".join(accepted))

    return parse


parse_temporality = _word_parser(TEMPORALITIES)
parse_sampler = _word_parser(SAMPLERS)


def parse_ratio(value: object, where: Where) -> float:
    """A sampling probability: a finite number from 0 to 1 (the variable: its decimal text)."""
    value = plain(value)
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value) if not isinstance(value, int) or abs(value) <= 1 << 53 else None
    elif isinstance(value, str) and len(value) <= 64:
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise where.error(value)
    return number


def parse_endpoint(value: object, where: Where) -> str:
    """An ``http://`` or ``https://`` URL with a host (and a valid port when one is given)."""
    if not isinstance(value, str):
        raise where.error(value)
    text = value.strip()
    if not _clean(text) or any(c.isspace() for c in text):
        raise where.error(value)
    valid = True
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        valid = False
    if not valid or parts.scheme not in ("http", "https") or not parts.hostname:
        raise where.error(value)
    return text


def _check_headers(headers: Mapping[str, str], value: object, where: Where, expected: str) -> dict[str, str]:
    for name, item in headers.items():
        if not _HEADER_NAME_RE.match(name) or _HEADER_VALUE_BAD_RE.search(item):
            raise where.error(value, expected)
    return dict(headers)


_HEADERS_SHAPE = "header names are HTTP tokens, values have no control characters"


def parse_headers(value: object, where: Where) -> dict[str, str]:
    """Argument form: a mapping of header names to string values, or the variables' ``k=v,...`` text."""
    if isinstance(value, str):
        return parse_headers_env(value, where)
    expected = f"a mapping of header names to string values ({_HEADERS_SHAPE})"
    if not isinstance(value, Mapping):
        raise where.error(value, expected)
    headers: dict[str, str] = {}
    for name, item in value.items():
        name, item = plain(name), plain(item)
        if not isinstance(name, str) or not isinstance(item, str):
            raise where.error(value, expected)
        headers[name] = item
    return _check_headers(headers, value, where, expected)


def parse_headers_env(value: object, where: Where) -> dict[str, str]:
    """``OTEL_EXPORTER_OTLP_*HEADERS``: ``k1=v1,k2=v2`` with percent-encoded values."""
    headers = parse_key_value_list(value, where.source, secret_values=True, setting=where.param.name)  # type: ignore[arg-type]
    expected = f"a comma-separated list of key=value pairs (values percent-encoded; {_HEADERS_SHAPE})"
    return _check_headers(headers, value, where, expected)


def parse_resource_variable(value: object, where: Where) -> dict[str, str]:
    """``OTEL_RESOURCE_ATTRIBUTES``: ``k=v`` pairs with attribute-shaped keys and encodable values."""
    attributes = parse_key_value_list(value, where.source, setting=where.param.setting)  # type: ignore[arg-type]
    for key, item in attributes.items():
        if not _RESOURCE_KEY_RE.match(key):
            raise where.error(key, "attribute keys made of letters, digits, '_', '.', '-', '/'")
        if _SURROGATE_RE.search(item):
            raise where.error({key: item}, "values that are valid text (no lone surrogates)")
    return attributes


def parse_resource_attributes(value: object, where: Where) -> dict[str, str]:
    """The argument: a mapping of attribute keys to strings, without the first-class keys."""
    if not isinstance(value, Mapping):
        raise where.error(value, "a mapping of str to str")
    result: dict[str, str] = {}
    for key, item in value.items():
        key, item = plain(key), plain(item)
        if (
            not isinstance(key, str)
            or not _RESOURCE_KEY_RE.match(key)
            or not isinstance(item, str)
            or _SURROGATE_RE.search(item)
        ):
            raise where.error({key: item}, "string keys of letters, digits, '_', '.', '-', '/' to strings")
        if key in FIRST_CLASS_KEYS:
            raise where.error(key, "no first-class key (use service/lane/version/environment/namespace)")
        result[key] = item
    return result


def parse_truthy(value: object, where: Where) -> bool:
    """The ``disabled`` argument: any value, by its truth."""
    return bool(value)


def make_flag_env(warn: Callable[[Where, object], None]) -> Parser:
    """OTel boolean semantics: only case-insensitive ``true`` is true; anything else but ``false`` warns."""

    def parse(value: object, where: Where) -> bool:
        lowered = value.strip().lower() if isinstance(value, str) else ""
        if lowered not in ("true", "false"):
            warn(where, value)
        return lowered == "true"

    return parse


def parse_bool(value: object, where: Where) -> bool:
    """Exactly True or False."""
    if not isinstance(value, bool):
        raise where.error(value)
    return value


def parse_path(value: object, where: Where) -> str:
    """A file path (str or path-like), made absolute; it must be encodable for the file system."""
    path = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
    if not isinstance(path, str) or not path.strip() or "\x00" in path:
        raise where.error(path if isinstance(path, str) else value)
    encodable = True
    try:
        os.fsencode(path)
    except UnicodeError:
        encodable = False
    if not encodable:
        raise where.error(path)
    return os.path.abspath(path.strip())


def parse_limit(value: object, where: Where, *, field: str | None = None) -> int:
    """A whole number of attribute sets from 1 to 1,000,000."""
    if isinstance(value, bool):
        raise where.error(value, field=field)
    number: int | None
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None or (isinstance(value, float) and value != number) or not 1 <= number <= 1_000_000:
        raise where.error(value, "a whole number of attribute sets from 1 to 1000000", field=field)
    return number


def _known_metrics() -> tuple[set[str], dict[str, str]]:
    """Exposed names of every registered catalog's metrics, and OTel name → Prometheus name."""
    from lukhas_obs.catalog import catalogs  # lazy: the catalog package never imports settings, no cycle either way

    metric_name: set[str] = set()
    by_otel: dict[str, str] = {}
    for catalog in catalogs():
        for metric in catalog.metrics:
            metric_name.add(metric.name)
            by_otel[metric.otel_name] = metric.name
    return metric_name, by_otel


def parse_limits(value: object, where: Where) -> tuple[tuple[str, int], ...]:
    """Per-metric limits keyed by a registered metric's Prometheus name; a typo is refused with the
    closest declared names, since a limit on a name no catalog declares would silently never apply."""
    if not isinstance(value, Mapping):
        raise where.error(value, "a mapping of metric name to a limit")
    metric_name, by_otel = _known_metrics()
    limits: list[tuple[str, int]] = []
    for key, item in value.items():
        key = plain(key)
        if not isinstance(key, str):
            raise where.error(key, "metric names (str) as keys")
        if key not in metric_name:
            if key in by_otel:
                hint = f"; {key!r} is an OTel name, its Prometheus name is {by_otel[key]!r}"
            else:
                close = difflib.get_close_matches(key, sorted(metric_name), n=3, cutoff=0.6) if len(key) <= 200 else []
                hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise where.error(
                key,
                "the Prometheus name of a metric a registered catalog declares"
                + hint
                + " (register your own catalog before configure())",
            )
        limits.append((key, parse_limit(item, where, field=f"{where.param.name}[{key!r}]")))
    return tuple(sorted(limits))


def _names(value: object, where: Where) -> tuple[str, ...]:
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    expected = "a list of strings (comma-separated in the environment)"
    if not isinstance(items, Sequence) or isinstance(items, (bytes, bytearray)):
        raise where.error(value, expected)
    names = []
    for item in items:
        item = plain(item)
        if not isinstance(item, str) or _SURROGATE_RE.search(item):
            raise where.error(value, expected)
        if item:
            names.append(item)
    return tuple(names)


def parse_names(value: object, where: Where) -> tuple[str, ...]:
    """A list of strings, or comma-separated text."""
    return _names(value, where)


def parse_patterns(value: object, where: Where) -> tuple[str, ...]:
    """A list of regular expressions; an invalid one is named by its position only (patterns may hold secrets)."""
    patterns = _names(value, where)
    for index, pattern in enumerate(patterns):
        position: int | None = None
        try:
            re.compile(pattern)
        except re.error as exc:
            position = exc.pos if exc.pos is not None else -1
        if position is not None:
            raise where.error(
                value, f"valid regular expressions (pattern #{index + 1} is invalid at position {position})"
            )
    return patterns


def parse_bearer(value: object, where: Where) -> str:
    """At least 16 printable ASCII characters without spaces (what an ``Authorization`` header can carry)."""
    token = value.strip() if isinstance(value, str) else None
    if token is None or len(token) < 16 or not token.isascii() or not token.isprintable() or " " in token:
        raise where.error(value)
    return token


def parse_basic(value: object, where: Where) -> tuple[str, str]:
    """``"user:password"`` or a ``(user, password)`` tuple; a password of at least 8 characters."""
    pair = tuple(value.partition(":")[::2]) if isinstance(value, str) and ":" in value else value
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise where.error(value)
    user, password = plain(pair[0]), plain(pair[1])
    if (
        not isinstance(user, str)
        or not isinstance(password, str)
        or not user
        or ":" in user
        or len(password) < 8
        or not _clean(user + password)
    ):
        raise where.error(value)
    return (user, password)


def parse_pem_file(value: object, where: Where) -> str:
    """The path of an existing file (its PEM content is checked when the server's TLS context is built)."""
    path = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
    if not isinstance(path, str) or not path or not os.path.isfile(path):
        raise where.error(value)
    return os.path.abspath(path)


def parse_compression(value: object, where: Where) -> str:
    """``gzip`` or ``none``."""
    if not isinstance(value, str) or value.lower() not in COMPRESSIONS:
        raise where.error(value)
    return value.lower()


# --- serving: paths, /health body, per-endpoint catalogs --------------------------------------------------------------

_PATH_ACCEPTED = (
    f"a URL path of at most {MAX_URL_PATH_CHARS} characters starting with '/': letters, digits, '.', '_', '~', '-' "
    "and '/' (no query, no '%', no empty, '.' or '..' segment), other than /health"
)


def path_problem(value: object) -> str | None:
    """What is wrong with ``value`` as a metrics path (None: nothing), said without quoting it: a refused path may
    be a pasted credential, and the message must not carry it (at most one offending punctuation character)."""
    if not isinstance(value, str):
        return f"a {type(value).__name__}, not text"
    text = str.__getitem__(value, slice(None))
    if len(text) > MAX_URL_PATH_CHARS:
        return f"a path of {len(text)} characters"
    if not text.startswith("/"):
        return f"a {len(text)}-character value that does not start with '/'"
    match = _URL_PATH_RE.match(text)
    end = match.end() if match is not None else 0
    if end < len(text):
        bad = text[end]
        shown = repr(bad) if bad in "?#%&=;:@!$'()*+, \t\\\"<>[]^`{|}" else "a character"
        return f"a {len(text)}-character path with {shown} at position {end}, which paths may not hold"
    if text == HEALTH_PATH:
        return "/health, which is the liveness path"
    segments = text[1:].split("/")
    if text != "/" and any(segment == "" for segment in segments[:-1]):
        return f"a {len(text)}-character path with an empty segment ('//')"
    if any(segment in (".", "..") for segment in segments):
        return f"a {len(text)}-character path with a '.' or '..' segment"
    return None


def url_path(value: object) -> str | None:
    """``value`` as a metrics path, or None when it is not one (see ``_PATH_ACCEPTED``). Never raises."""
    if path_problem(value) is not None:
        return None
    return str.__getitem__(cast(str, value), slice(None))


def parse_url_path(value: object, where: Where) -> str:
    """A metrics path: exact, ASCII, without a query, dot segments or percent-escapes (see ``_PATH_ACCEPTED``)."""
    problem = path_problem(value)
    if problem is not None:
        raise where.error(problem, _PATH_ACCEPTED)
    return str.__getitem__(cast(str, value), slice(None))


def _json_copy(value: object, depth: int, budget: list[int]) -> object:
    """A plain JSON-serialisable copy of ``value`` (str subclasses made plain), or ValueError. Bounded in depth and
    items; numbers finite and at most 128 bits; text without lone surrogates."""
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_HEALTH_JSON_DEPTH:
        raise ValueError("too large")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = str.__getitem__(value, slice(None))
        if _SURROGATE_RE.search(text):
            raise ValueError("lone surrogate")
        return text
    if isinstance(value, int):
        number = int.__index__(value)
        if number.bit_length() > 128:
            raise ValueError("huge int")
        return number
    if isinstance(value, float):
        number_f = float.__float__(value)
        if not math.isfinite(number_f):
            raise ValueError("not finite")
        return number_f
    if isinstance(value, Mapping):
        copied: dict[str, object] = {}
        for key, item in list(value.items())[: MAX_HEALTH_JSON_ITEMS + 1]:
            if not isinstance(key, str):
                raise ValueError("key")
            copied[str(_json_copy(key, depth + 1, budget))] = _json_copy(item, depth + 1, budget)
        return copied
    if isinstance(value, (list, tuple)):
        return [_json_copy(item, depth + 1, budget) for item in value[: MAX_HEALTH_JSON_ITEMS + 1]]
    raise ValueError("type")


_HEALTH_ACCEPTED = (
    f"a JSON object (a mapping of str keys to JSON values, served as {JSON_CONTENT_TYPE}) or non-empty text "
    f"(text that is a JSON object is served as {JSON_CONTENT_TYPE}, other text as text/plain), at most "
    f"{MAX_HEALTH_BODY_BYTES} UTF-8 bytes, no control characters but tab, CR and LF, no lone surrogates"
)


def parse_health_body(value: object, where: Where) -> tuple[str, str]:
    """``(content type, body)`` of ``/health``: a mapping as JSON (``json.dumps``: ``{"status": "ok"}``), text
    that parses as a JSON object as given (JSON), any other text as ``text/plain; charset=utf-8``."""
    if isinstance(value, str):
        text = str.__getitem__(value, slice(None))
        if (
            not text.strip()
            or len(text) > MAX_HEALTH_BODY_BYTES
            or _BODY_BAD_RE.search(text)
            or len(text.encode("utf-8")) > MAX_HEALTH_BODY_BYTES
        ):
            raise where.error(value, _HEALTH_ACCEPTED)
        if text.lstrip().startswith("{"):
            parsed: object = None
            try:
                parsed = json.loads(text)
            except (ValueError, RecursionError):
                parsed = None
            if not isinstance(parsed, dict):
                raise where.error(value, _HEALTH_ACCEPTED)
            return (JSON_CONTENT_TYPE, text)
        return (TEXT_CONTENT_TYPE, text)
    if isinstance(value, Mapping):
        copied: object = None
        try:
            copied = _json_copy(value, 0, [MAX_HEALTH_JSON_ITEMS])
            body = json.dumps(copied, allow_nan=False)
        except (ValueError, TypeError, RecursionError):
            body = None
        if body is None or len(body.encode("utf-8")) > MAX_HEALTH_BODY_BYTES:
            raise where.error(value, _HEALTH_ACCEPTED)
        return (JSON_CONTENT_TYPE, body)
    raise where.error(value, _HEALTH_ACCEPTED)


def _endpoint_items(value: object, where: Where, expected: str) -> list[tuple[object, object]]:
    """The (path, catalogs) pairs of the argument (a mapping) or the variable (``/p=a+b,/q=c``)."""
    if isinstance(value, str):
        pairs: list[tuple[object, object]] = []
        for member in str.__getitem__(value, slice(None)).split(",")[: MAX_METRICS_ENDPOINTS + 1]:
            if not member.strip():
                continue
            path, sep, names = member.strip().partition("=")
            if not sep:
                raise where.error(value, expected)
            pairs.append((path.strip(), [n for n in re.split(r"[+\s]+", names) if n]))
        return pairs
    if isinstance(value, Mapping):
        return list(value.items())[: MAX_METRICS_ENDPOINTS + 1]
    raise where.error(value, expected)


def parse_metrics_endpoints(value: object, where: Where) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Extra metrics paths, each serving the families of chosen catalogs (or systems' catalogs), sorted by path.

    Paths are checked like ``metrics_path``; every name must be a catalog registered now or a known system (its
    catalogs are registered here): a typo is refused naming the accepted names, since an endpoint serving nothing
    would look like a dead system.
    """
    from lukhas_obs.exporters.prometheus import (  # lazy: the exporters import the settings' errors only
        _catalog_names_for,
        accepted_catalogs_text,
        shown_catalog_name,
    )

    expected = (
        f"a mapping of at most {MAX_METRICS_ENDPOINTS} paths to lists of catalog names (the variable: "
        "'/path=catalog+catalog,/other=catalog')"
    )
    items = _endpoint_items(value, where, expected)
    if len(items) > MAX_METRICS_ENDPOINTS:
        raise where.error(value, expected)
    endpoints: dict[str, tuple[str, ...]] = {}
    for raw_path, raw_names in items:
        problem = path_problem(raw_path)
        if problem is not None:
            raise where.error(problem, _PATH_ACCEPTED + " as keys")
        path = str.__getitem__(cast(str, raw_path), slice(None))
        raw_names = plain(raw_names)
        names_list = [raw_names] if isinstance(raw_names, str) else raw_names
        if (
            not isinstance(names_list, Sequence)
            or isinstance(names_list, (bytes, bytearray))
            or not 1 <= len(names_list) <= MAX_ENDPOINT_CATALOGS
        ):
            raise where.error(
                shown_catalog_name(raw_names) if not isinstance(names_list, Sequence) else f"{len(names_list)} names",
                f"1 to {MAX_ENDPOINT_CATALOGS} catalog names per path",
                field=f"{where.param.name}[{path!r}]",
            )
        chosen: list[str] = []
        for name in names_list:
            name = plain(name)
            found = _catalog_names_for(name) if isinstance(name, str) else None
            if found is None:
                raise where.error(
                    shown_catalog_name(name), accepted_catalogs_text(), field=f"{where.param.name}[{path!r}]"
                )
            chosen += [n for n in found if n not in chosen]
        endpoints[path] = tuple(chosen)
    return tuple(sorted(endpoints.items()))


def parse_flag_env_strict(value: object, where: Where) -> bool:
    """A new boolean variable: ``true`` or ``false`` (any case); anything else is refused, not guessed."""
    lowered = value.strip().lower() if isinstance(value, str) else ""
    if lowered not in ("true", "false"):
        raise where.error(value)
    return lowered == "true"


# --- third-party metrics --------------------------------------------------------------------------------------------

#: Attribute sets per third-party instrument when ``third_party_cardinality_limit`` is not set.
DEFAULT_THIRD_PARTY_CARDINALITY_LIMIT = 500
#: Most globs in ``third_party_allow``, and the longest one.
MAX_NAME_GLOBS = 64
MAX_NAME_GLOB_CHARS = 128
_GLOB_RE = re.compile(r"^[A-Za-z0-9_.\-/*?\[\]!]+$")
_ON_OFF = "on or off (also True/False; the variable: on, off, true or false)"
_GLOBS_ACCEPTED = (
    f"a list of at most {MAX_NAME_GLOBS} instrument-name globs of at most {MAX_NAME_GLOB_CHARS} characters: "
    "letters, digits, '_', '.', '-', '/' and the glob characters '*', '?', '[', ']', '!' (comma-separated in the "
    "environment)"
)


def parse_on_off(value: object, where: Where) -> bool:
    """``on``/``off`` (or ``true``/``false``, any case), or exactly True/False; anything else is refused."""
    if isinstance(value, bool):
        return value
    lowered = str.__getitem__(value, slice(None)).strip().lower() if isinstance(value, str) else None
    if lowered in ("on", "true"):
        return True
    if lowered in ("off", "false"):
        return False
    raise where.error(value)


def parse_name_globs(value: object, where: Where) -> tuple[str, ...]:
    """Instrument-name globs (``http.server.*``, ``db.client.operation.duration``); see ``_GLOBS_ACCEPTED``."""
    globs = _names(value, where)
    if len(globs) > MAX_NAME_GLOBS or any(len(g) > MAX_NAME_GLOB_CHARS or not _GLOB_RE.match(g) for g in globs):
        raise where.error(value, _GLOBS_ACCEPTED)
    return globs


# --- the table -------------------------------------------------------------------------------------------------------

_TEXT = "a non-empty string of at most 128 printable characters"


def build_table(warn: Callable[[Where, object], None]) -> tuple[Param, ...]:
    """Every setting, in resolution order. ``warn(where, value)`` reports a variable that is read leniently."""
    text = text_parser()
    return (
        Param(
            "OTEL_RESOURCE_ATTRIBUTES",
            None,
            ("OTEL_RESOURCE_ATTRIBUTES",),
            parse_resource_variable,
            None,
            "a comma-separated list of key=value pairs (values percent-encoded)",
            "Resource attributes (W3C baggage format). Read first: service, lane, version, environment and namespace "
            "fall back to its keys; its other keys are added to the resource, under resource_attributes.",
            setting="resource_attributes",
            default_doc="—",
        ),
        Param(
            "service", "service", ("LUKHAS_SERVICE", "OTEL_SERVICE_NAME"), text, DEFAULT_SERVICE, _TEXT,
            "service.name on the resource and the service label on every catalog series.",
            resource_keys=("service.name",),
        ),
        Param(
            "lane", "lane", ("LUKHAS_LANE",), text_parser(_LANE_RE), DEFAULT_LANE,
            "1-64 characters: letters, digits, '_', '.', '-'",
            "lukhas.lane on the resource and the lane label on every catalog series.",
            resource_keys=("lukhas.lane",),
        ),
        Param(
            "version", "version", ("LUKHAS_VERSION",), text, DEFAULT_VERSION, _TEXT, "service.version.",
            resource_keys=("service.version",),
        ),
        Param(
            "environment", "environment", ("LUKHAS_ENV",), text, DEFAULT_ENVIRONMENT, _TEXT,
            "deployment.environment.name.",
            resource_keys=("deployment.environment.name", "deployment.environment"),
        ),
        Param(
            "namespace", "namespace", ("LUKHAS_NAMESPACE",), text, DEFAULT_NAMESPACE, _TEXT, "service.namespace.",
            resource_keys=("service.namespace",),
        ),
        Param(
            "resource_attributes", "resource_attributes", (), parse_resource_attributes, None,
            "a mapping of attribute keys (letters, digits, '_', '.', '-', '/') to strings, no first-class key",
            "Extra resource attributes; merged over OTEL_RESOURCE_ATTRIBUTES, key by key.",
            default_doc="—",
        ),
        Param(
            "disabled", "disabled", ("OTEL_SDK_DISABLED",), parse_truthy, False,
            "True or False (the variable: 'true' or 'false')",
            "Turn all telemetry off: handles and spans become no-ops.",
            parse_env=make_flag_env(warn),
        ),
        Param(
            "traces_exporter", "traces_exporter", ("OTEL_TRACES_EXPORTER",), choices_parser(TRACES_EXPORTERS), None,
            "one or more of: " + ", ".join(TRACES_EXPORTERS),
            "Where spans go (comma-separated in the variable).",
            default_doc="otlp when an OTLP endpoint is set, else file",
        ),
        Param(
            "metrics_exporter", "metrics_exporter", ("OTEL_METRICS_EXPORTER",), choices_parser(METRICS_EXPORTERS),
            None, "one or more of: " + ", ".join(METRICS_EXPORTERS),
            "Where metrics go (comma-separated in the variable).",
            default_doc="prometheus, plus otlp when an OTLP endpoint is set",
        ),
        Param(
            "otlp_protocol", "otlp_protocol", ("OTEL_EXPORTER_OTLP_{SIGNAL}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
            parse_protocol, "http/protobuf", "one of: grpc, http/protobuf, http (alias of http/protobuf)",
            "OTLP transport, per signal.", per_signal=True,
        ),
        Param(
            "otlp_headers", "otlp_headers", ("OTEL_EXPORTER_OTLP_{SIGNAL}_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"),
            parse_headers, None,
            f"a mapping of header names to values, or key=value pairs, comma-separated ({_HEADERS_SHAPE})",
            "Headers (credentials) sent with every OTLP export; the variables are merged, per-signal keys winning.",
            secret=True, parse_env=parse_headers_env, per_signal=True, merge_variables=True, default_doc="none",
        ),
        Param(
            "otlp_timeout", "otlp_timeout", ("OTEL_EXPORTER_OTLP_{SIGNAL}_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"),
            parse_seconds, DEFAULT_OTLP_TIMEOUT_S,
            f"a positive number of seconds, at most {MAX_DURATION_S:g} (the variables: milliseconds)",
            "Time limit of one OTLP export.", parse_env=parse_milliseconds, per_signal=True,
        ),
        Param(
            "otlp_compression", None,
            ("OTEL_EXPORTER_OTLP_{SIGNAL}_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"),
            parse_compression, "none", "one of: " + ", ".join(COMPRESSIONS),
            "OTLP payload compression.", per_signal=True,
        ),
        Param(
            "otlp_endpoint", "otlp_endpoint", ("OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
            parse_endpoint, None, "an http:// or https:// URL with a host, e.g. http://127.0.0.1:4317",
            "OTLP collector. The argument and OTEL_EXPORTER_OTLP_ENDPOINT are base URLs (/v1/<signal> is appended "
            "for HTTP); a per-signal variable is used as given. Setting one turns the OTLP exporters on.",
            per_signal=True,
            default_doc="none; http://localhost:4318 (4317 for grpc) when an otlp exporter is chosen",
        ),
        Param(
            "prometheus_host", "prometheus_host", ("LUKHAS_PROMETHEUS_HOST", "OTEL_EXPORTER_PROMETHEUS_HOST"),
            text, DEFAULT_PROMETHEUS_HOST, "a host name or IP address to bind, e.g. 127.0.0.1",
            "Address of the built-in /metrics server.",
        ),
        Param(
            "prometheus_port", "prometheus_port", ("LUKHAS_PROMETHEUS_PORT", "OTEL_EXPORTER_PROMETHEUS_PORT"),
            parse_port, DEFAULT_PROMETHEUS_PORT, "an integer port from 0 to 65535 (0 picks a free port)",
            "Port of the built-in /metrics server.",
        ),
        Param(
            "serve_metrics", "serve_metrics", (), parse_bool, True, "True or False",
            "Serve /metrics on prometheus_host:prometheus_port (False: mount metrics_wsgi_app/metrics_asgi_app).",
        ),
        Param(
            "scope_labels", "scope_labels", (), parse_bool, False, "True or False",
            "Keep the otel_scope_* labels on every series.",
        ),
        Param(
            "metrics_path", "metrics_path", ("LUKHAS_METRICS_PATH",), parse_url_path, DEFAULT_METRICS_PATH,
            _PATH_ACCEPTED, "Path of the built-in server that serves every metric (matched exactly, never redirected).",
        ),
        Param(
            "metrics_endpoints", "metrics_endpoints", ("LUKHAS_METRICS_ENDPOINTS",), parse_metrics_endpoints, None,
            f"a mapping of at most {MAX_METRICS_ENDPOINTS} paths (like metrics_path) to 1-{MAX_ENDPOINT_CATALOGS} "
            "names of registered catalogs or known systems (the variable: '/path=catalog+catalog,/other=catalog')",
            "More paths of the built-in server, each serving only the chosen catalogs' families (target_info stays; "
            "self-telemetry only where lukhas_obs_self is listed). Register your own catalogs before configure().",
            default_doc="—",
        ),
        Param(
            "health_body", "health_body", ("LUKHAS_HEALTH_BODY",), parse_health_body, DEFAULT_HEALTH_BODY[1],
            _HEALTH_ACCEPTED, "What /health answers (it stays open and shows no metric).",
        ),
        Param(
            "created_series", "created_series", ("LUKHAS_CREATED_SERIES",), parse_bool, False,
            "True or False (the variable: 'true' or 'false')",
            "Add prometheus_client's x_created series (series start time) to counters and histograms on /metrics.",
            parse_env=parse_flag_env_strict,
        ),
        Param(
            "traces_file", "traces_file", ("LUKHAS_TRACES_FILE",), parse_path, DEFAULT_TRACES_FILE, "a file path",
            "OTLP/JSON lines trace file of the file exporter.",
        ),
        Param(
            "metric_export_interval", "metric_export_interval", ("OTEL_METRIC_EXPORT_INTERVAL",), parse_seconds,
            DEFAULT_METRIC_EXPORT_INTERVAL_S,
            f"a positive number of seconds, at most {MAX_DURATION_S:g} (the variable: milliseconds)",
            "Interval of the periodic OTLP metric export.", parse_env=parse_milliseconds,
        ),
        Param(
            "shutdown_timeout", "shutdown_timeout", (), parse_seconds, DEFAULT_SHUTDOWN_TIMEOUT_S,
            f"a positive number of seconds, at most {MAX_DURATION_S:g}",
            "Longest time shutdown() and flushes wait for exporters.",
        ),
        Param(
            "cardinality_limit", "cardinality_limit", ("LUKHAS_CARDINALITY_LIMIT",), parse_limit,
            DEFAULT_CARDINALITY_LIMIT, "a whole number of attribute sets from 1 to 1000000",
            "Distinct attribute sets admitted per metric; past it new sets are dropped, warned about once, counted.",
        ),
        Param(
            "aggregation", "aggregation", ("LUKHAS_AGGREGATION",), parse_aggregation, "own", "one of: own, sdk",
            "Where handles aggregate: own (lukhas-obs' engine: several times cheaper per measurement, output "
            "identical to the SDK's) or sdk (the OTel SDK's instruments). own falls back to sdk by itself when a "
            "reader asks for DELTA temporality.",
        ),
        Param(
            "multiprocess_dir", "multiprocess_dir", ("LUKHAS_MULTIPROCESS_DIR",), parse_path, None,
            "the path of a directory this process can create or write (on tmpfs: /dev/shm/<app>, mode 0700)",
            "Multiprocess mode for pre-fork servers (gunicorn, uvicorn --workers): each process keeps the catalog's "
            "series in a file of its own in this directory and /metrics (any process, or lukhas-obs serve "
            "--multiprocess-dir) shows the merge of every file. See docs/MULTIPROCESS.md.",
            default_doc="off (each process shows only its own series)",
        ),
        Param(
            "metrics_temporality", "metrics_temporality",
            ("LUKHAS_METRICS_TEMPORALITY", "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"),
            parse_temporality, "cumulative", "one of: " + ", ".join(TEMPORALITIES),
            "Temporality OTLP metric exporters ask for (/metrics is always cumulative): cumulative, or delta "
            "(lowmemory: delta for counters and histograms only) for backends that need it; then handles record "
            "through the OTel SDK's instruments.",
        ),
        Param(
            "traces_sampler", "traces_sampler", ("LUKHAS_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER"), parse_sampler,
            "parentbased_always_on", "one of: " + ", ".join(SAMPLERS),
            "Which spans are recorded: parentbased_traceidratio keeps traceidratio (traces_sampler_arg) of new "
            "traces and follows the caller's decision for continued ones, so all services keep the same traces.",
        ),
        Param(
            "traces_sampler_arg", "traces_sampler_arg", ("LUKHAS_TRACES_SAMPLER_ARG", "OTEL_TRACES_SAMPLER_ARG"),
            parse_ratio, 1.0, "a number from 0 to 1", "Sampling ratio of the traceidratio samplers.",
        ),
        Param(
            "cardinality_limits", "cardinality_limits", (), parse_limits, None,
            "a mapping of a registered metric's Prometheus name to a whole number from 1 to 1000000",
            "Per-metric cardinality limits (register your own catalog before configure()).",
            default_doc="—",
        ),
        Param(
            "scrub_patterns", "scrub_patterns", ("LUKHAS_SCRUB_PATTERNS",), parse_patterns, None,
            "a list of valid regular expressions (comma-separated in the environment)",
            "Extra secret patterns, redacted from attribute names and values of every signal.",
            secret=True, default_doc="—",
        ),
        Param(
            "scrub_allow", "scrub_allow", ("LUKHAS_SCRUB_ALLOW",), parse_names, None,
            "a list of strings (comma-separated in the environment)", "Attribute names never scrubbed.",
            default_doc="—",
        ),
        Param(
            "metrics_bearer_token", "metrics_bearer_token", ("LUKHAS_METRICS_BEARER_TOKEN",), parse_bearer, None,
            "a token of at least 16 characters (printable ASCII, no spaces)",
            "Require Authorization: Bearer <token> on /metrics.", secret=True, default_doc="open",
        ),
        Param(
            "metrics_basic_auth", "metrics_basic_auth", ("LUKHAS_METRICS_BASIC_AUTH",), parse_basic, None,
            "'user:password' with a password of at least 8 characters (no control characters)",
            "Require HTTP basic auth on /metrics.", secret=True, default_doc="open",
        ),
        Param(
            "metrics_tls_cert", "metrics_tls_cert", ("LUKHAS_METRICS_TLS_CERT",), parse_pem_file, None,
            "the path of a readable PEM file", "Serve /metrics over TLS with this certificate (needs the key).",
            together_with="metrics_tls_key", default_doc="plain HTTP",
        ),
        Param(
            "metrics_tls_key", "metrics_tls_key", ("LUKHAS_METRICS_TLS_KEY",), parse_pem_file, None,
            "the path of a readable PEM file", "The TLS certificate's private key.",
            together_with="metrics_tls_cert", default_doc="plain HTTP",
        ),
        # --- third-party metrics and logs (lukhas_obs.distro, lukhas_obs.logs) ---
        Param(
            "third_party_metrics", "third_party_metrics", ("LUKHAS_THIRD_PARTY_METRICS",), parse_on_off, False,
            _ON_OFF,
            "Set the OTel global MeterProvider, so third-party instruments (contrib instrumentations' "
            "http.server.duration, ...) reach /metrics and OTLP next to the catalog's, filtered by third_party_allow "
            "and bounded by third_party_cardinality_limit. Off: lukhas-obs never sets the global MeterProvider.",
        ),
        Param(
            "third_party_allow", "third_party_allow", ("LUKHAS_THIRD_PARTY_ALLOW",), parse_name_globs,
            ("*",), _GLOBS_ACCEPTED,
            "Instrument names (globs) third-party metrics may use; other instruments are no-ops.",
            default_doc="* (every instrument)",
        ),
        Param(
            "third_party_cardinality_limit", "third_party_cardinality_limit",
            ("LUKHAS_THIRD_PARTY_CARDINALITY_LIMIT",), parse_limit, DEFAULT_THIRD_PARTY_CARDINALITY_LIMIT,
            "a whole number of attribute sets from 1 to 1000000",
            "Distinct attribute sets per third-party instrument; past it new sets are dropped, warned about once, "
            "counted.",
        ),
        Param(
            "logs_exporter", "logs_exporter", ("LUKHAS_LOGS_EXPORTER", "OTEL_LOGS_EXPORTER"),
            choices_parser(LOGS_EXPORTERS), "none", "one or more of: " + ", ".join(LOGS_EXPORTERS),
            "Where stdlib logging records go, with the trace and span ids of the span they were made in "
            "(file: the traces_file, next to the spans); comma-separated in the variables.",
        ),
    )  # fmt: skip
