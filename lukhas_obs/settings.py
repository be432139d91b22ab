"""Resolve and validate lukhas-obs settings from arguments and environment variables.

Precedence, highest first, for every setting:

1. the keyword argument given to :func:`lukhas_obs.configure`;
2. the ``LUKHAS_*`` variable (``LUKHAS_SERVICE``, ``LUKHAS_LANE``, ``LUKHAS_VERSION``, ``LUKHAS_ENV``, ...);
3. the standard OpenTelemetry variable (``OTEL_SERVICE_NAME``, then ``OTEL_RESOURCE_ATTRIBUTES``;
   ``OTEL_EXPORTER_OTLP_<SIGNAL>_*`` before ``OTEL_EXPORTER_OTLP_*``);
4. the built-in default.

Every setting is one row of the table in :mod:`lukhas_obs._settings_table` (argument, variables in precedence order,
parser, default, ``secret``, docs), resolved by one loop; :func:`settings_reference` lists the rows for the docs.

Resolution is pure: it reads the mapping it is given (``os.environ`` by default) and returns a frozen
:class:`Settings`, so two calls with the same inputs compare equal — which is what makes ``configure()`` idempotent.
Invalid values raise :class:`~lukhas_obs.errors.ConfigurationError` naming the field, its source and what is accepted;
the value is shown redacted (URL user info, query strings, credential-named pairs, secret shapes), and never for a
``secret`` setting (OTLP headers, the ``/metrics`` credentials, scrub patterns). Any value, however hostile (a ``str``
subclass whose methods raise, a 5,000-digit int, NaN, lone surrogates), gives a ConfigurationError or a valid
:class:`Settings`, never another exception.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from lukhas_obs._settings_table import (
    COMPRESSIONS,
    DEFAULT_CARDINALITY_LIMIT,
    DEFAULT_ENVIRONMENT,
    DEFAULT_HEALTH_BODY,
    DEFAULT_LANE,
    DEFAULT_METRIC_EXPORT_INTERVAL_S,
    DEFAULT_METRICS_PATH,
    DEFAULT_NAMESPACE,
    DEFAULT_OTLP_TIMEOUT_S,
    DEFAULT_PROMETHEUS_HOST,
    DEFAULT_PROMETHEUS_PORT,
    DEFAULT_SERVICE,
    DEFAULT_SHUTDOWN_TIMEOUT_S,
    DEFAULT_TRACES_FILE,
    DEFAULT_VERSION,
    FIRST_CLASS_KEYS,
    HEALTH_PATH,
    LOGS_EXPORTERS,
    MAX_DURATION_S,
    METRICS_EXPORTERS,
    PROTOCOLS,
    SIGNALS,
    TRACES_EXPORTERS,
    Param,
    Parser,
    Where,
    build_table,
    parse_key_value_list,
    plain,
)
from lukhas_obs.errors import ConfigurationError, describe_value, redact_text

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_CARDINALITY_LIMIT",
    "DEFAULT_ENVIRONMENT",
    "DEFAULT_LANE",
    "DEFAULT_METRIC_EXPORT_INTERVAL_S",
    "DEFAULT_NAMESPACE",
    "DEFAULT_OTLP_TIMEOUT_S",
    "DEFAULT_PROMETHEUS_HOST",
    "DEFAULT_PROMETHEUS_PORT",
    "DEFAULT_SERVICE",
    "DEFAULT_SHUTDOWN_TIMEOUT_S",
    "DEFAULT_TRACES_FILE",
    "DEFAULT_VERSION",
    "LOGS_EXPORTERS",
    "MAX_DURATION_S",
    "METRICS_EXPORTERS",
    "PARAMETERS",
    "PROTOCOLS",
    "TRACES_EXPORTERS",
    "OtlpSettings",
    "Param",
    "Settings",
    "parse_key_value_list",
    "resolve_settings",
    "settings_reference",
    "settings_reference_markdown",
]

_log = logging.getLogger("lukhas_obs")


def _safe_repr(obj: object) -> str:
    """A dataclass repr that never shows a credential: ``repr=False`` fields are left out, values are redacted."""
    parts = []
    for f in fields(obj):  # type: ignore[arg-type]
        if not f.repr:
            continue
        value = getattr(obj, f.name)
        if f.name == "endpoint" and isinstance(value, str):
            shown = repr(redact_text(value))
        elif isinstance(value, OtlpSettings):
            shown = repr(value)
        else:
            shown = describe_value(value)[0]
        parts.append(f"{f.name}={shown}")
    return f"{type(obj).__name__}({', '.join(parts)})"


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

    def __repr__(self) -> str:
        """Like the dataclass repr, with the endpoint's user info and query redacted and headers left out."""
        return _safe_repr(self)


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
    aggregation: str = "own"
    #: Multiprocess mode (lukhas_obs.multiprocess): the directory of the per-process files; None is off.
    multiprocess_dir: str | None = None
    #: OTLP metric temporality (cumulative, delta, lowmemory); the trace sampler and its ratio.
    metrics_temporality: str = "cumulative"
    traces_sampler: str = "parentbased_always_on"
    traces_sampler_arg: float = 1.0
    scrub_patterns: tuple[str, ...] = field(default=(), repr=False)  # a secret setting: patterns may be literals
    scrub_allow: tuple[str, ...] = ()
    metrics_bearer_token: str | None = field(default=None, repr=False)
    metrics_basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    metrics_tls_cert: str | None = None
    metrics_tls_key: str | None = None
    #: The built-in server's path for every metric; more paths with chosen catalogs; ``/health``'s
    #: ``(content type, body)``; prometheus_client's ``_created`` series on counters and histograms.
    metrics_path: str = DEFAULT_METRICS_PATH
    metrics_endpoints: tuple[tuple[str, tuple[str, ...]], ...] = ()
    health_body: tuple[str, str] = DEFAULT_HEALTH_BODY
    created_series: bool = False
    #: Third-party instruments through the OTel global MeterProvider (lukhas_obs.distro): on or off, the
    #: instrument-name globs allowed, attribute sets per instrument.
    third_party_metrics: bool = False
    third_party_allow: tuple[str, ...] = ("*",)
    third_party_cardinality_limit: int = 500
    #: Where stdlib logging records go (lukhas_obs.logs): any of otlp, file, console; () is none.
    logs_exporters: tuple[str, ...] = ()
    otlp_logs: OtlpSettings | None = None

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

    def __repr__(self) -> str:
        """Like the dataclass repr, without secret settings and with credential-shaped values redacted."""
        return _safe_repr(self)


# --- the table and its one resolver ----------------------------------------------------------------------------------


def _warn_lenient_flag(where: Where, value: object) -> None:
    _log.warning(
        "lukhas_obs: %s=%s is not 'true' or 'false'; treating it as false (the %s setting)",
        where.source,
        describe_value(value, secret=where.param.secret)[0],
        where.param.name,
    )


#: Every setting, in resolution order (see :mod:`lukhas_obs._settings_table`).
PARAMETERS: tuple[Param, ...] = build_table(_warn_lenient_flag)
_BY_NAME = {param.name: param for param in PARAMETERS}
_RESOURCE_VARIABLE = "OTEL_RESOURCE_ATTRIBUTES"


class _Env:
    """Reads variables from one mapping and remembers nothing else."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def get(self, name: str) -> str | None:
        """The stripped value of variable ``name``, or None when it is unset or blank."""
        failed = False
        try:
            value = plain(self._environ.get(name))
        except Exception:  # a hostile mapping: say which variable could not be read
            failed = True
        if failed:
            raise ConfigurationError(name, None, "a readable environment variable", name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigurationError(name, value, "text", name)
        value = value.strip()
        return value or None


@dataclass(frozen=True)
class _Resolved:
    value: Any
    source: str  # the argument name, a variable, OTEL_RESOURCE_ATTRIBUTES[key], or "default"


_Candidate = tuple[object, str, Parser]
_Table = dict[tuple[str, "str | None"], _Resolved]


def _candidates(
    param: Param, signal: str | None, arguments: Mapping[str, object], env: _Env, resource: Mapping[str, str]
) -> list[_Candidate]:
    """The raw values ``param`` is resolved from, by precedence: the argument; else its variables (the first set
    one, or all of them when merged); else its OTEL_RESOURCE_ATTRIBUTES keys; else nothing (the default)."""
    if param.argument is not None and arguments.get(param.argument) is not None:
        return [(arguments[param.argument], param.argument, param.parse)]
    found: list[_Candidate] = []
    for variable in param.variables_for(signal):
        value = env.get(variable)
        if value is not None:
            found.append((value, variable, param.parse_env or param.parse))
            if not param.merge_variables:
                return found
    if found:
        return found
    for key in param.resource_keys:
        value = resource.get(key, "")
        if value.strip():
            return [(value, f"{_RESOURCE_VARIABLE}[{key}]", param.parse)]
    return []


def _parse(param: Param, raw: object, source: str, parser: Parser) -> Any:
    """``parser(raw)``; any exception but a ConfigurationError becomes one naming the field (raised outside the
    ``except`` block, so no exception that may quote the value is chained to it)."""
    where = Where(param, source)
    raw = plain(raw)
    error: ConfigurationError
    try:
        return parser(raw, where)
    except ConfigurationError as exc:
        error = exc
    except Exception:
        error = where.error(raw)
    raise error


def _resolve_param(
    param: Param, signal: str | None, arguments: Mapping[str, object], env: _Env, resource: Mapping[str, str]
) -> _Resolved:
    found = _candidates(param, signal, arguments, env, resource)
    if param.together_with is not None and found:
        partner = _BY_NAME[param.together_with]
        if not _candidates(partner, signal, arguments, env, resource):
            first, second = sorted((param.name, partner.name))
            raise ConfigurationError(partner.name, None, f"both {first} and {second}, or neither")
    if not found:
        default = None if param.default is None else _parse(param, param.default, "default", param.parse)
        return _Resolved(default, "default")
    if param.merge_variables and len(found) > 1:
        merged: dict[str, Any] = {}
        for raw, source, parser in reversed(found):  # the least specific first: earlier variables win key by key
            merged.update(_parse(param, raw, source, parser))
        return _Resolved(merged, found[0][1])
    raw, source, parser = found[0]
    return _Resolved(_parse(param, raw, source, parser), source)


def _resolve_table(arguments: Mapping[str, object], environ: Mapping[str, str]) -> _Table:
    """Resolve every row of the table (per-signal rows once per signal), in table order."""
    env = _Env(environ)
    resolved: _Table = {}
    resource: Mapping[str, str] = {}
    for param in PARAMETERS:
        for signal in SIGNALS if param.per_signal else (None,):
            result = _resolve_param(param, signal, arguments, env, resource)
            resolved[(param.name, signal)] = result
        if param.name == _RESOURCE_VARIABLE:
            resource = resolved[(param.name, None)].value or {}
    return resolved


def _signal_url(base: str, signal: str, protocol: str) -> str:
    """The OTLP/HTTP exporters post to ``<base>/v1/<signal>``; gRPC takes the base as is."""
    if protocol == "grpc":
        return base
    return base.rstrip("/") + f"/v1/{signal}"


def _otlp(signal: str, resolved: _Table, *, force: bool) -> OtlpSettings | None:
    """OTLP settings for ``signal``, or None when no endpoint is configured and the exporter is not asked for."""
    protocol = resolved[("otlp_protocol", signal)].value
    endpoint = resolved[("otlp_endpoint", signal)]
    if endpoint.value is None:
        if not force:
            return None
        url = _signal_url("http://localhost:4317" if protocol == "grpc" else "http://localhost:4318", signal, protocol)
    elif endpoint.source == f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT":
        url = endpoint.value  # per-signal URLs are used as given (OTel spec)
    else:
        url = _signal_url(endpoint.value, signal, protocol)
    headers = resolved[("otlp_headers", signal)].value or {}
    return OtlpSettings(
        signal=signal,
        endpoint=url,
        protocol=protocol,
        headers=tuple(sorted((k.lower(), v) for k, v in headers.items())),  # gRPC metadata keys must be lower-case
        timeout_s=resolved[("otlp_timeout", signal)].value,
        compression=resolved[("otlp_compression", signal)].value,
    )


def _settings_from(resolved: _Table) -> Settings:
    """The few settings derived from several rows: resource attributes, exporter choice, OTLP per signal."""

    def value(name: str) -> Any:
        return resolved[(name, None)].value

    extra = {k: v for k, v in (value(_RESOURCE_VARIABLE) or {}).items() if k not in FIRST_CLASS_KEYS}
    extra.update(value("resource_attributes") or {})
    traces_ex, metrics_ex = value("traces_exporter"), value("metrics_exporter")
    logs_ex = value("logs_exporter") or ()
    otlp_traces = _otlp("traces", resolved, force=bool(traces_ex and "otlp" in traces_ex))
    otlp_metrics = _otlp("metrics", resolved, force=bool(metrics_ex and "otlp" in metrics_ex))
    if traces_ex is None:
        # A trace file the user names explicitly is written, alongside OTLP when that is configured too.
        named_file = resolved[("traces_file", None)].source != "default"
        traces_ex = (("otlp", "file") if named_file else ("otlp",)) if otlp_traces is not None else ("file",)
    if metrics_ex is None:
        metrics_ex = ("prometheus", "otlp") if otlp_metrics is not None else ("prometheus",)
    metrics_path = value("metrics_path")
    endpoints = value("metrics_endpoints") or ()
    for path, _names in endpoints:
        if path == metrics_path:
            raise ConfigurationError(
                "metrics_endpoints",
                path,
                f"paths other than metrics_path ({metrics_path!r}, which serves every metric) and {HEALTH_PATH}",
                resolved[("metrics_endpoints", None)].source,
            )
    return Settings(
        service=value("service"),
        lane=value("lane"),
        version=value("version"),
        environment=value("environment"),
        namespace=value("namespace"),
        resource_attributes=tuple(sorted(extra.items())),
        disabled=value("disabled"),
        metrics_exporters=metrics_ex,
        traces_exporters=traces_ex,
        prometheus_host=value("prometheus_host"),
        prometheus_port=value("prometheus_port"),
        serve_metrics=value("serve_metrics"),
        scope_labels=value("scope_labels"),
        traces_file=value("traces_file"),
        otlp_traces=otlp_traces if "otlp" in traces_ex else None,
        otlp_metrics=otlp_metrics if "otlp" in metrics_ex else None,
        metric_export_interval_s=value("metric_export_interval"),
        shutdown_timeout_s=value("shutdown_timeout"),
        cardinality_limit=value("cardinality_limit"),
        cardinality_limits=value("cardinality_limits") or (),
        aggregation=value("aggregation"),
        multiprocess_dir=value("multiprocess_dir"),
        metrics_temporality=value("metrics_temporality"),
        traces_sampler=value("traces_sampler"),
        traces_sampler_arg=value("traces_sampler_arg"),
        scrub_patterns=value("scrub_patterns") or (),
        scrub_allow=value("scrub_allow") or (),
        metrics_bearer_token=value("metrics_bearer_token"),
        metrics_basic_auth=value("metrics_basic_auth"),
        metrics_tls_cert=value("metrics_tls_cert"),
        metrics_tls_key=value("metrics_tls_key"),
        metrics_path=metrics_path,
        metrics_endpoints=endpoints,
        health_body=value("health_body"),
        created_series=value("created_series"),
        third_party_metrics=value("third_party_metrics"),
        third_party_allow=value("third_party_allow"),
        third_party_cardinality_limit=value("third_party_cardinality_limit"),
        logs_exporters=logs_ex,
        otlp_logs=_otlp("logs", resolved, force=True) if "otlp" in logs_ex else None,
    )


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
    aggregation: str | None = None,
    multiprocess_dir: str | os.PathLike[str] | None = None,
    metrics_temporality: str | None = None,
    traces_sampler: str | None = None,
    traces_sampler_arg: float | str | None = None,
    scrub_patterns: Sequence[str] | None = None,
    scrub_allow: Sequence[str] | None = None,
    metrics_bearer_token: str | None = None,
    metrics_basic_auth: str | tuple[str, str] | None = None,
    metrics_tls_cert: str | os.PathLike[str] | None = None,
    metrics_tls_key: str | os.PathLike[str] | None = None,
    metrics_path: str | None = None,
    metrics_endpoints: Mapping[str, str | Sequence[str]] | str | None = None,
    health_body: Mapping[str, Any] | str | None = None,
    created_series: bool | None = None,
    third_party_metrics: bool | str | None = None,
    third_party_allow: Sequence[str] | str | None = None,
    third_party_cardinality_limit: int | None = None,
    logs_exporter: str | Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every setting by the documented precedence and validate it. See the module docstring."""
    arguments = {k: v for k, v in locals().items() if k != "environ"}
    return _settings_from(_resolve_table(arguments, os.environ if environ is None else environ))


# --- the table for the docs ------------------------------------------------------------------------------------------


def _default_text(param: Param) -> str:
    if param.default_doc is not None:
        return param.default_doc
    if isinstance(param.default, float):
        return f"{param.default:g}"
    return str(param.default)


def settings_reference() -> list[dict[str, Any]]:
    """One row per setting, in resolution order, for generated docs (the README's settings table).

    Each row: ``name``, ``argument`` (the ``configure()`` keyword, or None for variable-only settings),
    ``variables`` (precedence order; ``{SIGNAL}`` is ``TRACES`` or ``METRICS``), ``resource_keys``
    (``OTEL_RESOURCE_ATTRIBUTES`` fallbacks), ``default`` (text), ``accepted``, ``doc``, ``secret`` and
    ``per_signal``.
    """
    return [
        {
            "name": param.name,
            "argument": param.argument,
            "variables": param.variables,
            "resource_keys": param.resource_keys,
            "default": _default_text(param),
            "accepted": param.accepted,
            "doc": param.doc,
            "secret": param.secret,
            "per_signal": param.per_signal,
        }
        for param in PARAMETERS
    ]


def settings_reference_markdown() -> str:
    """The settings table as Markdown: argument, variables by precedence, default, what is accepted, what it does."""
    lines = [
        "| setting | variables (highest precedence first) | default | accepted | what it does |",
        "|---|---|---|---|---|",
    ]
    for row in settings_reference():
        name = f"`{row['argument']}`" if row["argument"] else f"(variable only) `{row['name']}`"
        variables = [f"`{v}`" for v in row["variables"]] + [
            f"`OTEL_RESOURCE_ATTRIBUTES` key `{k}`" for k in row["resource_keys"]
        ]
        doc = row["doc"] + (" Never shown in messages." if row["secret"] else "")
        cells = [name, ", ".join(variables) or "—", row["default"], row["accepted"], doc]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
