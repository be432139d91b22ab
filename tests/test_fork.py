"""Pre-fork servers: after a real os.fork() the child re-initialises its exporters and its telemetry arrives."""

from __future__ import annotations

import os
import time

import pytest

import lukhas_obs
from tests.support.otlp_receiver import OtlpReceiver, attributes_to_dict


def _docs_by_pid(receiver: OtlpReceiver) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for resource, metric in receiver.metrics():
        if metric.name == "lukhas.memory.docs":
            for point in metric.sum.data_points:
                out.setdefault(resource["process.pid"], []).append(point.as_double or point.as_int)
    return out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.e2e
def test_forked_child_exports_its_own_telemetry_and_nothing_inherited(tmp_path):
    with OtlpReceiver("http") as receiver:
        parent = lukhas_obs.configure(
            prometheus_port=0, otlp_endpoint=receiver.endpoint, metric_export_interval=60, otlp_timeout=5
        )
        docs = lukhas_obs.metric("lukhas_memory_docs_total")
        docs.add(5)
        parent_pid = os.getpid()
        child = os.fork()
        if child == 0:  # the worker
            code = 1
            try:
                assert lukhas_obs.active() is not parent
                assert lukhas_obs.active().metrics_url is None  # the port belongs to the parent
                docs.add(1)
                with lukhas_obs.get_tracer().start_as_current_span("worker.request"):
                    pass
                flushed = lukhas_obs.force_flush(timeout=10)
                parent.meter_provider.force_flush(2000)  # the inherited provider must stay silent in the child
                code = 0 if flushed else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert receiver.wait_for(lambda r: child in _docs_by_pid(r) and r.spans(), timeout=10)

        resource = next(r for r, _, s in receiver.spans() if s.name == "worker.request")
        assert resource["process.pid"] == child and resource["lukhas.lane"] == "candidate"
        assert _docs_by_pid(receiver)[child] == [1]  # the child's own count, not the parent's 5 + 1
        assert parent_pid not in _docs_by_pid(receiver)  # nothing was sent on the parent's behalf from the child

        time.sleep(0.1)
        assert lukhas_obs.active() is parent
        lukhas_obs.force_flush(timeout=10)
        assert receiver.wait_for(lambda r: parent_pid in _docs_by_pid(r), timeout=10)
        assert _docs_by_pid(receiver)[parent_pid] == [5]
        points = [attributes_to_dict(p.attributes) for _, m in receiver.metrics() if m.name == "lukhas.memory.docs"
                  for p in m.sum.data_points]  # fmt: skip
        assert all(p["lane"] == "candidate" for p in points)
        lukhas_obs.shutdown(timeout=5)
