"""Configuration under attack: errors never echo a secret, always name the field and what is accepted, and hostile
values in any setting are a ConfigurationError (never another exception type).

Every setting of the table gets a bad value carrying a secret marker in every plausible shape (URL userinfo, query
string, header, resource attribute, basic/bearer credentials, ``key=value`` and JSON pairs, and the whole value for
secret settings); the marker must appear in none of ``str(exc)``, ``repr(exc)``, ``exc.args``, ``exc.value``, the
formatted traceback (with its chained exceptions), the log output or warnings.
"""

from __future__ import annotations

import logging
import math
import traceback
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import pytest

import lukhas_obs
from lukhas_obs import ConfigurationError, resolve_settings

MARKER = "S3CR3T-" + uuid.uuid4().hex


def _shapes(m: str) -> dict[str, str]:
    """The shapes a secret takes when it is pasted into a setting by mistake."""
    return {
        "url-userinfo": f"https://user:{m}@collector.example:4318",
        "url-token-as-user": f"https://{m}@collector.example:4318",
        "query-token": f"http://collector.example:4318/v1/traces?token={m}",
        "query-access-token": f"http://collector.example/?x=1&access_token={m}",
        "header": f"Authorization=Bearer {m}",
        "api-key-header": f"x-api-key: {m}",
        "resource-attribute": f"db.password:{m}",
        "env-pair": f"DB_PASSWORD={m}",
        "basic": f"Basic {m}",
        "bearer": f"Bearer {m}",
        "json": f'{{"password": "{m}"}}',
        "yaml": f"api_token: {m}",
    }


SHAPES = _shapes(MARKER)


@dataclass(frozen=True)
class Case:
    """One way of feeding a bad value to one setting."""

    setting: str  # the configure() argument (or the variable-only setting's name) the message must name
    accepted: str  # a fragment of what is accepted, which the message must state
    argument: Callable[[str], object] | None = None  # shape -> bad argument value (None: no argument)
    variable: str | None = None  # the environment variable the message must name
    env_value: Callable[[str], str] | None = None  # shape -> bad variable value
    extra_env: tuple[tuple[str, str], ...] = ()
    extra_kwargs: tuple[tuple[str, object], ...] = ()


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def _ctl(shape: str) -> str:
    return shape + "\x00"


def _scheme_ftp(shape: str) -> str:
    return "ftp" + shape[shape.index("://") :] if "://" in shape else "ftp://" + shape


_OTLP = (("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),)
_MISSING = "/nonexistent-lukhas-obs-dir/"

CASES: tuple[Case, ...] = (
    Case("service", "non-empty string", _ctl, "LUKHAS_SERVICE", _ctl),
    Case("service", "non-empty string", None, "OTEL_SERVICE_NAME", _ctl),
    Case("lane", "letters, digits", lambda s: s, "LUKHAS_LANE", lambda s: s),
    Case("version", "non-empty string", _ctl, "LUKHAS_VERSION", _ctl),
    Case("environment", "non-empty string", _ctl, "LUKHAS_ENV", _ctl),
    Case("namespace", "non-empty string", _ctl, "LUKHAS_NAMESPACE", _ctl),
    Case("resource_attributes", "letters, digits", lambda s: {s: "x"}),
    Case("resource_attributes", "to strings", lambda s: {"team": s + "\ud800"}),
    Case("resource_attributes", "to strings", lambda s: {"db.password": s + "\ud800"}),
    Case(
        "OTEL_RESOURCE_ATTRIBUTES",
        "key=value pairs",
        None,
        "OTEL_RESOURCE_ATTRIBUTES",
        lambda s: "team=core," + s.replace("=", ":").replace(",", ";"),
    ),
    Case("metrics_exporter", "prometheus, otlp, none", lambda s: s, "OTEL_METRICS_EXPORTER", lambda s: s),
    Case("traces_exporter", "file, console, otlp, none", lambda s: s, "OTEL_TRACES_EXPORTER", lambda s: s),
    Case("prometheus_host", "host name or IP", _ctl, "LUKHAS_PROMETHEUS_HOST", _ctl),
    Case("prometheus_host", "host name or IP", None, "OTEL_EXPORTER_PROMETHEUS_HOST", _ctl),
    Case("prometheus_port", "0 to 65535", lambda s: s, "LUKHAS_PROMETHEUS_PORT", lambda s: s),
    Case("prometheus_port", "0 to 65535", None, "OTEL_EXPORTER_PROMETHEUS_PORT", lambda s: s),
    Case("serve_metrics", "True or False", lambda s: s),
    Case("scope_labels", "True or False", lambda s: s),
    Case("traces_file", "file path", _ctl, "LUKHAS_TRACES_FILE", _ctl),
    Case("otlp_endpoint", "http:// or https://", _scheme_ftp, "OTEL_EXPORTER_OTLP_ENDPOINT", _scheme_ftp),
    Case("otlp_endpoint", "http:// or https://", None, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", _scheme_ftp),
    Case("otlp_endpoint", "http:// or https://", lambda s: "https://collector.example:99999999/v1?" + s),
    Case("otlp_protocol", "grpc, http/protobuf", lambda s: s, "OTEL_EXPORTER_OTLP_PROTOCOL", lambda s: s),
    Case("otlp_protocol", "grpc, http/protobuf", None, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", lambda s: s),
    Case("otlp_headers", "key=value", lambda s: s.replace("=", ":"), "OTEL_EXPORTER_OTLP_HEADERS", lambda s: s.replace("=", ":")),  # noqa: E501
    Case("otlp_headers", "header names", lambda s: {"authorization": s + "\r\nx-injected: 1"}),
    Case("otlp_headers", "header names", lambda s: {"authorization": 5, "x-note": s}),
    Case("otlp_headers", "key=value", None, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", lambda s: "authorization=" + s + "%0A"),  # noqa: E501
    Case("otlp_timeout", "positive number of", lambda s: s, "OTEL_EXPORTER_OTLP_TIMEOUT", lambda s: s),
    Case("otlp_timeout", "milliseconds", None, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", lambda s: s),
    Case("otlp_compression", "gzip, none", None, "OTEL_EXPORTER_OTLP_COMPRESSION", lambda s: s, _OTLP),
    Case("otlp_compression", "gzip, none", None, "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", lambda s: s, _OTLP),
    Case("metric_export_interval", "positive number", lambda s: s, "OTEL_METRIC_EXPORT_INTERVAL", lambda s: s),
    Case("shutdown_timeout", "positive number of seconds", lambda s: s),
    Case("cardinality_limit", "whole number", lambda s: s, "LUKHAS_CARDINALITY_LIMIT", lambda s: s),
    Case("cardinality_limits", "whole number", lambda s: {"lukhas_memory_docs_total": s}),
    Case("cardinality_limits", "registered catalog", lambda s: {s: 10}),
    Case("aggregation", "own, sdk", lambda s: s, "LUKHAS_AGGREGATION", lambda s: s),
    Case("multiprocess_dir", "directory", _ctl, "LUKHAS_MULTIPROCESS_DIR", _ctl),
    Case("metrics_temporality", "cumulative, delta", lambda s: s, "LUKHAS_METRICS_TEMPORALITY", lambda s: s),
    Case("metrics_temporality", "cumulative, delta", None, "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", lambda s: s),  # noqa: E501
    Case("traces_sampler", "parentbased_traceidratio", lambda s: s, "OTEL_TRACES_SAMPLER", lambda s: s),
    Case("traces_sampler", "parentbased_traceidratio", None, "LUKHAS_TRACES_SAMPLER", _ctl),
    Case("traces_sampler_arg", "from 0 to 1", lambda s: s, "OTEL_TRACES_SAMPLER_ARG", lambda s: s),
    Case("traces_sampler_arg", "from 0 to 1", lambda s: 1.5, "LUKHAS_TRACES_SAMPLER_ARG", lambda s: "1.5"),
    Case("scrub_patterns", "regular expression", lambda s: [s + "("], "LUKHAS_SCRUB_PATTERNS", lambda s: s + "("),
    Case("scrub_allow", "list of strings", lambda s: ["ok", s.encode()]),
    Case("scrub_allow", "list of strings", lambda s: [s + "\ud800"], "LUKHAS_SCRUB_ALLOW", lambda s: s + "\udcff"),
    Case("metrics_bearer_token", "at least 16", lambda s: s + " x", "LUKHAS_METRICS_BEARER_TOKEN", lambda s: s + " x"),
    Case("metrics_bearer_token", "at least 16", lambda s: s.encode()),
    Case("metrics_basic_auth", "user:password", _ctl, "LUKHAS_METRICS_BASIC_AUTH", _ctl),
    Case("metrics_basic_auth", "user:password", lambda s: (s, s[:3])),
    Case(
        "metrics_tls_cert",
        "PEM file",
        lambda s: _MISSING + s + "/cert.pem",
        "LUKHAS_METRICS_TLS_CERT",
        lambda s: _MISSING + s + "/cert.pem",
        (("LUKHAS_METRICS_TLS_KEY", __file__),),
        (("metrics_tls_key", __file__),),
    ),
    Case(
        "metrics_tls_key",
        "PEM file",
        lambda s: _MISSING + s + "/key.pem",
        "LUKHAS_METRICS_TLS_KEY",
        lambda s: _MISSING + s + "/key.pem",
        (("LUKHAS_METRICS_TLS_CERT", __file__),),
        (("metrics_tls_cert", __file__),),
    ),
    # serving: metrics path, per-endpoint catalogs, /health body, _created series
    Case("metrics_path", "URL path", lambda s: "/" + s + "/../x", "LUKHAS_METRICS_PATH", lambda s: "/" + s + "/../x"),
    Case("metrics_path", "URL path", lambda s: "/metrics?" + s, "LUKHAS_METRICS_PATH", lambda s: "metrics/" + s),
    Case("metrics_path", "URL path", lambda s: "/exp%2F" + s, "LUKHAS_METRICS_PATH", lambda s: "/x." + s + "/.."),
    Case("metrics_endpoints", "URL path", lambda s: {"/" + s + "/../x": ["lukhas_core"]}),
    Case("metrics_endpoints", "URL path", lambda s: {"/exp%2F" + s: ["lukhas_core"]}),
    Case(
        "metrics_endpoints", "registered catalogs", lambda s: {"/exp": [s]}, "LUKHAS_METRICS_ENDPOINTS",
        lambda s: "/exp=" + s.replace(",", ";"),
    ),
    Case("metrics_endpoints", "registered catalogs", lambda s: {"/exp": ["lukhas_core", s + "\ud800"]}),
    Case("metrics_endpoints", "registered catalogs", lambda s: {"/exp": ["x%2F" + s]}, "LUKHAS_METRICS_ENDPOINTS",
         lambda s: "/exp=x%2F" + s.replace(",", ";")),
    Case("metrics_endpoints", "catalog names per path", lambda s: {"/exp": [s] * 40}),
    Case("metrics_endpoints", "paths other than metrics_path", None, "LUKHAS_METRICS_ENDPOINTS",
         lambda s: "/metrics=lukhas_core", (("LUKHAS_METRICS_PATH", "/metrics"),)),
    Case("health_body", "JSON object", _ctl, "LUKHAS_HEALTH_BODY", _ctl),
    Case("health_body", "JSON object", lambda s: {"status": s + "\ud800"}),
    Case("health_body", "4096 UTF-8 bytes", lambda s: s * 200, "LUKHAS_HEALTH_BODY", lambda s: s * 200),
    Case("health_body", "JSON object", lambda s: "{" + s, "LUKHAS_HEALTH_BODY", lambda s: "{" + s),
    Case("health_body", "JSON object", lambda s: {"status": s, "n": math.nan}),
    Case("health_body", "JSON object", lambda s: {s: _nested(20)}),
    Case("created_series", "True or False", lambda s: s, "LUKHAS_CREATED_SERIES", lambda s: s),
    Case("third_party_metrics", "on or off", lambda s: s, "LUKHAS_THIRD_PARTY_METRICS", lambda s: s),
    Case("third_party_metrics", "on or off", lambda s: [s]),
    Case("third_party_allow", "instrument-name globs", lambda s: [s], "LUKHAS_THIRD_PARTY_ALLOW", lambda s: s),
    Case("third_party_allow", "instrument-name globs", lambda s: ["http.*"] * 65 + [s]),
    Case("third_party_allow", "list of strings", lambda s: ["http.*", s.encode()]),
    Case(
        "third_party_cardinality_limit", "whole number", lambda s: s, "LUKHAS_THIRD_PARTY_CARDINALITY_LIMIT",
        lambda s: s,
    ),
    Case("logs_exporter", "otlp, file, console, none", lambda s: s, "LUKHAS_LOGS_EXPORTER", lambda s: s),
    Case("logs_exporter", "otlp, file, console, none", lambda s: ["file", s], "OTEL_LOGS_EXPORTER", lambda s: s),
)

#: Whole-value secrets: settings that are credentials themselves, fed the bare marker in a malformed form.
WHOLE_SECRETS: tuple[tuple[str, dict[str, object], dict[str, str]], ...] = (
    ("otlp_headers", {"otlp_headers": MARKER}, {}),
    ("otlp_headers", {}, {"OTEL_EXPORTER_OTLP_HEADERS": MARKER}),
    ("otlp_headers", {}, {"OTEL_EXPORTER_OTLP_METRICS_HEADERS": "a=b," + MARKER}),
    ("metrics_bearer_token", {"metrics_bearer_token": MARKER[:12]}, {}),
    ("metrics_bearer_token", {}, {"LUKHAS_METRICS_BEARER_TOKEN": MARKER + "\udcff"}),
    ("metrics_basic_auth", {"metrics_basic_auth": "admin:" + MARKER[:6]}, {}),
    ("metrics_basic_auth", {}, {"LUKHAS_METRICS_BASIC_AUTH": MARKER}),
    ("metrics_basic_auth", {"metrics_basic_auth": ("admin", MARKER + "\x00")}, {}),
    ("scrub_patterns", {"scrub_patterns": [f"(?P<{MARKER}>x)"]}, {}),
    ("scrub_patterns", {}, {"LUKHAS_SCRUB_PATTERNS": f"ok,{MARKER}[z-a]"}),
)


def _expanded() -> list:
    params = []
    for case in CASES:
        for shape_name, shape in SHAPES.items():
            if case.argument is not None:
                kwargs = {case.setting: case.argument(shape), **dict(case.extra_kwargs)}
                params.append(pytest.param(case, kwargs, {}, None, id=f"{case.setting}-arg-{shape_name}"))
            if case.variable is not None and case.env_value is not None:
                env = {case.variable: case.env_value(shape), **dict(case.extra_env)}
                params.append(pytest.param(case, {}, env, case.variable, id=f"{case.variable}-{shape_name}"))
    return params


def _assert_no_secret(exc: BaseException, caplog: pytest.LogCaptureFixture, caught: list) -> None:
    everything = [
        str(exc),
        repr(exc),
        repr(exc.args),
        repr(getattr(exc, "value", None)),
        "".join(traceback.format_exception(exc)),
        caplog.text,
        *(str(w.message) for w in caught),
    ]
    for text in everything:
        assert MARKER not in text, text
        assert MARKER[:16] not in text, text  # no recognisable part of it either


def _resolve_raising(kwargs: dict, environ: dict, caplog: pytest.LogCaptureFixture) -> tuple[ConfigurationError, list]:
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG):
        warnings.simplefilter("always")
        with pytest.raises(ConfigurationError) as err:
            resolve_settings(environ=environ, **kwargs)
    assert type(err.value) is ConfigurationError
    return err.value, caught


@pytest.mark.parametrize(("case", "kwargs", "environ", "variable"), _expanded())
def test_bad_values_never_echo_the_secret_and_name_field_and_accepted(case, kwargs, environ, variable, caplog):
    exc, caught = _resolve_raising(kwargs, environ, caplog)
    _assert_no_secret(exc, caplog, caught)
    message = str(exc)
    assert case.setting in message, message
    assert case.accepted in message, message
    if variable is not None:
        assert variable in message, message


@pytest.mark.parametrize(("setting", "kwargs", "environ"), WHOLE_SECRETS)
def test_whole_value_secrets_are_never_shown(setting, kwargs, environ, caplog):
    exc, caught = _resolve_raising(kwargs, environ, caplog)
    _assert_no_secret(exc, caplog, caught)
    assert setting in str(exc)
    for variable in environ:
        assert variable in str(exc)


def test_issue_reproductions_are_redacted(caplog):
    """The two reproductions of issue 9, break 11."""
    exc, caught = _resolve_raising({"otlp_endpoint": f"https://user:{MARKER}@host:port"}, {}, caplog)
    _assert_no_secret(exc, caplog, caught)
    assert "https://[REDACTED:userinfo]@host:port" in str(exc)
    exc, caught = _resolve_raising({}, {"OTEL_RESOURCE_ATTRIBUTES": f"team=core,db.password:{MARKER}"}, caplog)
    _assert_no_secret(exc, caplog, caught)
    assert "OTEL_RESOURCE_ATTRIBUTES" in str(exc) and "resource_attributes" in str(exc)


def test_a_valid_endpoint_with_userinfo_is_not_shown_by_repr():
    settings = resolve_settings(environ={}, otlp_endpoint=f"https://user:{MARKER}@collector:4318")
    assert settings.otlp_traces is not None and MARKER in settings.otlp_traces.endpoint  # still used as given
    assert MARKER not in repr(settings) and MARKER not in repr(settings.otlp_traces)
    assert "collector:4318" in repr(settings)


def test_resource_attribute_secrets_are_not_shown_by_repr():
    settings = resolve_settings(environ={"OTEL_RESOURCE_ATTRIBUTES": f"db.password={MARKER},team=core"})
    assert dict(settings.resource_attributes)["db.password"] == MARKER
    assert MARKER not in repr(settings) and "team" in repr(settings)


def test_warnings_never_echo_the_secret(caplog):
    for shape in SHAPES.values():
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            assert resolve_settings(environ={"OTEL_SDK_DISABLED": shape}).disabled is False
        assert MARKER not in caplog.text, caplog.text
        assert "OTEL_SDK_DISABLED" in caplog.text and "'true' or 'false'" in caplog.text


def test_configure_refuses_before_building_anything(caplog):
    with pytest.raises(ConfigurationError) as err:
        lukhas_obs.configure(prometheus_port=0, otlp_endpoint=f"ftp://u:{MARKER}@h")
    _assert_no_secret(err.value, caplog, [])
    assert lukhas_obs.active() is None


# --- hostile values in every field ----------------------------------------------------------------------------------


class _Boom(Exception):
    pass


class EvilStr(str):
    """A str subclass whose every method a parser might call raises."""

    def _boom(self, *args, **kwargs):
        raise _Boom("evil")

    __hash__ = _boom  # type: ignore[assignment]
    __eq__ = _boom  # type: ignore[assignment]
    __str__ = _boom  # type: ignore[assignment]
    __repr__ = _boom  # type: ignore[assignment]
    __len__ = _boom  # type: ignore[assignment]
    __iter__ = _boom  # type: ignore[assignment]
    __getitem__ = _boom  # type: ignore[assignment]
    __contains__ = _boom  # type: ignore[assignment]
    __fspath__ = _boom
    strip = lower = split = partition = encode = startswith = endswith = rstrip = lstrip = _boom  # type: ignore


class EvilObject:
    """An object whose dunders raise."""

    def _boom(self, *args, **kwargs):
        raise _Boom("evil")

    __repr__ = __str__ = __int__ = __float__ = __index__ = __bool__ = __len__ = __iter__ = _boom  # type: ignore
    __hash__ = __eq__ = __fspath__ = __getitem__ = _boom  # type: ignore


class EvilMapping(dict):
    def items(self):
        raise _Boom("evil")

    def keys(self):
        raise _Boom("evil")

    def __iter__(self):
        raise _Boom("evil")


HOSTILE: dict[str, object] = {
    "evil-str": EvilStr("evil-value"),
    "evil-object": EvilObject(),
    "lone-surrogate": "lukhas\ud800",
    "huge-int": 10**5000,
    "negative-huge-int": -(10**5000),
    "nan": math.nan,
    "inf": math.inf,
    "negative": -1.5,
    "huge-float": 1e300,
    "digits-string": "9" * 5000,
    "evil-mapping": EvilMapping(a="b"),
    "list-of-evil": [EvilStr("x"), EvilObject()],
}

ARGUMENTS = (
    "service", "lane", "version", "environment", "namespace", "resource_attributes", "disabled", "metrics_exporter",
    "traces_exporter", "prometheus_host", "prometheus_port", "serve_metrics", "scope_labels", "traces_file",
    "otlp_endpoint", "otlp_protocol", "otlp_headers", "otlp_timeout", "metric_export_interval", "shutdown_timeout",
    "cardinality_limit", "cardinality_limits", "aggregation", "multiprocess_dir", "metrics_temporality",
    "traces_sampler", "traces_sampler_arg", "scrub_patterns", "scrub_allow",
    "metrics_bearer_token", "metrics_basic_auth", "metrics_tls_cert", "metrics_tls_key", "metrics_path",
    "metrics_endpoints", "health_body",
    "created_series", "third_party_metrics", "third_party_allow", "third_party_cardinality_limit", "logs_exporter",
)  # fmt: skip
#: Hostile values no field accepts (``disabled`` takes any truthy value, so it is exempt).
MUST_REFUSE = {"lone-surrogate", "huge-int", "negative-huge-int", "nan", "inf", "negative", "huge-float"}


def _well_behaved(settings: object) -> None:
    """An accepted hostile value must leave a Settings that compares, hashes and prints (configure() does all)."""
    assert settings == settings
    hash(settings)
    assert "S3CR3T" not in repr(settings)


@pytest.mark.parametrize("hostile", list(HOSTILE))
@pytest.mark.parametrize("argument", ARGUMENTS)
def test_hostile_argument_is_a_configuration_error_naming_the_field(argument, hostile):
    kwargs: dict[str, object] = {argument: HOSTILE[hostile]}
    if argument == "metrics_tls_cert":
        kwargs["metrics_tls_key"] = __file__
    if argument == "metrics_tls_key":
        kwargs["metrics_tls_cert"] = __file__
    try:
        settings = resolve_settings(environ={}, **kwargs)
    except ConfigurationError as exc:
        assert type(exc) is ConfigurationError
        assert argument in str(exc), str(exc)
        assert "S3CR3T" not in str(exc) + repr(exc.value)
        "".join(traceback.format_exception(exc))
    except Exception as exc:  # the point: nothing but ConfigurationError
        pytest.fail(f"{argument}={hostile}: {type(exc).__name__} instead of ConfigurationError")
    else:
        if hostile in MUST_REFUSE and argument != "disabled":
            pytest.fail(f"{argument}={hostile} was accepted")
        _well_behaved(settings)


_TEXT_VARIABLES = (
    "LUKHAS_SERVICE", "OTEL_SERVICE_NAME", "LUKHAS_LANE", "LUKHAS_VERSION", "LUKHAS_ENV", "LUKHAS_NAMESPACE",
    "LUKHAS_PROMETHEUS_HOST",
)  # fmt: skip
#: (variable, hostile) pairs that are legitimate values: a path may hold any byte (surrogateescape) and be long.
_LEGIT_VARIABLE_VALUES = {
    ("LUKHAS_TRACES_FILE", "surrogateescape"),
    ("LUKHAS_TRACES_FILE", "digits"),
    ("LUKHAS_TRACES_FILE", "huge-exponent"),
    ("LUKHAS_SCRUB_ALLOW", "digits"),
    ("LUKHAS_SCRUB_ALLOW", "huge-exponent"),
    ("LUKHAS_METRICS_BEARER_TOKEN", "digits"),
    ("LUKHAS_HEALTH_BODY", "huge-exponent"),  # "1e400" is a fine text body
    ("LUKHAS_THIRD_PARTY_ALLOW", "huge-exponent"),  # "1e400" is a valid instrument-name glob
    *((v, "huge-exponent") for v in _TEXT_VARIABLES),
}


@pytest.mark.parametrize(
    "variable",
    [
        "LUKHAS_SERVICE", "OTEL_SERVICE_NAME", "LUKHAS_LANE", "LUKHAS_VERSION", "LUKHAS_ENV", "LUKHAS_NAMESPACE",
        "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "LUKHAS_PROMETHEUS_HOST",
        "LUKHAS_PROMETHEUS_PORT", "LUKHAS_TRACES_FILE", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_METRIC_EXPORT_INTERVAL",
        "LUKHAS_CARDINALITY_LIMIT", "LUKHAS_SCRUB_ALLOW", "LUKHAS_METRICS_BEARER_TOKEN", "LUKHAS_METRICS_BASIC_AUTH",
        "LUKHAS_METRICS_PATH", "LUKHAS_METRICS_ENDPOINTS", "LUKHAS_HEALTH_BODY", "LUKHAS_CREATED_SERIES",
        "LUKHAS_THIRD_PARTY_METRICS", "LUKHAS_THIRD_PARTY_ALLOW", "LUKHAS_THIRD_PARTY_CARDINALITY_LIMIT",
        "LUKHAS_LOGS_EXPORTER", "OTEL_LOGS_EXPORTER",
    ],
)  # fmt: skip
@pytest.mark.parametrize("hostile", ["evil-str", "surrogateescape", "digits", "huge-exponent"])
def test_hostile_variable_is_a_configuration_error_naming_the_variable(variable, hostile):
    value = {
        "evil-str": EvilStr("evil-value"),
        "surrogateescape": "x\udcff",  # what os.environ holds for a non-UTF-8 byte
        "digits": "9" * 5000,
        "huge-exponent": "1e400",
    }[hostile]
    try:
        settings = resolve_settings(environ={variable: value})
    except ConfigurationError as exc:
        assert type(exc) is ConfigurationError
        assert variable in str(exc), str(exc)
    except Exception as exc:
        pytest.fail(f"{variable}={hostile}: {type(exc).__name__} instead of ConfigurationError")
    else:
        if hostile != "evil-str" and (variable, hostile) not in _LEGIT_VARIABLE_VALUES:
            pytest.fail(f"{variable}={hostile} was accepted")
        _well_behaved(settings)


def test_huge_durations_and_ports_are_refused_with_the_range():
    for kwargs, fragment in [
        ({"prometheus_port": 10**5000}, "0 to 65535"),
        ({"otlp_timeout": 10**5000}, "positive number of seconds"),
        ({"shutdown_timeout": 1e300}, "at most"),
        ({"metric_export_interval": math.inf}, "positive number"),
        ({"cardinality_limit": -(10**5000)}, "1 to 1000000"),
    ]:
        with pytest.raises(ConfigurationError) as err:
            resolve_settings(environ={}, **kwargs)
        assert fragment in str(err.value) and next(iter(kwargs)) in str(err.value)
        assert len(str(err.value)) < 600  # a huge value is described, never printed


# --- cardinality_limits typos -----------------------------------------------------------------------------------------


def test_cardinality_limits_typo_is_refused_with_close_matches():
    with pytest.raises(ConfigurationError) as err:
        resolve_settings(environ={}, cardinality_limits={"lukhas_memory_doc_total": 10})
    message = str(err.value)
    assert "cardinality_limits" in message and "'lukhas_memory_doc_total'" in message
    assert "did you mean" in message and "lukhas_memory_docs_total" in message


def test_cardinality_limits_otel_name_suggests_the_prometheus_name():
    with pytest.raises(ConfigurationError) as err:
        resolve_settings(environ={}, cardinality_limits={"lukhas.memory.docs": 10})
    assert "lukhas_memory_docs_total" in str(err.value)


def test_cardinality_limits_for_declared_metrics_are_kept():
    settings = resolve_settings(environ={}, cardinality_limits={"lukhas_memory_docs_total": 10})
    assert settings.cardinality_limits == (("lukhas_memory_docs_total", 10),)


def test_configure_refuses_a_cardinality_limits_typo():
    with pytest.raises(ConfigurationError):
        lukhas_obs.configure(prometheus_port=0, traces_exporter="none", cardinality_limits={"lukhas_memroy_x": 5})
    assert lukhas_obs.active() is None


# --- the table ----------------------------------------------------------------------------------------------------


def test_every_setting_of_the_table_is_attacked():
    from lukhas_obs.settings import settings_reference

    attacked = {c.setting for c in CASES} | {s for s, _, _ in WHOLE_SECRETS}
    names = {row["name"] for row in settings_reference()}
    variables_attacked = {c.variable for c in CASES if c.variable}
    assert names - {"disabled"} <= attacked, names - attacked  # disabled: a flag; see the warnings test
    for row in settings_reference():
        if row["secret"]:
            assert row["name"] in {s for s, _, _ in WHOLE_SECRETS}, row
        for variable in row["variables"]:
            generic = variable.replace("{SIGNAL}", "TRACES")
            assert (
                variable in variables_attacked
                or generic in variables_attacked
                or variable.replace("{SIGNAL}", "METRICS") in variables_attacked
                or variable in ("OTEL_SDK_DISABLED",)
                or row["name"] in {s for s, _, e in WHOLE_SECRETS if e}
            ), variable


def test_reference_lists_argument_variables_default_and_accepted():
    from lukhas_obs.settings import settings_reference, settings_reference_markdown

    rows = {row["name"]: row for row in settings_reference()}
    assert rows["service"]["argument"] == "service"
    assert rows["service"]["variables"] == ("LUKHAS_SERVICE", "OTEL_SERVICE_NAME")
    assert rows["service"]["resource_keys"] == ("service.name",)
    assert rows["service"]["default"] == "lukhas"
    assert rows["prometheus_port"]["default"] == "9109"
    assert rows["otlp_compression"]["argument"] is None
    assert rows["otlp_headers"]["secret"] is True and rows["service"]["secret"] is False
    assert all(row["accepted"] and row["doc"] for row in rows.values())
    markdown = settings_reference_markdown()
    assert "| `service` |" in markdown and "`OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT`" in markdown


def test_secret_flag_matches_what_settings_repr_hides():
    from lukhas_obs.settings import settings_reference

    settings = resolve_settings(
        environ={},
        metrics_bearer_token="t" * 20 + "BEARERVALUE",
        metrics_basic_auth="admin:BASICVALUE",
        scrub_patterns=["PATTERNVALUE"],
        otlp_endpoint="http://127.0.0.1:4318",
        otlp_headers={"x-k": "HEADERVALUE"},
    )
    text = repr(settings)
    for needle in ("BEARERVALUE", "BASICVALUE", "PATTERNVALUE", "HEADERVALUE"):
        assert needle not in text
    assert {r["name"] for r in settings_reference() if r["secret"]} == {
        "otlp_headers",
        "metrics_bearer_token",
        "metrics_basic_auth",
        "scrub_patterns",
    }


def test_every_argument_of_configure_is_in_the_table():
    import inspect

    from lukhas_obs.settings import settings_reference

    arguments = {row["argument"] for row in settings_reference() if row["argument"]}
    configure_args = set(inspect.signature(lukhas_obs.configure).parameters) - {"reconfigure"}
    resolve_args = set(inspect.signature(resolve_settings).parameters) - {"environ"}
    assert arguments == configure_args == resolve_args
