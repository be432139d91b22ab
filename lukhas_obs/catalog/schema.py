"""The input schema of catalog files: pydantic v2 models, and the problems they report, placed and explained.

A catalog document goes through two steps. First its *shape* is checked here: every mapping accepts exactly its keys
(``extra="forbid"``, so a typo is an error rather than a silently dropped label), every value has its type (strict: no
``true`` where a number is expected, no ``null`` where a string is expected, no number where a string is expected,
finite numbers only), strings are bounded, valid text. Then the validated models are converted into the spec
dataclasses (:mod:`lukhas_obs.catalog.spec`, ``slo``, ``dashboard``) whose own validation checks meaning (legal names,
buckets increasing, a dashboard panel's metric exists, ...).

The ``slos:`` and ``dashboards:`` sections have their models in :mod:`lukhas_obs.catalog.slo` and
:mod:`lukhas_obs.catalog.dashboard`, imported only when those sections are loaded: a running service that registers a
catalog checks its metrics and spans, not its Grafana grid. :func:`catalog_json_schema` joins all the models into the
JSON Schema published as ``lukhas_obs/catalog/catalog.schema.json`` (regenerate with
``python -m lukhas_obs.catalog.schema > lukhas_obs/catalog/catalog.schema.json``), so editors check a catalog as it
is typed. Its enumerations (metric kinds, severities, query shapes, ...) are checked again, with the same words, by
the spec validation, so the schema never refuses a file that loads.

Problems are reported as ``<path>: <what is wrong>; <what is accepted>`` with paths like ``metrics[3].buckets``;
:func:`problems_from` adds ``file:line:`` when the document came from a file.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from lukhas_obs.catalog.spec import COMMON_ATTRIBUTE_SOURCES, METRIC_KINDS, SPAN_KINDS

__all__ = [
    "MAX_NAME",
    "MAX_PROBLEMS",
    "MAX_TEXT",
    "AttributeDoc",
    "CatalogDoc",
    "DocumentedModel",
    "MetricDoc",
    "Model",
    "Name",
    "SpanDoc",
    "Text",
    "catalog_json_schema",
    "describe",
    "problems_from",
]

#: Longest name (metric, label, alert, file ...) a catalog may use; OTel instrument names stop at 255 too.
MAX_NAME = 255
#: Longest free text (descriptions, titles, summaries, legends).
MAX_TEXT = 4096
#: Problems listed in one CatalogError; the rest are counted.
MAX_PROBLEMS = 100

#: A short string: names, keys, units, durations, colours.
Name = Annotated[str, StringConstraints(max_length=MAX_NAME)]
#: Free text.
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
#: A finite float (``allow_inf_nan=False`` on every model); an integer is accepted and becomes a float.
Number = float


class Model(BaseModel):
    """Base of every catalog model: unknown keys are errors, types are strict, numbers finite, instances frozen."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        frozen=True,
        hide_input_in_errors=True,
    )


class DocumentedModel(Model):
    """A model whose attribute docstrings become its JSON Schema descriptions.

    Reading them costs a parse of the module source when the class is built, so only the models of sections loaded
    on demand (SLOs, dashboards) use it; the catalog models, built on ``import lukhas_obs``, spell ``description=``.
    """

    model_config = ConfigDict(use_attribute_docstrings=True)


def enum(values: Iterable[str], default: Any = ..., description: str | None = None) -> Any:
    """A ``Field`` that lists ``values`` in the JSON Schema while validation accepts any string.

    The spec validation refuses other values with its own message (``kind 'summary' is not one of ...``), so the
    published schema and loading agree, and the meaning of a word lives in one place.
    """
    return Field(default, description=description, json_schema_extra={"enum": list(values)})


# ------------------------------------------------------------------------------------------------ catalog models


class AttributeDoc(Model):
    """A call-time attribute (label) that metrics list by key."""

    description: Text = Field("", description="What the attribute says.")
    values: list[Name] | None = Field(
        None,
        description="The allowed values; any other value is recorded as ``fold_to`` (``other``). "
        "Absent: free-form (bounded by cardinality).",
    )
    fold_to: Name = Field("other", description="What a value outside ``values`` is recorded as.")
    keep_unknown: bool = Field(
        False, description="Record values outside ``values`` as given (bounded by cardinality) instead of folding."
    )
    secret: Literal[False] | None = Field(
        None,
        description="``false`` declares that this label is not a credential although its name looks like one "
        "(``token_id``, ``signature_fractale``): it is accepted and its values are recorded unscrubbed.",
    )


def _bucket_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "<name>"
    if isinstance(value, list):
        return "<list>"
    return None


#: Union tags that appear in error locations after ``buckets``; they are not keys of the document.
_UNION_TAGS = frozenset({"<name>", "<list>"})

Buckets = Annotated[
    Annotated[Name, Tag("<name>")] | Annotated[list[Number], Tag("<list>")],
    Discriminator(
        _bucket_tag,
        custom_error_type="buckets",
        custom_error_message="must be a bucket_sets name or a list of numbers",
    ),
]


class MetricDoc(Model):
    """One metric: the Prometheus name users query and the OTel instrument behind it."""

    name: Name = Field(
        description="The Prometheus name (``lukhas_memory_search_seconds``); "
        "must be what the exporter derives from otel_name."
    )
    otel_name: Name = Field(
        "",
        json_schema_extra={"default": None},
        description="The OTel instrument name (``lukhas.memory.search``); defaults to ``name``.",
    )
    kind: Name = enum(METRIC_KINDS, description="The instrument kind.")
    unit: Name = Field(
        "",
        description="A UCUM unit: ``s``, ``By``, ``1``, an annotation such as ``{doc}``, or a ratio such as ``By/s``.",
    )
    buckets: Buckets | None = Field(
        None, description="Histograms only: a ``bucket_sets`` name or an inline list of increasing boundaries."
    )
    description: Text = Field("", description="The HELP text.")
    component: Name | None = Field(None, description="The part of the system that records it (memory, identity, ...).")
    attributes: list[Name] | None = Field(
        None, description="Call-time attributes, by key of the catalog's ``attributes``."
    )
    source: Name | None = Field(
        None, description="rate_of_change only: the catalog gauge whose rate of change per second this is."
    )
    windows: list[Name | Number] | None = Field(
        None,
        description="rate_of_change only: sliding windows (``30s``, ``1m``, ``5m``), one series each with a "
        "``window`` label; the series also carry the source's attributes.",
    )
    gauge_mode: Name | None = enum(
        ("last", "sum", "min", "max", "per_process"),
        None,
        description="Gauges only, multiprocess mode (docs/MULTIPROCESS.md): how one /metrics combines the workers' "
        "values: ``last`` (default: the most recent set), ``sum``, ``min`` or ``max`` of live workers, or "
        "``per_process`` (one series per live worker, with a ``pid`` label).",
    )

    @field_validator("buckets")
    @classmethod
    def _bucket_set_defined(cls, value: str | list[float] | None, info: ValidationInfo) -> str | list[float] | None:
        known = (info.context or {}).get("bucket_sets")
        if isinstance(value, str) and known is not None and value not in known:
            raise PydanticCustomError(
                "undefined_bucket_set",
                "bucket set {name} is not defined in bucket_sets (defined: {known})",
                {"name": repr(value), "known": ", ".join(sorted(known)) or "none"},
            )
        return value

    @field_validator("attributes")
    @classmethod
    def _attributes_defined(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        known = (info.context or {}).get("attributes")
        missing = [key for key in value or () if known is not None and key not in known]
        if missing:
            raise PydanticCustomError(
                "undefined_attribute",
                "attribute {keys} is not defined under attributes (defined: {known})",
                {"keys": ", ".join(map(repr, missing)), "known": ", ".join(sorted(known or ())) or "none"},
            )
        return value


class SpanDoc(Model):
    """A span family: one name, or a template such as ``identity.authenticate_{tier}`` expanded over ``params``."""

    name: Name = Field(description="The span name or template; template fields are ``{identifier}``.")
    component: Name = Field("", description="The part of the system that opens it.")
    description: Text = ""
    attributes: list[Name] | None = Field(None, description="Attribute keys the span carries.")
    kind: Name = enum(SPAN_KINDS, "internal", description="The OTel span kind.")
    params: dict[Name, list[Name]] | None = Field(None, description="Values of each template field.")


class CatalogDoc(Model):
    """A lukhas-obs catalog: metrics and spans, with the SLOs and dashboards built on them."""

    catalog: Name = Field(description="The catalog's lower_snake_case name.")
    title: Text = ""
    description: Text = ""
    common_attributes: list[Annotated[Name, enum(COMMON_ATTRIBUTE_SOURCES)]] | None = Field(
        None, description="Labels filled from the configured settings on every series (``lane``, ``service``, ...)."
    )
    bucket_sets: dict[Name, list[Number]] | None = Field(
        None, description="Named bucket boundary lists histograms refer to by name."
    )
    switch: Name | None = Field(
        None,
        description="An environment variable that turns this catalog's metrics into no-ops when it is off, false, "
        "0 or no at configure (other catalogs, traces and self-telemetry are untouched).",
    )
    start_at_zero: bool = Field(
        False,
        description="Metrics without call-time attributes are present at 0 from configure (prometheus_client's "
        "behaviour; histograms only on the default own aggregation).",
    )
    attributes: dict[Name, AttributeDoc | None] | None = Field(None, description="Call-time attributes, by key.")
    metrics: list[MetricDoc] | None = None
    spans: list[SpanDoc] | None = None
    slos: dict[str, Any] | None = Field(
        None, description="Service level objectives: see ``SloSetDoc`` (checked when the SLOs are loaded)."
    )
    dashboards: list[Any] | None = Field(
        None, description="Grafana dashboards: see ``DashboardDoc`` (checked when the dashboards are loaded)."
    )
    slo_targets: dict[str, Any] | None = Field(
        None,
        description="SLO targets for replay, online evaluation and the canary ladder: see docs/SLO-TOOLKIT.md "
        "(checked when they are used).",
    )

    @model_validator(mode="before")
    @classmethod
    def _known_names(cls, data: Any, info: ValidationInfo) -> Any:
        """Record the bucket set and attribute names, so metrics referring to undefined ones are placed errors.

        Names come from the raw document: a defined name with a bad value is one problem (at its definition), not
        one more at every metric that uses it.
        """
        if isinstance(info.context, dict) and isinstance(data, dict):
            for key in ("bucket_sets", "attributes"):
                section = data.get(key)
                if section is None:
                    info.context[key] = frozenset()
                elif isinstance(section, dict):
                    info.context[key] = frozenset(k for k in section if isinstance(k, str))
        return data


def validate_catalog_doc(doc: Any) -> CatalogDoc:
    """Validate the shape of a catalog document (sections ``slos`` and ``dashboards`` only as mapping/list)."""
    return CatalogDoc.model_validate(doc, context={})


# ------------------------------------------------------------------------------------------------ problem messages

Locate = Callable[[Sequence[Any]], "int | None"]


def describe(value: Any) -> str:
    """A short, safe description of a value for an error message (never the whole value, never a container)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int):
        return f"an integer ({int(value)})" if value.bit_length() <= 64 else f"an integer of {value.bit_length()} bits"
    if isinstance(value, float):
        return f"a number ({float(value)!r})"
    if isinstance(value, str):
        text = str.__str__(value)
        shown = repr(text[:40]) + ("…" if len(text) > 40 else "")
        return f"a string of {len(text)} characters" if len(text) > 200 else f"a string ({shown})"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} value"


_EXPECTED = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    # pydantic-core refuses lone surrogates: they cannot be encoded, and a HELP line holding one breaks /metrics
    "string_unicode": "must be valid Unicode text (it holds a lone surrogate)",
}


def _path(loc: Sequence[Any]) -> str:
    out = ""
    for el in loc:
        if isinstance(el, int):
            out += f"[{el}]"
        else:
            out += ("." if out else "") + str(el)
    return out


def _clean(loc: Sequence[Any]) -> tuple[Any, ...]:
    """Drop union tags (``buckets.<list>.0`` → ``buckets[0]``) and pydantic's ``[key]`` marker."""
    out: list[Any] = []
    for el in loc:
        if el in _UNION_TAGS and out and out[-1] == "buckets":
            continue
        out.append(el)
    return tuple(out)


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _model_at(root: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc`` (for the list of its accepted keys)."""
    tp: Any = root
    for el in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {f.alias or name: f for name, f in tp.model_fields.items()}
            if el not in fields:
                return None
            tp = fields[el].annotation
        elif typing.get_origin(tp) is list and isinstance(el, int):
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def accepted_keys(model: type[BaseModel]) -> list[str]:
    """The keys a mapping validated by ``model`` accepts, in declaration order (aliases such as ``for``)."""
    return [f.alias or name for name, f in model.model_fields.items()]


def _message(error: Any, root: type[BaseModel], raw_loc: Sequence[Any]) -> tuple[tuple[Any, ...], str]:
    loc = _clean(error["loc"])
    kind = error["type"]
    value = error.get("input")
    parent, last = loc[:-1], (loc[-1] if loc else None)
    if kind == "extra_forbidden":
        model = _model_at(root, _clean(raw_loc[:-1]))
        accepted = f"; accepted: {', '.join(accepted_keys(model))}" if model is not None else ""
        where = _path(parent) or "the document"
        return loc, f"{where}: unknown key {str(last)[:60]!r}{accepted}"
    if kind == "missing":
        return loc, f"{_path(parent) or 'the document'}: {last} is required"
    if last == "[key]":
        return parent[:-1] if parent else parent, f"{_path(parent) or 'the document'}: keys must be strings, got " + (
            describe(value)
        )
    if kind in _EXPECTED:
        expected = _EXPECTED[kind]
    elif kind in ("string_too_long", "too_long"):
        limit = (error.get("ctx") or {}).get("max_length")
        expected = f"must be at most {limit} {'characters' if kind == 'string_too_long' else 'items'} long"
    elif kind in ("less_than_equal", "greater_than_equal"):
        bound = (error.get("ctx") or {}).get("le" if kind == "less_than_equal" else "ge")
        expected = f"must be {'at most' if kind == 'less_than_equal' else 'at least'} {bound}"
    else:
        expected = str(error["msg"])
        if expected.startswith("Input should be "):
            expected = "must be " + expected[len("Input should be ") :]
    if kind in ("undefined_bucket_set", "undefined_attribute"):
        return loc, f"{_path(parent) or 'the document'}: {expected}"
    if kind in ("model_type", "model_attributes_type"):
        model = _model_at(root, _clean(raw_loc))
        if model is not None:
            expected += f" with the keys {', '.join(accepted_keys(model))}"
    if isinstance(last, str) and parent:
        text = f"{_path(parent)}: {last} {expected}"
    else:
        text = f"{_path(loc) or 'the document'} {expected}"
    if kind in _EXPECTED or kind in ("buckets", "less_than_equal", "greater_than_equal") or kind.endswith("_type"):
        text += f", got {describe(value)}"
        if kind == "string_type" and isinstance(value, (int, float)):
            text += " (quote it if it is text)"
    elif kind in ("string_too_long", "too_long"):
        text += f", got {len(value) if isinstance(value, (str, list)) else '?'}"
    return loc, text


def problems_from(
    error: ValidationError,
    root: type[BaseModel],
    *,
    prefix: Sequence[Any] = (),
    origin: str | None = None,
    locate: Locate | None = None,
) -> list[str]:
    """Turn a pydantic ``ValidationError`` into catalog problem lines: place, what is wrong, what is accepted.

    ``prefix`` is prepended to every location (a section validated on its own: ``("slos",)``); ``origin`` and
    ``locate`` (path → 1-based YAML line) add ``file:line:`` in front.
    """
    out: list[str] = []
    for detail in error.errors(include_url=False, include_context=True, include_input=True):
        item: dict[str, Any] = dict(detail)
        raw_loc = tuple(prefix) + tuple(item["loc"])
        item["loc"] = raw_loc
        loc, text = _message(item, root, raw_loc)
        out.append(placed(text, loc, origin, locate))
    return out


def placed(text: str, loc: Sequence[Any], origin: str | None, locate: Locate | None) -> str:
    """``file:line: text`` (or ``file: text``, or ``text``) for the document node at ``loc``."""
    if origin is None:
        return text
    line = None
    if locate is not None and loc:
        try:
            line = locate(loc)
        except Exception:  # a line number is a courtesy, never a second error
            line = None
    return f"{origin}:{line}: {text}" if line else f"{origin}: {text}"


def bounded(problems: list[str]) -> list[str]:
    """At most :data:`MAX_PROBLEMS` problems, the rest counted (a hostile document must not make a huge message)."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more problems"]


# ---------------------------------------------------------------------------------------------------- JSON Schema

SCHEMA_ID = "https://github.com/lukhas/lukhas-obs/blob/main/lukhas_obs/catalog/catalog.schema.json"


def full_catalog_model() -> type[CatalogDoc]:
    """:class:`CatalogDoc` with the ``slos`` and ``dashboards`` sections typed by their own models."""
    from lukhas_obs.catalog.dashboard import DashboardDoc
    from lukhas_obs.catalog.slo import SloSetDoc

    class CatalogFileDoc(CatalogDoc):
        """A lukhas-obs catalog file: metrics and spans, with the SLOs and dashboards built on them."""

        slos: SloSetDoc | None = Field(  # type: ignore[assignment]  # the typed section
            None, description="Service level objectives: recording rules, alerts and burn-rate alerts (generate)."
        )
        dashboards: list[DashboardDoc] | None = Field(
            None, description="Grafana dashboards (lukhas-obs generate dashboards)."
        )

    return CatalogFileDoc


def catalog_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a catalog file, generated from the models."""
    schema = full_catalog_model().model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "lukhas-obs catalog",
    }


def catalog_json_schema_text() -> str:
    """The committed ``catalog.schema.json``: sorted keys, two-space indent, trailing newline."""
    return json.dumps(catalog_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # pragma: no cover - regeneration entry point
    import sys

    sys.stdout.write(catalog_json_schema_text())
