"""Settings precedence (argument > LUKHAS_* > OTEL_* > default) and configure-time validation messages."""

from __future__ import annotations

import pytest

from lukhas_obs import ConfigurationError, resolve_settings


def resolve(environ: dict[str, str] | None = None, **kwargs):
    return resolve_settings(environ=environ or {}, **kwargs)


def test_defaults_match_seed_common_labels():
    s = resolve()
    assert (s.service, s.lane, s.version, s.environment) == ("lukhas", "candidate", "dev", "dev")
    assert (s.prometheus_host, s.prometheus_port) == ("127.0.0.1", 9109)
    assert s.traces_exporters == ("file",)
    assert s.metrics_exporters == ("prometheus",)
    assert s.otlp_traces is None and s.otlp_metrics is None
    assert s.traces_file.endswith("lukhas-traces.jsonl")


@pytest.mark.parametrize(
    ("environ", "kwargs", "expected"),
    [
        ({}, {}, "lukhas"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-ora"}, {}, "from-ora"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-ora", "OTEL_SERVICE_NAME": "from-otel"}, {}, "from-otel"),
        ({"OTEL_SERVICE_NAME": "from-otel", "LUKHAS_SERVICE": "from-lukhas"}, {}, "from-lukhas"),
        ({"LUKHAS_SERVICE": "from-lukhas"}, {"service": "from-arg"}, "from-arg"),
    ],
)
def test_service_precedence(environ, kwargs, expected):
    assert resolve(environ, **kwargs).service == expected


@pytest.mark.parametrize(
    ("field", "lukhas_var", "ora_key", "default"),
    [
        ("lane", "LUKHAS_LANE", "lukhas.lane", "candidate"),
        ("version", "LUKHAS_VERSION", "service.version", "dev"),
        ("environment", "LUKHAS_ENV", "deployment.environment.name", "dev"),
        ("namespace", "LUKHAS_NAMESPACE", "service.namespace", "lukhas"),
    ],
)
def test_identity_precedence(field, lukhas_var, ora_key, default):
    ora = {"OTEL_RESOURCE_ATTRIBUTES": f"{ora_key}=ora1"}
    assert getattr(resolve(), field) == default
    assert getattr(resolve(ora), field) == "ora1"
    assert getattr(resolve({**ora, lukhas_var: "env1"}), field) == "env1"
    assert getattr(resolve({**ora, lukhas_var: "env1"}, **{field: "arg1"}), field) == "arg1"


def test_resource_attributes_are_percent_decoded_and_extra_keys_kept():
    s = resolve({"OTEL_RESOURCE_ATTRIBUTES": "team=core%20memory, region=eu-west-1,service.name=x"})
    assert dict(s.resource_attributes) == {"team": "core memory", "region": "eu-west-1"}
    s = resolve({"OTEL_RESOURCE_ATTRIBUTES": "team=a"}, resource_attributes={"team": "b", "cluster": "c"})
    assert dict(s.resource_attributes) == {"team": "b", "cluster": "c"}


def test_deprecated_deployment_environment_key_is_a_fallback():
    assert resolve({"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=staging"}).environment == "staging"


def test_prometheus_address_precedence():
    env = {"OTEL_EXPORTER_PROMETHEUS_PORT": "9500", "OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0"}
    assert (resolve(env).prometheus_host, resolve(env).prometheus_port) == ("0.0.0.0", 9500)
    env["LUKHAS_PROMETHEUS_PORT"] = "9600"
    assert resolve(env).prometheus_port == 9600
    assert resolve(env, prometheus_port=0).prometheus_port == 0


def test_otlp_http_base_endpoint_gets_signal_paths():
    s = resolve({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"})
    assert s.otlp_traces.endpoint == "http://collector:4318/v1/traces"
    assert s.otlp_metrics.endpoint == "http://collector:4318/v1/metrics"
    assert s.otlp_traces.protocol == "http/protobuf"
    assert s.traces_exporters == ("otlp",)
    assert s.metrics_exporters == ("prometheus", "otlp")


def test_otlp_per_signal_endpoint_is_used_as_is_and_wins():
    s = resolve(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:9999/custom",
        }
    )
    assert s.otlp_traces.endpoint == "http://traces:9999/custom"
    assert s.otlp_metrics.endpoint == "http://base:4318/v1/metrics"


def test_otlp_grpc_protocol_per_signal_and_argument_precedence():
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
    }
    s = resolve(env)
    assert (s.otlp_traces.protocol, s.otlp_metrics.protocol) == ("http/protobuf", "grpc")
    assert s.otlp_metrics.endpoint == "http://collector:4317"
    assert s.otlp_metrics.insecure is True
    s = resolve(env, otlp_protocol="grpc", otlp_endpoint="https://arg:4317")
    assert (s.otlp_traces.protocol, s.otlp_traces.endpoint) == ("grpc", "https://arg:4317")
    assert s.otlp_traces.insecure is False
    assert resolve(env, otlp_protocol="http").otlp_traces.protocol == "http/protobuf"


def test_otlp_headers_timeout_and_compression():
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20abc,X-Team=core",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-team=traces",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    }
    s = resolve(env)
    assert dict(s.otlp_traces.headers) == {"authorization": "Bearer abc", "x-team": "traces"}
    assert dict(s.otlp_metrics.headers) == {"authorization": "Bearer abc", "x-team": "core"}
    assert s.otlp_traces.timeout_s == 2.5  # the spec's OTEL_EXPORTER_OTLP_TIMEOUT is in milliseconds
    assert s.otlp_traces.compression == "gzip"
    assert "Bearer" not in repr(s)  # credentials never appear in a repr or a log line
    assert dict(resolve(env, otlp_headers={"k": "v"}).otlp_traces.headers) == {"k": "v"}


def test_exporter_selection_from_env_and_arguments():
    s = resolve({"OTEL_TRACES_EXPORTER": "console,file", "OTEL_METRICS_EXPORTER": "none"})
    assert s.traces_exporters == ("console", "file")
    assert s.metrics_exporters == ()
    s = resolve(traces_exporter="otlp")  # asked for OTLP without an endpoint: the spec's default endpoint
    assert s.otlp_traces.endpoint == "http://localhost:4318/v1/traces"
    assert resolve({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, traces_exporter="file").otlp_traces is None


def test_sdk_disabled_follows_otel_boolean_rules(caplog):
    assert resolve({"OTEL_SDK_DISABLED": "TRUE"}).disabled is True
    assert resolve({"OTEL_SDK_DISABLED": "false"}).disabled is False
    assert resolve({"OTEL_SDK_DISABLED": "yes"}).disabled is False
    assert "OTEL_SDK_DISABLED='yes' is not 'true' or 'false'" in caplog.text
    assert resolve({"OTEL_SDK_DISABLED": "true"}, disabled=False).disabled is False


def test_equal_inputs_resolve_equal():
    env = {"LUKHAS_LANE": "prod", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}
    assert resolve(env, service="a") == resolve(dict(env), service="a")
    assert resolve(env, service="a").differences(resolve(env, service="b")) == ["service"]


# --- invalid settings: ConfigurationError names the field, the source, the value and what is accepted ---------------


@pytest.mark.parametrize(
    ("environ", "kwargs", "fragments"),
    [
        ({}, {"otlp_protocol": "foo"}, ["otlp_protocol='foo'", "grpc, http/protobuf, http"]),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
            {},
            ["from OTEL_EXPORTER_OTLP_PROTOCOL", "http/json is not supported"],
        ),
        ({}, {"prometheus_port": 70000}, ["prometheus_port=70000", "0 to 65535"]),
        ({}, {"prometheus_port": -1}, ["prometheus_port=-1", "0 to 65535"]),
        ({}, {"prometheus_port": True}, ["prometheus_port=True"]),
        ({"LUKHAS_PROMETHEUS_PORT": "http"}, {}, ["prometheus_port='http'", "from LUKHAS_PROMETHEUS_PORT"]),
        ({}, {"service": ""}, ["service=''", "non-empty"]),
        ({}, {"service": "   "}, ["service='   '", "non-empty"]),
        ({"LUKHAS_SERVICE": "bad\x00name"}, {}, ["from LUKHAS_SERVICE"]),
        ({}, {"lane": "prod lane"}, ["lane='prod lane'", "letters, digits"]),
        (
            {"OTEL_RESOURCE_ATTRIBUTES": "team=core,broken"},
            {},
            ["OTEL_RESOURCE_ATTRIBUTES='broken'", "key=value pairs"],
        ),
        ({"OTEL_RESOURCE_ATTRIBUTES": "=value"}, {}, ["OTEL_RESOURCE_ATTRIBUTES", "key=value"]),
        ({}, {"otlp_endpoint": "collector:4317"}, ["otlp_endpoint='collector:4317'", "http:// or https://"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://c"}, {}, ["from OTEL_EXPORTER_OTLP_ENDPOINT"]),
        ({}, {"traces_exporter": "jaeger"}, ["traces_exporter='jaeger'", "file, console, otlp, none"]),
        ({"OTEL_METRICS_EXPORTER": "statsd"}, {}, ["from OTEL_METRICS_EXPORTER", "prometheus, otlp, none"]),
        ({}, {"otlp_timeout": 0}, ["otlp_timeout=0", "positive number of seconds"]),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "soon"},
            {},
            ["from OTEL_EXPORTER_OTLP_TIMEOUT", "milliseconds"],
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"},
            {},
            ["otlp_compression='zstd'", "gzip, none"],
        ),
        ({}, {"resource_attributes": {"service.name": "x"}}, ["resource_attributes", "first-class"]),
    ],
)
def test_invalid_settings_name_field_value_and_accepted(environ, kwargs, fragments):
    with pytest.raises(ConfigurationError) as err:
        resolve(environ, **kwargs)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, message


def test_malformed_headers_never_echo_the_secret():
    with pytest.raises(ConfigurationError) as err:
        resolve({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "s3cr3t-token-value"})
    assert "s3cr3t" not in str(err.value)
    assert "OTEL_EXPORTER_OTLP_HEADERS" in str(err.value)
