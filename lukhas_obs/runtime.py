"""``configure()``, ``shutdown()``, ``force_flush()``: build and tear down the providers of one configuration.

One call builds a MeterProvider (Prometheus reader, optional OTLP periodic reader) and a TracerProvider (file, console
and/or OTLP exporters) sharing one Resource, starts the ``/metrics`` server, binds every catalog handle and registers
a bounded shutdown at exit.

Spans are bounded on the way in and made encodable on the way out: the TracerProvider has span limits
(:func:`span_limits`: attribute values of :data:`SPAN_ATTRIBUTE_VALUE_LENGTH` characters, :data:`SPAN_ATTRIBUTE_COUNT`
attributes, :data:`SPAN_EVENT_COUNT` events and :data:`SPAN_LINK_COUNT` links per span, each overridable with the
standard ``OTEL_*_LIMIT`` variables), each export pipeline's queue is bounded in bytes (:data:`SPAN_QUEUE_MAX_BYTES`)
as well as in count, and a :class:`~lukhas_obs.exporters.sanitize.SanitizingSpanExporter` in front of every exporter
drops only the span that cannot be encoded, never its batch.

Child processes: a ``fork`` child re-initialises its telemetry (:func:`_after_fork_in_child`, with a new
``service.instance.id``). A ``multiprocessing`` child (``fork`` start method) leaves through ``os._exit``, which runs
no ``atexit`` hook: lukhas-obs registers a ``multiprocessing.util.Finalize`` in each such child that flushes its spans
and metrics on the way out (bounded by :data:`CHILD_EXIT_FLUSH_TIMEOUT_S`), and — only while SIGTERM still has its
default action — a SIGTERM handler that flushes (same bound) and then dies of SIGTERM as before, so the workers that
``Pool.terminate()`` (and ``with Pool(...)``) kill keep their spans. A ``spawn``/``forkserver`` child is a fresh
interpreter: call ``lukhas_obs.configure()`` in it (``Pool(initializer=lukhas_obs.configure)``, or at the top of the
target); it then flushes at exit through ``atexit`` and installs the same SIGTERM flush. A bare ``os.fork()`` child
that ends with ``os._exit`` must call ``lukhas_obs.shutdown()`` itself first: nothing runs after ``os._exit``.

Idempotence: calling ``configure()`` again with settings that resolve equal returns the same :class:`Telemetry`.
With different settings it raises :class:`~lukhas_obs.errors.AlreadyConfiguredError` naming what differs, unless
``reconfigure=True``, in which case the old configuration is shut down (bounded) and a new one built in full. A
configuration is never half-applied.
"""

from __future__ import annotations

import atexit
import functools
import logging
import multiprocessing
import multiprocessing.util
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from prometheus_client import CollectorRegistry

from lukhas_obs import _state, collect_hooks, drops, instruments, tracer_provider
from lukhas_obs._compat import metric_producer
from lukhas_obs._version import __version__
from lukhas_obs.aggregation import Aggregator
from lukhas_obs.errors import AlreadyConfiguredError, ConfigurationError
from lukhas_obs.exporters import otlp
from lukhas_obs.exporters.int64 import Int64SafeMetricExporter
from lukhas_obs.exporters.jsonl import JsonLinesSpanExporter
from lukhas_obs.exporters.prometheus import MetricsServer, authorizer, build_reader, endpoint_app
from lukhas_obs.exporters.sanitize import ByteBudget, SanitizingSpanExporter
from lukhas_obs.exporters.selfmetrics import CountingMetricExporter, CountingSpanExporter, Owner, QueueWatch
from lukhas_obs.resource import build_resource
from lukhas_obs.scrubbing import Scrubber, ScrubbingSpanExporter, scrub_log_records
from lukhas_obs.settings import Settings, resolve_settings

_log = logging.getLogger("lukhas_obs")

#: Instrumentation scope of every catalog instrument.
METER_SCOPE = "lukhas_obs"

#: Longest string span/event/link attribute value, in characters (``OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`` and
#: ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`` override it).
SPAN_ATTRIBUTE_VALUE_LENGTH = 4096
#: Attributes per span (``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT``/``OTEL_ATTRIBUTE_COUNT_LIMIT``), and per event/link.
SPAN_ATTRIBUTE_COUNT = 128
#: Events per span (``OTEL_SPAN_EVENT_COUNT_LIMIT``) and links per span (``OTEL_SPAN_LINK_COUNT_LIMIT``).
SPAN_EVENT_COUNT = 128
SPAN_LINK_COUNT = 128
#: Estimated bytes of spans one export pipeline may hold queued (on top of its 2048-span count bound).
SPAN_QUEUE_MAX_BYTES = 64 * 1024 * 1024
#: Longest a multiprocessing child waits for its telemetry to flush on its way out (normal exit or SIGTERM).
CHILD_EXIT_FLUSH_TIMEOUT_S = 2.0

# (SpanLimits argument, our default, the variables that override it; the SDK reads and validates those itself)
_LIMITS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("max_span_attribute_length", SPAN_ATTRIBUTE_VALUE_LENGTH,
     ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")),
    ("max_attribute_length", SPAN_ATTRIBUTE_VALUE_LENGTH, ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",)),
    ("max_span_attributes", SPAN_ATTRIBUTE_COUNT, ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT")),
    ("max_event_attributes", SPAN_ATTRIBUTE_COUNT, ("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT")),
    ("max_link_attributes", SPAN_ATTRIBUTE_COUNT, ("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT")),
    ("max_events", SPAN_EVENT_COUNT, ("OTEL_SPAN_EVENT_COUNT_LIMIT",)),
    ("max_links", SPAN_LINK_COUNT, ("OTEL_SPAN_LINK_COUNT_LIMIT",)),
)  # fmt: skip


def span_limits(environ: Any = None) -> SpanLimits:
    """The span limits of every TracerProvider lukhas-obs builds: lukhas-obs's bounds unless an ``OTEL_*_LIMIT``
    variable sets one (the OTel SDK's own defaults leave attribute values unbounded).

    Raises :class:`~lukhas_obs.errors.ConfigurationError` naming the variable when one holds no valid limit.
    """
    env = os.environ if environ is None else environ
    kwargs: dict[str, int | None] = {}
    for argument, default, names in _LIMITS:
        kwargs[argument] = None if any(str(env.get(n, "")).strip() for n in names) else default
    try:
        return SpanLimits(**kwargs)
    except ValueError:
        for _argument, _default, names in _LIMITS:
            for name in names:
                raw = str(env.get(name, "")).strip()
                if raw and raw.lower() != "unset" and not (raw.isdigit() and raw.isascii()):
                    raise ConfigurationError(name, raw, "a whole number >= 0, or 'unset'", name) from None
        raise ConfigurationError("span limits", "OTEL_*_LIMIT", "whole numbers >= 0, or 'unset'") from None


class Telemetry:
    """The handle :func:`configure` returns: the providers of one configuration and how to stop them."""

    def __init__(
        self,
        settings: Settings,
        resource: Resource | None,
        meter_provider: MeterProvider | None,
        tracer_provider: TracerProvider | None,
        registry: CollectorRegistry | None,
        metrics_server: MetricsServer | None,
    ) -> None:
        self.settings = settings
        self.resource = resource
        self.meter_provider = meter_provider
        self.tracer_provider = tracer_provider
        self.registry = registry
        self.metrics_server = metrics_server
        #: Metric readers that push (OTLP); the pull-based Prometheus reader is never flushed.
        self.push_readers: list[MetricReader] = []
        #: The own aggregation handles record into, published to every reader (None: through the SDK instruments).
        self.aggregator: Aggregator | None = None
        #: Third-party instruments admitted through the global MeterProvider (None: third_party_metrics off).
        self.third_party: Any = None
        #: The stdlib-logging export pipeline (None: logs_exporter none), a :class:`lukhas_obs.logs.LogPipeline`.
        self.logs: Any = None
        #: Multiprocess mode: this process's :class:`~lukhas_obs.multiprocess.ProcessStore` and the
        #: :class:`~lukhas_obs.multiprocess.view.MergedView` its pull readers show (None: off).
        self.store: Any = None
        self.multiprocess: Any = None
        self._stopped = False
        #: Set once a shutdown's exports have finished (by the thread doing them, so a signal handler interrupting
        #: the thread that called shutdown() can still wait for it).
        self.finished = threading.Event()

    def __repr__(self) -> str:
        state = "disabled" if self.disabled else ("stopped" if self._stopped else "active")
        return f"<Telemetry {self.settings.service}/{self.settings.lane} {state} metrics={self.metrics_url}>"

    @property
    def disabled(self) -> bool:
        """True when ``OTEL_SDK_DISABLED=true`` (or ``disabled=True``): everything is a no-op."""
        return self.settings.disabled

    @property
    def metrics_url(self) -> str | None:
        """Where ``/metrics`` is served, or None when the server is off (or could not bind)."""
        return self.metrics_server.url if self.metrics_server else None

    def force_flush(self, timeout: float | None = None) -> bool:
        """Export pending spans and metrics now; returns False if that did not finish within ``timeout`` seconds."""
        if self._stopped or self.disabled:
            return True
        limit = self.settings.shutdown_timeout_s if timeout is None else timeout
        millis = int(limit * 1000)
        steps: list[Callable[[], Any]] = []
        if self.tracer_provider is not None:
            steps.append(lambda: self.tracer_provider.force_flush(millis))  # type: ignore[union-attr]
        # Only push readers are flushed: MeterProvider.force_flush would also make the Prometheus reader collect,
        # and the exporter then renders that buffered collection next to the scrape's own (every series twice).
        steps += [functools.partial(reader.force_flush, millis) for reader in self.push_readers]
        if self.logs is not None:
            steps.append(functools.partial(self.logs.force_flush, millis))
        return _bounded("force_flush", steps, limit)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush and stop everything within ``timeout`` seconds (default ``shutdown_timeout``); never hangs.

        Returns False when exporters did not finish in time (their pending data is abandoned, with a warning).
        """
        global _stopping
        with _lock:
            if self._stopped:
                return True
            self._stopped = True
            if _state.current.telemetry is self:
                _state.swap(_state.INACTIVE)
                _stopping = self
        if self.disabled:
            self.finished.set()
            return True
        limit = self.settings.shutdown_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + limit
        if self.metrics_server is not None:
            self.metrics_server.stop(timeout=min(2.0, limit / 2))
        if self.store is not None:
            self.store.close()  # the merge now counts this process as finished: its counters stay, gauges go
        limit = max(0.1, deadline - time.monotonic())
        steps: list[Callable[[], Any]] = []
        if self.logs is not None:
            from lukhas_obs import logs

            logs.uninstall_handler(self.logs)
            steps.append(self.logs.shutdown)
        if self.tracer_provider is not None:
            steps.append(self.tracer_provider.shutdown)
        if self.meter_provider is not None:
            steps.append(lambda: self.meter_provider.shutdown(timeout_millis=limit * 1000))  # type: ignore[union-attr]
        return _bounded("shutdown", steps, limit, self.finished)


def _bounded(what: str, steps: list[Callable[[], Any]], timeout: float, done: threading.Event | None = None) -> bool:
    """Run ``steps`` in a daemon thread and wait at most ``timeout`` seconds: exporters may block on a dead peer.

    ``done`` (a fresh event by default) is set by that thread when the steps have run.
    """
    done = threading.Event() if done is None else done

    def run() -> None:
        for step in steps:
            try:
                step()
            except Exception as exc:
                _log.warning("lukhas_obs: %s step failed: %s", what, exc)
        done.set()

    threading.Thread(target=run, name=f"lukhas-obs-{what}", daemon=True).start()
    if done.wait(timeout):
        return True
    _log.warning("lukhas_obs: %s did not finish within %.1fs; pending telemetry is abandoned", what, timeout)
    return False


_lock = threading.RLock()
#: The configuration whose shutdown() is under way or done (a SIGTERM during an atexit shutdown waits for it).
_stopping: Telemetry | None = None
_atexit_registered = False


def active() -> Telemetry | None:
    """The active configuration, or None."""
    return _state.current.telemetry


def active_registry() -> CollectorRegistry | None:
    """The Prometheus registry of the active configuration (for the mountable WSGI/ASGI apps)."""
    current = active()
    return current.registry if current is not None else None


def configure(*, reconfigure: bool = False, **options: Any) -> Telemetry:
    """Configure lukhas-obs once for this process. See :func:`lukhas_obs.configure` for the options."""
    settings = resolve_settings(**options)
    with _lock:
        current = active()
        if current is not None:
            if current.settings == settings:
                return current
            if not reconfigure:
                raise AlreadyConfiguredError(settings.differences(current.settings))
            current.shutdown()
        telemetry = _build(settings)
        _activate(telemetry)
        _register_atexit()
        return telemetry


def _activate(telemetry: Telemetry) -> None:
    """Make ``telemetry`` the active configuration: bind handles, tracers and the log filter to it."""
    settings = telemetry.settings
    drops.reset_warnings()
    if settings.disabled:
        _state.swap(_state.State(telemetry=telemetry))
        instruments.resolve_all()  # measurements kept from before configure are dropped: telemetry is off
    else:
        meter = telemetry.meter_provider.get_meter(METER_SCOPE, __version__)  # type: ignore[union-attr]
        recording = _state.Recording(
            meter=meter,
            aggregator=telemetry.aggregator,
            store=telemetry.store,
            common=dict(settings.common_attributes),
            scrubber=scrubber_for(settings),
            cardinality_limit=settings.cardinality_limit,
            cardinality_limits=dict(settings.cardinality_limits),
        )
        _state.swap(_state.State(telemetry, recording, telemetry.tracer_provider))
        instruments.resolve_all()
        tracer_provider.install_global()
        if telemetry.third_party is not None:
            from lukhas_obs import distro

            distro.install_global_meter_provider()
            distro.bind_observables()
        _sdk_warnings.reset()
        if multiprocessing.parent_process() is not None:  # a spawn/forkserver child configuring itself
            _install_sigterm_flush()
    _install_log_filter(scrubber_for(settings))
    from lukhas_obs import logs

    logs.install_record_factory()
    logs.install_handler(telemetry.logs)


def _after_fork_in_child() -> None:
    """A forked child (gunicorn/uvicorn workers) gets telemetry of its own.

    The parent's providers, export threads, ``/metrics`` server and accumulated data are not inherited: the child
    builds fresh providers from the same settings (its resource carries its own ``process.pid``). It serves no
    ``/metrics`` — the port belongs to the parent — so workers export over OTLP, or each worker calls
    ``configure(prometheus_port=..., reconfigure=True)`` with a port of its own.
    """
    global _lock, _exit_flush, _stopping
    _lock = threading.RLock()  # the parent may have held it in another thread at fork time
    _exit_flush = _stopping = None
    old = active()
    if old is None or old.disabled:
        return
    old._stopped = True  # the parent owns those providers: the child never flushes or shuts them down
    _state.swap(_state.INACTIVE)
    try:
        _activate(_build(old.settings, serve_metrics=False, store=old.store))
        if old.settings.multiprocess_dir is not None:
            _log.info("lukhas_obs: forked worker %s records into its own multiprocess file", os.getpid())
        else:
            _log.info(
                "lukhas_obs: forked worker %s re-initialised its telemetry; it serves no /metrics (use multiprocess "
                "mode, OTLP, or a port per worker)",
                os.getpid(),
            )
    except Exception as exc:  # never break the worker
        _log.warning("lukhas_obs: re-initialising telemetry after fork failed (%s); telemetry is off", exc)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _ChildHook:
    """The object ``multiprocessing.util.register_after_fork`` keys our hook on (it holds a weak reference)."""


_child_hook = _ChildHook()


def _in_multiprocessing_child(_hook: object = None) -> None:
    """Run by multiprocessing in each fork child it starts, after it cleared the finalizers the parent registered.

    The child leaves through ``os._exit`` (no ``atexit``): a ``Finalize`` flushes its telemetry on the way out, and
    a SIGTERM handler does the same when the parent terminates it (``Pool.terminate()``).
    """
    current = active()
    if current is None or current.disabled:
        return
    try:
        multiprocessing.util.Finalize(None, _flush_on_exit, exitpriority=100)
    except Exception as exc:  # pragma: no cover - never break the child
        _log.debug("lukhas_obs: cannot register the child-exit flush: %s", exc)
    _install_sigterm_flush()


_exit_flush: threading.Event | None = None


def _flush_on_exit() -> None:
    """Flush the active configuration on the way out of a child, bounded by :data:`CHILD_EXIT_FLUSH_TIMEOUT_S`.

    The work runs in a thread that sets an event, and every caller waits on that event: a SIGTERM arriving while
    the exit flush (or an ``atexit`` shutdown) is under way waits for it instead of starting another or deadlocking
    on the interrupted main thread. Lock-free (the child may have been forked mid-configure); never raises.
    """
    global _exit_flush
    done = _exit_flush
    if done is None:
        done = _exit_flush = threading.Event()

        def run() -> None:
            try:
                current = active()
                if current is not None:
                    current.force_flush(CHILD_EXIT_FLUSH_TIMEOUT_S)
                elif _stopping is not None:  # an atexit shutdown is exporting: let it finish
                    _stopping.finished.wait(CHILD_EXIT_FLUSH_TIMEOUT_S)
            except Exception:  # pragma: no cover - force_flush never raises
                pass
            finally:
                done.set()

        try:
            threading.Thread(target=run, name="lukhas-obs-exit-flush", daemon=True).start()
        except RuntimeError:  # interpreter shutting down: no new threads
            run()
    done.wait(CHILD_EXIT_FLUSH_TIMEOUT_S)


def _install_sigterm_flush() -> None:
    """In a multiprocessing child's main thread, while SIGTERM has its default action: flush, then die of SIGTERM."""
    try:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # the application (or a framework) handles SIGTERM: never replace its handler
        signal.signal(signal.SIGTERM, _flush_then_die)
    except (ValueError, OSError, AttributeError):  # no signals here (not the main interpreter, a platform without)
        pass


def _flush_then_die(signum: int, _frame: object) -> None:
    """SIGTERM in a multiprocessing child: restore the default action, flush (bounded), re-deliver the signal.

    The exit status stays "killed by SIGTERM" (``exitcode == -15``), as without lukhas-obs.
    """
    try:
        signal.signal(signum, signal.SIG_DFL)
        _flush_on_exit()
    finally:
        os.kill(os.getpid(), signum)


multiprocessing.util.register_after_fork(_child_hook, _in_multiprocessing_child)


class _OncePerMessage(logging.Filter):
    """Lets each SDK attribute warning through once per configuration (they are per value: one per truncated string).

    Keyed by the message template, of which the SDK has a handful (bounded at 64 keys).
    """

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()

    def reset(self) -> None:
        self._seen = set()

    def filter(self, record: logging.LogRecord) -> bool:
        key = record.msg if type(record.msg) is str else type(record.msg).__name__
        if key in self._seen:
            return False
        if len(self._seen) < 64:
            self._seen.add(key)
        return True


_sdk_warnings = _OncePerMessage()
logging.getLogger("opentelemetry.attributes").addFilter(_sdk_warnings)


_uninstall_log_scrubbing: Callable[[], None] | None = None


def _install_log_filter(scrubber: Scrubber) -> None:
    """Scrub log records of lukhas-obs and OpenTelemetry, child loggers included (exporters' errors may quote
    payloads); replaces the scrubbing of the previous configuration."""
    global _uninstall_log_scrubbing
    if _uninstall_log_scrubbing is not None:
        _uninstall_log_scrubbing()
    _uninstall_log_scrubbing = scrub_log_records(scrubber)


def scrubber_for(settings: Settings) -> Scrubber:
    """The scrubber every signal of this configuration passes (spans, metric attributes, resource, logs)."""
    return Scrubber(settings.scrub_patterns, settings.scrub_allow)


def _build(settings: Settings, *, serve_metrics: bool = True, store: Any = None) -> Telemetry:
    if settings.disabled:
        return Telemetry(settings, None, None, None, None, None)
    tls = (  # first: a bad certificate must fail before anything is built
        MetricsServer.tls_context(settings.metrics_tls_cert, settings.metrics_tls_key)
        if settings.metrics_tls_cert and settings.metrics_tls_key
        else None
    )
    limits = span_limits()  # also first: a bad OTEL_*_LIMIT fails before anything is built
    scrubber = scrubber_for(settings)
    resource = build_resource(settings, scrubber)

    owner = Owner()  # whose self-telemetry the pipelines below count into
    readers: list[MetricReader] = []
    registry: CollectorRegistry | None = None
    if "prometheus" in settings.metrics_exporters:
        reader, registry = build_reader(scope_labels=settings.scope_labels, created_series=settings.created_series)
        readers.append(reader)
    push_readers: list[MetricReader] = []
    if settings.otlp_metrics is not None:
        push_readers.append(
            PeriodicExportingMetricReader(
                CountingMetricExporter(
                    Int64SafeMetricExporter(
                        _with_temporality(otlp.metric_exporter(settings.otlp_metrics), settings.metrics_temporality)
                    ),
                    "otlp",
                    owner=owner,
                ),
                export_interval_millis=settings.metric_export_interval_s * 1000,
                export_timeout_millis=settings.otlp_metrics.timeout_s * 1000,
            )
        )
    readers += push_readers
    _raise_reader_limits(
        readers,
        max(
            [
                settings.cardinality_limit,
                *(n for _, n in settings.cardinality_limits),
                settings.third_party_cardinality_limit if settings.third_party_metrics else 0,
            ]
        ),
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)
    view = None
    if settings.multiprocess_dir is not None:
        store, view = _multiprocess(settings, meter_provider, resource, push_readers, store)
    aggregator = None
    if settings.aggregation == "own" or view is not None:  # the merge is published through the own aggregation
        aggregator = own_aggregation(meter_provider, view, pull_readers=readers[:1] if registry is not None else ())
    if view is not None and aggregator is None:
        meter_provider.shutdown(timeout_millis=1000)
        raise ConfigurationError(
            "multiprocess_dir", settings.multiprocess_dir, "the own aggregation with cumulative temporality "
            "(unset OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta, or multiprocess_dir)",
        )
    collect_hooks.install(meter_provider)  # before every other callback: hooks run first at each collection

    tracer_provider = TracerProvider(
        resource=resource, span_limits=limits, sampler=sampler_for(settings), shutdown_on_exit=False
    )

    def pipeline(name: str, exporter: Any, index: int, **batch: Any) -> QueueWatch:
        """sanitise (per span) → count → scrub → export, behind a batch processor bounded in count and bytes."""
        budget = ByteBudget(SPAN_QUEUE_MAX_BYTES)
        chain = SanitizingSpanExporter(
            CountingSpanExporter(ScrubbingSpanExporter(exporter, scrubber), name, owner=owner),
            name,
            max_value_length=limits.max_span_attribute_length,
            report_drops=index == 0,  # an attribute dropped on its way to two exporters counts once
            budget=budget,
        )
        return QueueWatch(BatchSpanProcessor(chain, **batch), name, budget=budget, owner=owner)

    for index, name in enumerate(settings.traces_exporters):
        if name == "file":
            processor = pipeline(name, JsonLinesSpanExporter(settings.traces_file), index, schedule_delay_millis=1000)
        elif name == "console":
            processor = pipeline(name, ConsoleSpanExporter(), index, schedule_delay_millis=1000)
        else:  # otlp
            assert settings.otlp_traces is not None
            processor = pipeline(name, otlp.span_exporter(settings.otlp_traces), index)
        tracer_provider.add_span_processor(processor)

    server = None
    if registry is not None and settings.serve_metrics and serve_metrics:
        app = endpoint_app(
            active_registry,
            authorizer(settings.metrics_bearer_token, settings.metrics_basic_auth),
            metrics_path=settings.metrics_path,
            health_body=settings.health_body,
            endpoints=settings.metrics_endpoints,
        )
        server = MetricsServer.start(settings.prometheus_host, settings.prometheus_port, app, tls)
    telemetry = Telemetry(settings, resource, meter_provider, tracer_provider, registry, server)
    owner.telemetry = telemetry  # this configuration's pipelines count only while it is the active one
    telemetry.push_readers = push_readers
    telemetry.aggregator = aggregator
    telemetry.store = store if settings.multiprocess_dir is not None else None
    telemetry.multiprocess = view
    if settings.third_party_metrics:
        from lukhas_obs.distro import ThirdPartyMetrics

        telemetry.third_party = ThirdPartyMetrics(
            meter_provider,
            settings.third_party_allow,
            settings.third_party_cardinality_limit,
            scrubber,
            settings.common_attributes,
        )
    if settings.logs_exporters:
        from lukhas_obs import logs

        telemetry.logs = logs.build_pipeline(settings, resource, scrubber)
    return telemetry


def sampler_for(settings: Settings) -> Any:
    """The OTel SDK sampler of ``traces_sampler``/``traces_sampler_arg`` (the SDK's own classes, so the span fast
    path keeps deciding as the SDK does)."""
    from opentelemetry.sdk.trace import sampling

    ratio = settings.traces_sampler_arg
    return {
        "always_on": lambda: sampling.ALWAYS_ON,
        "always_off": lambda: sampling.ALWAYS_OFF,
        "traceidratio": lambda: sampling.TraceIdRatioBased(ratio),
        "parentbased_always_on": lambda: sampling.ParentBased(sampling.ALWAYS_ON),
        "parentbased_always_off": lambda: sampling.ParentBased(sampling.ALWAYS_OFF),
        "parentbased_traceidratio": lambda: sampling.ParentBasedTraceIdRatio(ratio),
    }[settings.traces_sampler]()


def _with_temporality(exporter: Any, temporality: str) -> Any:
    """Make ``exporter`` ask for ``metrics_temporality`` (the setting wins over the OTel variable the exporter read
    itself). delta: counters, histograms and observable counters in delta, up-down counters and gauges
    cumulative (the specification's preference); lowmemory: only synchronous counters and histograms in delta."""
    from opentelemetry.sdk.metrics import (
        Counter,
        Histogram,
        ObservableCounter,
        ObservableGauge,
        ObservableUpDownCounter,
        UpDownCounter,
    )
    from opentelemetry.sdk.metrics import _Gauge as SdkGauge
    from opentelemetry.sdk.metrics.export import AggregationTemporality

    cumulative, delta = AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA
    deltas: tuple[type, ...] = {
        "cumulative": (),
        "delta": (Counter, Histogram, ObservableCounter),
        "lowmemory": (Counter, Histogram),
    }[temporality]
    classes = (Counter, UpDownCounter, Histogram, ObservableCounter, ObservableUpDownCounter, ObservableGauge, SdkGauge)
    table = getattr(exporter, "_preferred_temporality", None)
    if isinstance(table, dict):
        for cls in classes:
            table[cls] = delta if cls in deltas else cumulative
    return exporter


def _raise_reader_limits(readers: list[MetricReader], limit: int) -> None:
    """Readers keep the SDK's 2,000 attribute sets per instrument and silently merge the rest into one overflow
    series; lukhas-obs' own per-metric limit (which warns and counts) must be the one that applies, on the SDK path
    too, so each reader's limit is raised above it (the readers' private table; left alone if it is not there)."""
    for reader in readers:
        table = getattr(reader, "_instrument_class_cardinality_limit", None)
        if isinstance(table, dict):
            for cls, current in table.items():
                table[cls] = max(current, limit + 2)  # the SDK overflows at limit - 1 sets


def own_aggregation(
    meter_provider: MeterProvider, merged: Any = None, *, pull_readers: Any = ()
) -> Aggregator | None:
    """lukhas-obs' own aggregation, published to every reader of ``meter_provider`` (call it right after building
    the provider); None when a reader asks for what it cannot reproduce exactly (DELTA temporality from
    ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``, another default aggregation): handles then record
    through the OTel SDK's instruments, which are slower but produce the same data.

    ``merged`` (multiprocess mode, a :class:`~lukhas_obs.multiprocess.view.MergedView`): the readers of
    ``pull_readers`` show its merge of every process's file instead of this aggregation's metrics."""
    aggregator = Aggregator()
    try:
        publisher = metric_producer.install(
            meter_provider, aggregator, scope_name=METER_SCOPE, scope_version=__version__
        )
    except metric_producer.UnsupportedConfiguration as exc:
        _log.info("lukhas_obs: recording through the OTel SDK's instruments: %s", exc)
        return None
    if merged is not None:
        publisher.merged = merged.metrics
        publisher.merged_slots = frozenset(i for i, r in enumerate(publisher.readers) if r in tuple(pull_readers))
    return aggregator


def _multiprocess(
    settings: Settings, meter_provider: MeterProvider, resource: Resource, push_readers: list[MetricReader], store: Any
) -> tuple[Any, Any]:
    """Multiprocess mode: this process's store (``store`` when a fork child reuses its parent's: it opens the
    child's own file by itself) and the merged view of the directory. Raises ConfigurationError naming
    ``multiprocess_dir`` for a directory that cannot be used, or with OTLP metrics (each worker would push the
    merge of all of them: use OTLP without multiprocess mode, one ``service.instance.id`` per worker)."""
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from lukhas_obs.multiprocess import ProcessStore
    from lukhas_obs.multiprocess.view import MergedView, register_self_metrics

    directory = settings.multiprocess_dir
    assert directory is not None
    try:
        if push_readers:
            raise ConfigurationError(
                "multiprocess_dir", directory, "metrics_exporter prometheus or none (OTLP metrics: leave "
                "multiprocess_dir unset; each worker then exports its own, with its own service.instance.id)"
            )
        if store is None or store.directory != directory:
            exemplar_filter = getattr(getattr(meter_provider, "_sdk_config", None), "exemplar_filter", None)
            try:
                store = ProcessStore(directory, exemplar_filter=exemplar_filter)
            except ValueError as exc:
                raise ConfigurationError(
                    "multiprocess_dir", directory, f"a directory this process can create and write ({exc})"
                ) from None
    except ConfigurationError:
        meter_provider.shutdown(timeout_millis=1000)
        raise
    view = MergedView(
        directory, resource=resource, scope=InstrumentationScope(METER_SCOPE, __version__), compact_interval=60.0
    )
    register_self_metrics()
    return store, view


def shutdown(timeout: float | None = None) -> bool:
    """Shut down the active configuration (bounded); a no-op when there is none."""
    current = active()
    return current.shutdown(timeout) if current is not None else True


def force_flush(timeout: float | None = None) -> bool:
    """Flush the active configuration (bounded); True when there is none."""
    current = active()
    return current.force_flush(timeout) if current is not None else True


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(shutdown)
        _atexit_registered = True
