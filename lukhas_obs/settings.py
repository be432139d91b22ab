"""Resolve and validate lukhas-obs settings from arguments and environment variables.

Precedence, highest first, for every setting:

1. the keyword argument given to :func:`lukhas_obs.configure`;
2. the ``LUKHAS_*`` variable (``LUKHAS_SERVICE``, ``LUKHAS_LANE``, ``LUKHAS_VERSION``, ``LUKHAS_ENV``, ...);
3. the standard OpenTelemetry variable (``OTEL_SERVICE_NAME``, then ``OTEL_RESOURCE_ATTRIBUTES``;
   ``OTEL_EXPORTER_OTLP_<SIGNAL>_*`` before ``OTEL_EXPORTER_OTLP_*``);
4. the built-in default.

Resolution is pure: it reads the mapping it is given (``os.environ`` by default) and returns a frozen
:class:`Settings`, so two calls with the same inputs compare equal — which is what makes ``configure()`` idempotent.
Invalid values raise :class:`~lukhas_obs.errors.ConfigurationError` naming the field, its source and what is accepted.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from urllib.parse import unquote, urlsplit

from lukhas_obs.errors import ConfigurationError

_log = logging.getLogger("lukhas_obs")

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

PROTOCOLS = ("grpc", "http/protobuf")
_PROTOCOL_ALIASES = {"grpc": "grpc", "http/protobuf": "http/protobuf", "http": "http/protobuf"}
TRACES_EXPORTERS = ("file", "console", "otlp", "none")
METRICS_EXPORTERS = ("prometheus", "otlp", "none")
COMPRESSIONS = ("gzip", "none")

_LANE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_RESOURCE_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

# Resource keys that have a first-class setting; OTEL_RESOURCE_ATTRIBUTES values for them are a fallback only.
_FIRST_CLASS_KEYS = frozenset(
    {
        "service.name",
        "service.version",
        "service.namespace",
        "deployment.environment.name",
        "deployment.environment",
        "lukhas.lane",
    }
)


@dataclass(frozen=True)
class OtlpSettings:
    """Where and how one signal (traces or metrics) is sent over OTLP."""

    signal: str
    endpoint: str
    protocol: str
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # may hold credentials: never printed
    timeout_s: float = DEFAULT_OTLP_TIMEOUT_S
    compression: str = "none"

    @property
    def insecure(self) -> bool:
        """gRPC channel security follows the endpoint scheme: ``http://`` is plaintext, ``https://`` is TLS."""
        return urlsplit(self.endpoint).scheme != "https"


@dataclass(frozen=True)
class Settings:
    """Everything :func:`lukhas_obs.configure` builds from. Frozen and comparable."""

    service: str = DEFAULT_SERVICE
    lane: str = DEFAULT_LANE
    version: str = DEFAULT_VERSION
    environment: str = DEFAULT_ENVIRONMENT
    namespace: str = DEFAULT_NAMESPACE
    resource_attributes: tuple[tuple[str, str], ...] = ()
    disabled: bool = False
    metrics_exporters: tuple[str, ...] = ("prometheus",)
    traces_exporters: tuple[str, ...] = ("file",)
    prometheus_host: str = DEFAULT_PROMETHEUS_HOST
    prometheus_port: int = DEFAULT_PROMETHEUS_PORT
    serve_metrics: bool = True
    scope_labels: bool = False
    traces_file: str = DEFAULT_TRACES_FILE
    otlp_traces: OtlpSettings | None = None
    otlp_metrics: OtlpSettings | None = None
    metric_export_interval_s: float = DEFAULT_METRIC_EXPORT_INTERVAL_S
    shutdown_timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S
    cardinality_limit: int = DEFAULT_CARDINALITY_LIMIT
    cardinality_limits: tuple[tuple[str, int], ...] = ()
    scrub_patterns: tuple[str, ...] = ()
    scrub_allow: tuple[str, ...] = ()
    metrics_bearer_token: str | None = field(default=None, repr=False)
    metrics_basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    metrics_tls_cert: str | None = None
    metrics_tls_key: str | None = None

    def differences(self, other: Settings) -> list[str]:
        """Names of the fields whose values differ (used to explain a refused re-configuration)."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]

    @property
    def common_attributes(self) -> dict[str, str]:
        """Values for the catalog's common series labels (seed 003's ``COMMON_LABELS`` and friends)."""
        return {
            "lane": self.lane,
            "service": self.service,
            "environment": self.environment,
            "version": self.version,
            "namespace": self.namespace,
        }


class _Env:
    """Reads variables from one mapping and remembers nothing else."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def get(self, *names: str) -> tuple[str | None, str | None]:
        """The first non-empty variable among ``names``: ``(value, name)``, or ``(None, None)``."""
        for name in names:
            value = self._environ.get(name)
            if value is not None and value.strip() != "":
                return value.strip(), name
        return None, None

    def flag(self, name: str) -> bool:
        """OTel boolean semantics: only case-insensitive ``true`` is true; anything else but ``false`` warns."""
        value = self._environ.get(name)
        if value is None or value.strip() == "":
            return False
        lowered = value.strip().lower()
        if lowered not in ("true", "false"):
            _log.warning("lukhas_obs: %s=%r is not 'true' or 'false'; treating it as false", name, value)
        return lowered == "true"


def parse_key_value_list(raw: str, source: str, *, secret_values: bool = False) -> dict[str, str]:
    """Parse the W3C-baggage-like ``k1=v1,k2=v2`` format of ``OTEL_RESOURCE_ATTRIBUTES`` and ``*_HEADERS``.

    Values are percent-decoded. A member without ``=`` or with an empty key is an error; for header lists the error
    never echoes the value, which may be a credential.
    """
    result: dict[str, str] = {}
    for member in raw.split(","):
        if member.strip() == "":
            continue
        key, sep, value = member.partition("=")
        key = key.strip()
        if not sep or not key:
            shown = "<redacted>" if secret_values else member.strip()
            raise ConfigurationError(
                source, shown, "a comma-separated list of key=value pairs (values percent-encoded)", source
            )
        result[unquote(key)] = unquote(value.strip())
    return result


def _text(value: object, name: str, source: str, *, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
    if not isinstance(value, str):
        raise ConfigurationError(name, value, "a string", source)
    text = value.strip()
    if not text or len(text) > 128 or _CONTROL_RE.search(text):
        raise ConfigurationError(name, value, what or "a non-empty string of at most 128 printable characters", source)
    if pattern is not None and not pattern.match(text):
        raise ConfigurationError(name, value, what, source)
    return text


def _port(value: object, name: str, source: str) -> int:
    expected = "an integer port from 0 to 65535 (0 picks a free port)"
    if isinstance(value, bool):
        raise ConfigurationError(name, value, expected, source)
    try:
        port = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ConfigurationError(name, value, expected, source) from None
    if isinstance(value, float) and value != port:
        raise ConfigurationError(name, value, expected, source)
    if not 0 <= port <= 65535:
        raise ConfigurationError(name, value, expected, source)
    return port


def _seconds(value: object, name: str, source: str, *, scale: float = 1.0) -> float:
    """A positive finite duration; ``scale`` converts env milliseconds to seconds."""
    expected = "a positive number of " + ("milliseconds" if scale != 1.0 else "seconds")
    if isinstance(value, bool):
        raise ConfigurationError(name, value, expected, source)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigurationError(name, value, expected, source) from None
    if not math.isfinite(number) or number <= 0:
        raise ConfigurationError(name, value, expected, source)
    return number * scale


def _choices(value: object, name: str, source: str, accepted: Sequence[str]) -> tuple[str, ...]:
    """A comma-separated string or a sequence of names, each in ``accepted``; ``none`` means the empty tuple."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Sequence) or isinstance(items, bytes):
        raise ConfigurationError(name, value, "one or more of: " + ", ".join(accepted), source)
    chosen: list[str] = []
    for item in items:
        if not isinstance(item, str) or item.strip().lower() not in accepted:
            raise ConfigurationError(name, value, "one or more of: " + ", ".join(accepted), source)
        if item.strip().lower() not in chosen:
            chosen.append(item.strip().lower())
    if "none" in chosen:
        if len(chosen) > 1:
            raise ConfigurationError(name, value, "'none' alone, or one or more of: " + ", ".join(accepted), source)
        return ()
    if not chosen:
        raise ConfigurationError(name, value, "one or more of: " + ", ".join(accepted), source)
    return tuple(chosen)


def _protocol(value: object, name: str, source: str) -> str:
    if isinstance(value, str) and value.strip().lower() in _PROTOCOL_ALIASES:
        return _PROTOCOL_ALIASES[value.strip().lower()]
    hint = "grpc, http/protobuf, http (alias of http/protobuf)"
    if isinstance(value, str) and value.strip().lower() == "http/json":
        hint += "; http/json is not supported by the Python OTLP exporters"
    raise ConfigurationError(name, value, "one of: " + hint, source)


def _endpoint(value: object, name: str, source: str) -> str:
    expected = "an http:// or https:// URL with a host, e.g. http://127.0.0.1:4317"
    if not isinstance(value, str):
        raise ConfigurationError(name, value, expected, source)
    try:
        parts = urlsplit(value.strip())
        _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        raise ConfigurationError(name, value, expected, source) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(name, value, expected, source)
    return value.strip()


def _headers(value: object, name: str, source: str) -> dict[str, str]:
    if isinstance(value, str):
        return parse_key_value_list(value, source, secret_values=True)
    if isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return dict(value)
    raise ConfigurationError(name, "<redacted>", "a mapping of header names to string values", source)


def _resolve_otlp(
    signal: str,
    env: _Env,
    *,
    endpoint_arg: str | None,
    protocol_arg: str | None,
    headers_arg: Mapping[str, str] | str | None,
    timeout_arg: float | None,
    force: bool,
) -> OtlpSettings | None:
    """OTLP settings for ``signal`` ("traces" or "metrics"), or None when no endpoint is configured and not forced."""
    sig = signal.upper()
    if protocol_arg is not None:
        protocol = _protocol(protocol_arg, "otlp_protocol", "otlp_protocol")
    else:
        raw, src = env.get(f"OTEL_EXPORTER_OTLP_{sig}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
        protocol = _protocol(raw, "otlp_protocol", src) if raw is not None else "http/protobuf"

    if headers_arg is not None:
        headers = _headers(headers_arg, "otlp_headers", "otlp_headers")
    else:
        merged: dict[str, str] = {}
        for var in ("OTEL_EXPORTER_OTLP_HEADERS", f"OTEL_EXPORTER_OTLP_{sig}_HEADERS"):  # per-signal wins
            raw, src = env.get(var)
            if raw is not None:
                merged.update(_headers(raw, "otlp_headers", src))
        headers = merged

    if timeout_arg is not None:
        timeout_s = _seconds(timeout_arg, "otlp_timeout", "otlp_timeout")
    else:
        raw, src = env.get(f"OTEL_EXPORTER_OTLP_{sig}_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
        timeout_s = _seconds(raw, "otlp_timeout", src, scale=0.001) if raw is not None else DEFAULT_OTLP_TIMEOUT_S

    raw, src = env.get(f"OTEL_EXPORTER_OTLP_{sig}_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION")
    compression = "none"
    if raw is not None:
        if raw.lower() not in COMPRESSIONS:
            raise ConfigurationError("otlp_compression", raw, "one of: " + ", ".join(COMPRESSIONS), src)
        compression = raw.lower()

    if endpoint_arg is not None:
        base = _endpoint(endpoint_arg, "otlp_endpoint", "otlp_endpoint")
        endpoint = _signal_url(base, signal, protocol)
    else:
        raw, src = env.get(f"OTEL_EXPORTER_OTLP_{sig}_ENDPOINT")
        if raw is not None:
            endpoint = _endpoint(raw, "otlp_endpoint", src)  # per-signal URLs are used as given (OTel spec)
        else:
            raw, src = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            if raw is None and not force:
                return None
            default = "http://localhost:4317" if protocol == "grpc" else "http://localhost:4318"
            base = _endpoint(raw, "otlp_endpoint", src) if raw is not None else default
            endpoint = _signal_url(base, signal, protocol)

    return OtlpSettings(
        signal=signal,
        endpoint=endpoint,
        protocol=protocol,
        headers=tuple(sorted((k.lower(), v) for k, v in headers.items())),  # gRPC metadata keys must be lower-case
        timeout_s=timeout_s,
        compression=compression,
    )


def _signal_url(base: str, signal: str, protocol: str) -> str:
    """The OTLP/HTTP exporters post to ``<base>/v1/<signal>``; gRPC takes the base as is."""
    if protocol == "grpc":
        return base
    return base.rstrip("/") + f"/v1/{signal}"


def resolve_settings(
    *,
    service: str | None = None,
    lane: str | None = None,
    version: str | None = None,
    environment: str | None = None,
    namespace: str | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    disabled: bool | None = None,
    metrics_exporter: str | Sequence[str] | None = None,
    traces_exporter: str | Sequence[str] | None = None,
    prometheus_host: str | None = None,
    prometheus_port: int | None = None,
    serve_metrics: bool = True,
    scope_labels: bool = False,
    traces_file: str | os.PathLike[str] | None = None,
    otlp_endpoint: str | None = None,
    otlp_protocol: str | None = None,
    otlp_headers: Mapping[str, str] | str | None = None,
    otlp_timeout: float | None = None,
    metric_export_interval: float | None = None,
    shutdown_timeout: float | None = None,
    cardinality_limit: int | None = None,
    cardinality_limits: Mapping[str, int] | None = None,
    scrub_patterns: Sequence[str] | None = None,
    scrub_allow: Sequence[str] | None = None,
    metrics_bearer_token: str | None = None,
    metrics_basic_auth: str | tuple[str, str] | None = None,
    metrics_tls_cert: str | os.PathLike[str] | None = None,
    metrics_tls_key: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every setting by the documented precedence and validate it. See the module docstring."""
    env = _Env(os.environ if environ is None else environ)

    ora_raw, ora_src = env.get("OTEL_RESOURCE_ATTRIBUTES")
    ora = parse_key_value_list(ora_raw, "OTEL_RESOURCE_ATTRIBUTES") if ora_raw is not None else {}
    for key in ora:
        if not _RESOURCE_KEY_RE.match(key):
            raise ConfigurationError(
                "OTEL_RESOURCE_ATTRIBUTES", key, "attribute keys made of letters, digits, '_', '.', '-', '/'", ora_src
            )

    def pick(arg: object, arg_name: str, env_names: Sequence[str], ora_keys: Sequence[str], default: str):
        if arg is not None:
            return arg, arg_name
        value, src = env.get(*env_names)
        if value is not None:
            return value, src
        for key in ora_keys:
            if ora.get(key, "").strip():
                return ora[key], f"OTEL_RESOURCE_ATTRIBUTES[{key}]"
        return default, "default"

    value, src = pick(service, "service", ("LUKHAS_SERVICE", "OTEL_SERVICE_NAME"), ("service.name",), DEFAULT_SERVICE)
    service_v = _text(value, "service", src)
    value, src = pick(lane, "lane", ("LUKHAS_LANE",), ("lukhas.lane",), DEFAULT_LANE)
    lane_v = _text(value, "lane", src, pattern=_LANE_RE, what="1-64 characters: letters, digits, '_', '.', '-'")
    value, src = pick(version, "version", ("LUKHAS_VERSION",), ("service.version",), DEFAULT_VERSION)
    version_v = _text(value, "version", src)
    value, src = pick(
        environment,
        "environment",
        ("LUKHAS_ENV",),
        ("deployment.environment.name", "deployment.environment"),
        DEFAULT_ENVIRONMENT,
    )
    environment_v = _text(value, "environment", src)
    value, src = pick(namespace, "namespace", ("LUKHAS_NAMESPACE",), ("service.namespace",), DEFAULT_NAMESPACE)
    namespace_v = _text(value, "namespace", src)

    extra = {k: v for k, v in ora.items() if k not in _FIRST_CLASS_KEYS}
    if resource_attributes is not None:
        if not isinstance(resource_attributes, Mapping):
            raise ConfigurationError("resource_attributes", resource_attributes, "a mapping of str to str")
        for key, val in resource_attributes.items():
            if not isinstance(key, str) or not _RESOURCE_KEY_RE.match(key) or not isinstance(val, str):
                raise ConfigurationError(
                    "resource_attributes", {key: val}, "string keys of letters, digits, '_', '.', '-', '/' to strings"
                )
            if key in _FIRST_CLASS_KEYS:
                raise ConfigurationError(
                    "resource_attributes", key, "no first-class key (use service/lane/version/environment/namespace)"
                )
            extra[key] = val

    disabled_v = bool(disabled) if disabled is not None else env.flag("OTEL_SDK_DISABLED")

    # OTLP endpoints: per signal, only when configured (or when the exporter is asked for explicitly).
    if traces_exporter is not None:
        traces_ex = _choices(traces_exporter, "traces_exporter", "traces_exporter", TRACES_EXPORTERS)
    else:
        raw, src = env.get("OTEL_TRACES_EXPORTER")
        traces_ex = _choices(raw, "traces_exporter", src, TRACES_EXPORTERS) if raw is not None else None
    if metrics_exporter is not None:
        metrics_ex = _choices(metrics_exporter, "metrics_exporter", "metrics_exporter", METRICS_EXPORTERS)
    else:
        raw, src = env.get("OTEL_METRICS_EXPORTER")
        metrics_ex = _choices(raw, "metrics_exporter", src, METRICS_EXPORTERS) if raw is not None else None

    common = dict(
        endpoint_arg=otlp_endpoint, protocol_arg=otlp_protocol, headers_arg=otlp_headers, timeout_arg=otlp_timeout
    )
    otlp_traces = _resolve_otlp("traces", env, force=bool(traces_ex and "otlp" in traces_ex), **common)
    otlp_metrics = _resolve_otlp("metrics", env, force=bool(metrics_ex and "otlp" in metrics_ex), **common)
    if traces_ex is None:
        traces_ex = ("otlp",) if otlp_traces is not None else ("file",)
    if metrics_ex is None:
        metrics_ex = ("prometheus", "otlp") if otlp_metrics is not None else ("prometheus",)
    if "otlp" not in traces_ex:
        otlp_traces = None
    if "otlp" not in metrics_ex:
        otlp_metrics = None

    value, src = pick(
        prometheus_host,
        "prometheus_host",
        ("LUKHAS_PROMETHEUS_HOST", "OTEL_EXPORTER_PROMETHEUS_HOST"),
        (),
        DEFAULT_PROMETHEUS_HOST,
    )
    host_v = _text(value, "prometheus_host", src, what="a host name or IP address to bind, e.g. 127.0.0.1")
    value, src = pick(
        prometheus_port,
        "prometheus_port",
        ("LUKHAS_PROMETHEUS_PORT", "OTEL_EXPORTER_PROMETHEUS_PORT"),
        (),
        str(DEFAULT_PROMETHEUS_PORT),
    )
    port_v = _port(value, "prometheus_port", src)

    value, src = pick(
        None if traces_file is None else os.fspath(traces_file),
        "traces_file",
        ("LUKHAS_TRACES_FILE",),
        (),
        DEFAULT_TRACES_FILE,
    )
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError("traces_file", value, "a file path", src)
    traces_file_v = os.path.abspath(value.strip())

    if metric_export_interval is not None:
        interval_s = _seconds(metric_export_interval, "metric_export_interval", "metric_export_interval")
    else:
        raw, src = env.get("OTEL_METRIC_EXPORT_INTERVAL")
        interval_s = (
            _seconds(raw, "metric_export_interval", src, scale=0.001)
            if raw is not None
            else DEFAULT_METRIC_EXPORT_INTERVAL_S
        )
    shutdown_s = (
        _seconds(shutdown_timeout, "shutdown_timeout", "shutdown_timeout")
        if shutdown_timeout is not None
        else DEFAULT_SHUTDOWN_TIMEOUT_S
    )
    for flag_name, flag_value in (("serve_metrics", serve_metrics), ("scope_labels", scope_labels)):
        if not isinstance(flag_value, bool):
            raise ConfigurationError(flag_name, flag_value, "True or False")

    safety = _resolve_safety(
        env,
        cardinality_limit=cardinality_limit,
        cardinality_limits=cardinality_limits,
        scrub_patterns=scrub_patterns,
        scrub_allow=scrub_allow,
        metrics_bearer_token=metrics_bearer_token,
        metrics_basic_auth=metrics_basic_auth,
        metrics_tls_cert=metrics_tls_cert,
        metrics_tls_key=metrics_tls_key,
    )
    return Settings(
        service=service_v,
        lane=lane_v,
        version=version_v,
        environment=environment_v,
        namespace=namespace_v,
        resource_attributes=tuple(sorted(extra.items())),
        disabled=disabled_v,
        metrics_exporters=metrics_ex,
        traces_exporters=traces_ex,
        prometheus_host=host_v,
        prometheus_port=port_v,
        serve_metrics=serve_metrics,
        scope_labels=scope_labels,
        traces_file=traces_file_v,
        otlp_traces=otlp_traces,
        otlp_metrics=otlp_metrics,
        metric_export_interval_s=interval_s,
        shutdown_timeout_s=shutdown_s,
        **safety,
    )


def _limit(value: object, name: str, source: str) -> int:
    expected = "a whole number of attribute sets from 1 to 1000000"
    if isinstance(value, bool):
        raise ConfigurationError(name, value, expected, source)
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ConfigurationError(name, value, expected, source) from None
    if (isinstance(value, float) and value != number) or not 1 <= number <= 1_000_000:
        raise ConfigurationError(name, value, expected, source)
    return number


def _names(value: object, name: str, source: str) -> tuple[str, ...]:
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not all(isinstance(v, str) for v in items):
        raise ConfigurationError(name, value, "a list of strings (comma-separated in the environment)", source)
    return tuple(v for v in items if v)


def _existing_file(value: object, name: str, source: str) -> str:
    path = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
    if not path or not os.path.isfile(path):
        raise ConfigurationError(name, value, "the path of a readable PEM file", source)
    return os.path.abspath(path)


def _resolve_safety(
    env: _Env,
    *,
    cardinality_limit: int | None,
    cardinality_limits: Mapping[str, int] | None,
    scrub_patterns: Sequence[str] | None,
    scrub_allow: Sequence[str] | None,
    metrics_bearer_token: str | None,
    metrics_basic_auth: str | tuple[str, str] | None,
    metrics_tls_cert: str | os.PathLike[str] | None,
    metrics_tls_key: str | os.PathLike[str] | None,
) -> dict[str, object]:
    """Cardinality limits, scrubbing options and /metrics exposure (auth, TLS)."""
    raw, src = (
        (cardinality_limit, "cardinality_limit")
        if cardinality_limit is not None
        else env.get("LUKHAS_CARDINALITY_LIMIT")
    )
    limit = (
        _limit(raw, "cardinality_limit", src or "cardinality_limit") if raw is not None else DEFAULT_CARDINALITY_LIMIT
    )
    per_metric: list[tuple[str, int]] = []
    if cardinality_limits is not None:
        if not isinstance(cardinality_limits, Mapping):
            raise ConfigurationError("cardinality_limits", cardinality_limits, "a mapping of metric name to a limit")
        per_metric = sorted(
            (str(k), _limit(v, f"cardinality_limits[{k!r}]", "cardinality_limits"))
            for k, v in cardinality_limits.items()
        )

    raw, src = (scrub_patterns, "scrub_patterns") if scrub_patterns is not None else env.get("LUKHAS_SCRUB_PATTERNS")
    patterns = _names(raw, "scrub_patterns", src or "scrub_patterns") if raw is not None else ()
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigurationError("scrub_patterns", pattern, f"valid regular expressions ({exc})", src) from None
    raw, src = (scrub_allow, "scrub_allow") if scrub_allow is not None else env.get("LUKHAS_SCRUB_ALLOW")
    allow = _names(raw, "scrub_allow", src or "scrub_allow") if raw is not None else ()

    raw, src = (
        (metrics_bearer_token, "metrics_bearer_token")
        if metrics_bearer_token is not None
        else env.get("LUKHAS_METRICS_BEARER_TOKEN")
    )
    if raw is not None and (not isinstance(raw, str) or len(raw.strip()) < 16):
        raise ConfigurationError("metrics_bearer_token", "<redacted>", "a token of at least 16 characters", src)
    bearer = raw.strip() if isinstance(raw, str) else None

    raw, src = (
        (metrics_basic_auth, "metrics_basic_auth")
        if metrics_basic_auth is not None
        else env.get("LUKHAS_METRICS_BASIC_AUTH")
    )
    basic: tuple[str, str] | None = None
    if raw is not None:
        pair = tuple(raw.partition(":")[::2]) if isinstance(raw, str) and ":" in raw else raw
        if (
            not isinstance(pair, tuple)
            or len(pair) != 2
            or not all(isinstance(p, str) for p in pair)
            or not pair[0]
            or len(pair[1]) < 8
        ):
            raise ConfigurationError(
                "metrics_basic_auth", "<redacted>", "'user:password' with a password of at least 8 characters", src
            )
        basic = (pair[0], pair[1])

    cert_raw, cert_src = (
        (metrics_tls_cert, "metrics_tls_cert") if metrics_tls_cert is not None else env.get("LUKHAS_METRICS_TLS_CERT")
    )
    key_raw, key_src = (
        (metrics_tls_key, "metrics_tls_key") if metrics_tls_key is not None else env.get("LUKHAS_METRICS_TLS_KEY")
    )
    if (cert_raw is None) != (key_raw is None):
        missing = "metrics_tls_key" if key_raw is None else "metrics_tls_cert"
        raise ConfigurationError(missing, None, "both metrics_tls_cert and metrics_tls_key, or neither")
    cert = _existing_file(cert_raw, "metrics_tls_cert", cert_src or "") if cert_raw is not None else None
    key = _existing_file(key_raw, "metrics_tls_key", key_src or "") if key_raw is not None else None
    return {
        "cardinality_limit": limit,
        "cardinality_limits": tuple(per_metric),
        "scrub_patterns": patterns,
        "scrub_allow": allow,
        "metrics_bearer_token": bearer,
        "metrics_basic_auth": basic,
        "metrics_tls_cert": cert,
        "metrics_tls_key": key,
    }
