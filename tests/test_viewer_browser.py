"""The viewer in a real browser: headless Chromium driven over the Chrome DevTools Protocol.

- ``lukhas-obs demo`` runs in a subprocess (``/metrics`` on a free port, traces to a temp file) and the viewer in
  another (``python -m lukhas_obs.viewer --url ... --traces-file ...``, the same code as ``lukhas-obs view``);
- the LUKHΛS core dashboard loads and every panel shows data (not "no data");
- a trace's waterfall lists the spans in the order ``lukhas-obs traces show`` prints them;
- hostile panel titles, legends, label values, span names, attributes, events and log lines (HTML and script)
  show as text, and no script of theirs runs (a flag the payloads would set stays unset);
- Luna's dashboards exercise the other panel types (gauge, bar gauge, pie chart, heatmap, table, text).

Screenshots are kept under a temp directory (the path is printed). The CDP client is a minimal websocket client on
the standard library. Every wait is bounded; every process is stopped by PID.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tool
from tests.support.prometheus import start_process, stop_process, tail

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

CORE = "lukhas-t4-core"
HOSTILE = [
    '<img src=x onerror="window.__pwned=1">',
    "</script><script>window.__pwned=2</script>",
    '"><svg onload="window.__pwned=3">',
    "javascript:window.__pwned=4",
    "{{__proto__}} ${alert(5)} `x`",
]


# ------------------------------------------------------------------------------------------ a minimal CDP client


class CDP:
    """One page's DevTools websocket: ``call(method, **params)`` waits for its answer; events are kept."""

    def __init__(self, ws_url: str, timeout: float = 20.0) -> None:
        match = re.match(r"ws://([^/:]+):(\d+)(/.*)", ws_url)
        assert match, ws_url
        self.sock = socket.create_connection((match.group(1), int(match.group(2))), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (f"GET {match.group(3)} HTTP/1.1\r\nHost: {match.group(1)}:{match.group(2)}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        )  # fmt: skip
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            assert chunk, "the browser closed the DevTools connection"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head[:200]
        self.buffer = head.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("DevTools connection closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _frame(self) -> tuple[int, bool, bytes]:
        b0, b1 = self._read(2)
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack(">H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", self._read(8))[0]
        mask = self._read(4) if b1 & 0x80 else None
        payload = self._read(length)
        if mask:
            payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        return b0 & 0x0F, bool(b0 & 0x80), payload

    def _send(self, payload: bytes, opcode: int = 1) -> None:
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))

    def _message(self) -> dict[str, Any]:
        parts: list[bytes] = []
        while True:
            opcode, fin, payload = self._frame()
            if opcode == 9:  # ping
                self._send(payload, 10)
                continue
            if opcode == 8:
                raise ConnectionError("DevTools connection closed")
            if opcode in (0, 1, 2):
                parts.append(payload)
                if fin:
                    return json.loads(b"".join(parts))

    def call(self, method: str, timeout: float = 20.0, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        ident = self.next_id
        self._send(json.dumps({"id": ident, "method": method, "params": params}).encode())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            message = self._message()
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)
            del self.events[:-500]
        raise TimeoutError(method)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 30.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except RuntimeError as exc:  # the page is still loading (no body yet)
                value = str(exc)
            else:
                if value:
                    return value
            time.sleep(0.2)
        pytest.fail(f"timed out after {timeout:g}s waiting for {what or expression} (last: {value!r})")

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))
        print(f"viewer screenshot: {path}")
        return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CDP]:
    chromium = require_tool("chromium")
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = start_process(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
         "--disable-sync", "--metrics-recording-only", "--hide-scrollbars", "--mute-audio",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={profile}",
         "--window-size=1600,1300", "about:blank"],
        profile.parent / "chromium.log",
    )  # fmt: skip
    client = None
    try:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (active.exists() and len(active.read_text().splitlines()) >= 2):
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"chromium did not start: {tail(profile.parent / 'chromium.log')}")
            time.sleep(0.1)
        port = int(active.read_text().splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            pages = [t for t in json.loads(resp.read()) if t.get("type") == "page"]
        client = CDP(pages[0]["webSocketDebuggerUrl"])
        client.call("Page.enable")
        client.call("Runtime.enable")
        client.call("Emulation.setDeviceMetricsOverride", width=1600, height=1300, deviceScaleFactor=1, mobile=False)
        yield client
    finally:
        if client is not None:
            client.close()
        stop_process(proc)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("viewer-screenshots")
    print(f"viewer screenshots in {path}")
    return path


def _start_logged(argv: list[str], log: Path, pattern: str, timeout: float = 40.0) -> tuple[Any, str]:
    proc = start_process(argv, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text(errors="replace")) if log.exists() else None
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    stop_process(proc)
    pytest.fail(f"{argv[2:4]} did not start: {tail(log)}")
    raise AssertionError("unreachable")


@contextlib.contextmanager
def demo_and_viewer(tmp_path: Path, system: str = "lukhas_core") -> Iterator[tuple[str, Path]]:
    traces = tmp_path / f"{system}-traces.jsonl"
    demo, metrics = _start_logged(
        [sys.executable, "-m", "lukhas_obs.cli", "demo", "--system", system, "--port", "0", "--duration", "100",
         "--traces-file", str(traces)], tmp_path / f"{system}-demo.log", r"metrics: (http://127\.0\.0\.1:\d+/metrics)",
    )  # fmt: skip
    try:
        viewer, url = _start_logged(
            [sys.executable, "-m", "lukhas_obs.viewer", "--url", metrics, "--traces-file", str(traces), "--port", "0",
             "--interval", "1", "--system", system], tmp_path / f"{system}-viewer.log",
            r"lukhas-obs view: (http://127\.0\.0\.1:\d+/)",
        )  # fmt: skip
        try:
            yield url, traces
        finally:
            stop_process(viewer)
    finally:
        stop_process(demo)


PANEL_STATES = "JSON.stringify([...document.querySelectorAll('.panel')].map(p => [p.querySelector('.title').textContent, p.dataset.state]))"  # noqa: E501


def _all_panels_with_data(browser: CDP, uid: str, timeout: float = 40.0) -> list[list[str]]:
    browser.wait(f"document.body.dataset.loaded === 'dashboard:{uid}'", 20, f"dashboard {uid}")
    deadline = time.monotonic() + timeout
    states: list[list[str]] = []
    while time.monotonic() < deadline:
        states = json.loads(browser.evaluate(PANEL_STATES))
        if states and all(state in ("data", "text") for _, state in states):
            return states
        time.sleep(0.5)
    pytest.fail(f"panels without data on {uid}: {[s for s in states if s[1] not in ('data', 'text')]}")
    raise AssertionError("unreachable")


def test_core_dashboard_and_waterfall_against_the_running_demo(browser: CDP, shots: Path, tmp_path: Path) -> None:
    with demo_and_viewer(tmp_path) as (url, traces):
        browser.navigate(url + "#/d/" + CORE)
        states = _all_panels_with_data(browser, CORE)
        assert len(states) == 12
        assert browser.evaluate(
            "[...document.querySelectorAll('.panel[data-type=timeseries]')].filter(p => p.querySelector('canvas'))"
            ".length"
        ) == 6  # every time series drawn by uPlot
        assert browser.evaluate("document.querySelectorAll('.nodata').length") == 0
        assert "no data" not in browser.evaluate("document.getElementById('dashboard').textContent")
        stat = browser.evaluate("document.querySelector('.panel[data-type=stat] .value').textContent")
        assert re.match(r"^[0-9.]+ (ns|µs|ms|s)$", stat), stat  # seconds, in the panel's unit
        time.sleep(1.5)
        browser.screenshot(shots / "core-dashboard.png")

        # an exemplar link opens its trace
        link = browser.wait("(document.querySelector('a.exemplar[data-trace-id]') || {}).href || ''", 20, "an exemplar")
        assert re.search(r"#/trace/[0-9a-f]{32}$", link)

        # a whole trace (its root written) from the list, then its waterfall
        browser.navigate(url + "#/traces?name=lukhas_core.tick&limit=20")
        browser.wait("document.body.dataset.loaded === 'traces'", 20, "the trace list")
        trace_id = browser.wait(
            "(document.querySelector('#trace-list tbody tr[data-trace-id]') || {dataset: {}}).dataset.traceId",
            20, "a trace in the list",
        )  # fmt: skip
        browser.navigate(url + "#/trace/" + trace_id)
        browser.wait(f"document.body.dataset.loaded === 'trace:{trace_id}'", 20, "the waterfall")
        rows = json.loads(browser.evaluate(
            "JSON.stringify([...document.querySelectorAll('#waterfall tr.span-row')].map(r => "
            "[r.querySelector('.span-name').textContent, Number(r.dataset.depth)]))"
        ))  # fmt: skip
        shown = subprocess.run(
            [sys.executable, "-m", "lukhas_obs.cli", "traces", "show", str(traces), "--trace-id", trace_id,
             "--color", "never"], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        terminal = [re.match(r"\s*[|`\- │├└─]*(\S+)", line).group(1)  # type: ignore[union-attr]
                    for line in shown.stdout.splitlines()[2:] if line.strip()]  # fmt: skip
        terminal = [name for name in terminal if not name.startswith("·")]  # log lines under spans, if any
        assert [name for name, _ in rows] == terminal[: len(rows)] and len(rows) == len(terminal), shown.stdout
        assert rows[0] == ["lukhas_core.tick", 0]
        assert {name for name, depth in rows if depth == 1} >= {"memory.query", "consciousness.dream.step"}
        dream = next(i for i, (name, _) in enumerate(rows) if name == "consciousness.dream.step")
        children = []
        for name, depth in rows[dream + 1 :]:  # the dream step's children come right under it (a step may have none)
            if depth <= 1:
                break
            children.append([name, depth])
        assert all(child == ["memory.add_event", 2] for child in children), children
        browser.evaluate("document.querySelector('#waterfall tr.span-row').click()")
        assert browser.evaluate("document.querySelector('.detail-row .details') !== null")
        browser.screenshot(shots / "waterfall.png")


class _Exposition(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def _hostile_catalog(path: Path) -> Path:
    title = HOSTILE[0]
    doc = {
        "catalog": "hostile_view",
        "title": "Hostile " + HOSTILE[1],
        "attributes": {"who": {"description": "free-form " + HOSTILE[2]}},
        "metrics": [{"name": "hostile_value", "otel_name": "hostile.value", "kind": "gauge", "unit": "1",
                     "description": HOSTILE[3], "attributes": ["who"]}],
        "dashboards": [{
            "uid": "hostile-view", "title": "Hostile " + HOSTILE[1], "description": HOSTILE[2],
            "rows": [{"title": "Row " + HOSTILE[2], "y": 0, "panels": [
                {"title": "stat " + title, "type": "stat", "grid": {"h": 4, "w": 6, "x": 0, "y": 1},
                 "description": HOSTILE[1], "queries": [{"shape": "value", "metric": "hostile_value",
                                                           "legend": "{{who}}"}]},
                {"title": "series " + HOSTILE[1], "type": "timeseries", "grid": {"h": 6, "w": 12, "x": 6, "y": 1},
                 "queries": [{"shape": "value", "metric": "hostile_value", "legend": "{{who}} " + HOSTILE[2]}]},
                {"title": "table " + HOSTILE[3], "type": "table", "grid": {"h": 6, "w": 6, "x": 18, "y": 1},
                 "queries": [{"shape": "value", "metric": "hostile_value", "legend": "{{who}}"}]},
                {"title": "text " + HOSTILE[4], "type": "text", "grid": {"h": 4, "w": 6, "x": 0, "y": 5},
                 "content": "**" + HOSTILE[0] + "** " + HOSTILE[1] + "\n\n- " + HOSTILE[2]},
            ]}],
        }],
    }  # fmt: skip
    import yaml

    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _hostile_trace_file(path: Path) -> str:
    trace_id = "ab" * 16
    attrs = [{"key": HOSTILE[i], "value": {"stringValue": HOSTILE[(i + 1) % len(HOSTILE)]}} for i in range(5)]
    spans = [
        {"traceId": trace_id, "spanId": f"{1:016x}", "name": HOSTILE[0], "kind": 1, "startTimeUnixNano": "1000",
         "endTimeUnixNano": "9000", "attributes": attrs, "status": {"code": 2, "message": HOSTILE[1]},
         "events": [{"name": HOSTILE[2], "timeUnixNano": "2000", "attributes": attrs}],
         "links": [{"traceId": "cd" * 16, "spanId": "ef" * 8, "attributes": attrs}]},
        {"traceId": trace_id, "spanId": f"{2:016x}", "parentSpanId": f"{1:016x}", "name": HOSTILE[1], "kind": 1,
         "startTimeUnixNano": "3000", "endTimeUnixNano": "5000", "attributes": attrs, "status": {}},
    ]  # fmt: skip
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": HOSTILE[2]}}]}
    logs = {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": [
        {"timeUnixNano": "4000", "severityText": HOSTILE[3], "body": {"stringValue": HOSTILE[0]},
         "traceId": trace_id, "spanId": f"{2:016x}", "attributes": attrs}]}]}]}  # fmt: skip
    path.write_text(json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]})
                    + "\n" + json.dumps(logs) + "\n")  # fmt: skip
    return trace_id


INERT = (
    "JSON.stringify({pwned: window.__pwned === undefined ? null : window.__pwned, "
    "imgs: document.querySelectorAll('img').length, "
    "inline: [...document.scripts].filter(s => !s.src).length, "
    "handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => /^on/i.test(a.name))).length, "  # noqa: E501
    "svgs: [...document.querySelectorAll('svg')].filter(s => s.hasAttribute('onload')).length, "
    "js_links: [...document.querySelectorAll('a[href]')].filter(a => !/^#\\//.test(a.getAttribute('href'))).length})"
)


def test_hostile_names_and_values_stay_inert(browser: CDP, shots: Path, tmp_path: Path) -> None:
    _Exposition.body = "".join(
        f'hostile_value{{who="{h.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"}} {i + 1}\n'
        for i, h in enumerate(HOSTILE)
    ).encode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Exposition)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    catalog = _hostile_catalog(tmp_path / "hostile.yaml")
    traces = tmp_path / "hostile.jsonl"
    trace_id = _hostile_trace_file(traces)
    viewer = None
    try:
        viewer, url = _start_logged(
            [sys.executable, "-m", "lukhas_obs.viewer", "--url", f"http://127.0.0.1:{server.server_port}/metrics",
             "--traces-file", str(traces), "--port", "0", "--interval", "0.5", "--system", "lukhas_core",
             "--catalog-file", str(catalog)], tmp_path / "hostile-viewer.log",
            r"lukhas-obs view: (http://127\.0\.0\.1:\d+/)",
        )  # fmt: skip
        browser.navigate(url + "#/d/hostile-view")
        _all_panels_with_data(browser, "hostile-view", 20)
        text = browser.evaluate("document.body.textContent")
        for payload in HOSTILE[:4]:
            assert payload in text, payload  # shown as text
        assert json.loads(browser.evaluate(INERT)) == {"pwned": None, "imgs": 0, "inline": 0, "handlers": 0,
                                                       "svgs": 0, "js_links": 0}  # fmt: skip
        browser.screenshot(shots / "hostile-dashboard.png")

        browser.navigate(url + "#/traces")
        browser.wait("document.body.dataset.loaded === 'traces'", 20, "the trace list")
        assert HOSTILE[0] in browser.evaluate("document.getElementById('trace-list').textContent")
        browser.navigate(url + "#/trace/" + trace_id)
        browser.wait(f"document.body.dataset.loaded === 'trace:{trace_id}'", 20, "the hostile waterfall")
        browser.evaluate("document.querySelectorAll('#waterfall tr.span-row').forEach(r => r.click())")
        text = browser.evaluate("document.body.textContent")
        for payload in HOSTILE:
            assert payload in text, payload  # names, attributes, events, status, log lines: all text
        names = json.loads(browser.evaluate(
            "JSON.stringify([...document.querySelectorAll('#waterfall .span-name')].map(n => n.textContent))"))
        assert names == [HOSTILE[0], HOSTILE[1]]
        time.sleep(0.5)
        assert json.loads(browser.evaluate(INERT)) == {"pwned": None, "imgs": 0, "inline": 0, "handlers": 0,
                                                       "svgs": 0, "js_links": 0}  # fmt: skip
        browser.screenshot(shots / "hostile-waterfall.png")
    finally:
        if viewer is not None:
            stop_process(viewer)
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_the_inertness_check_can_fail(browser: CDP, tmp_path: Path) -> None:
    """The checks above see a payload that does run: the same markup put in with innerHTML sets the flag."""
    page = tmp_path / "bad.html"
    page.write_text("<!doctype html><body><div id=x></div></body>")
    browser.navigate(page.as_uri())
    browser.wait("document.readyState === 'complete'", 10)
    browser.evaluate(f"document.getElementById('x').innerHTML = {json.dumps(HOSTILE[0])}")
    browser.wait("window.__pwned === 1", 10, "the payload to run when inserted as HTML")
    assert json.loads(browser.evaluate(INERT))["imgs"] == 1


@pytest.mark.parametrize("system", ["luna", "pforge", "wiltonos", "auris_self"])
def test_every_other_systems_dashboards_render_with_data(
    browser: CDP, shots: Path, tmp_path: Path, system: str
) -> None:
    """Every dashboard of the other systems, live from their demo workloads; Luna's hold the other panel types
    (gauge, bar gauge, pie chart, heatmap, table, text)."""
    from lukhas_obs.systems import systems

    if system not in systems():
        pytest.skip(f"system {system} is not registered")
    with demo_and_viewer(tmp_path, system) as (url, _traces):
        meta = json.loads(urllib.request.urlopen(url + "api/dashboards", timeout=10).read())
        types: set[str] = set()
        for board in meta["dashboards"]:
            browser.navigate(url + "#/d/" + board["uid"])
            states = _all_panels_with_data(browser, board["uid"])
            types |= set(json.loads(browser.evaluate(
                "JSON.stringify([...document.querySelectorAll('.panel')].map(p => p.dataset.type))")))
            assert len(states) == sum(len(r["panels"]) for r in board["rows"])
            empty = browser.evaluate(
                "[...document.querySelectorAll('.panel[data-type=heatmap]')].filter(p => "
                "!(Number((p.querySelector('canvas') || {dataset: {}}).dataset.cells) > 0)).length"
            )
            assert empty == 0, f"{board['uid']}: a heatmap drew no cell"
            browser.screenshot(shots / f"{board['uid']}.png")
        if system == "luna":
            assert types >= {"gauge", "bargauge", "piechart", "heatmap", "table", "text", "stat", "timeseries"}


def test_screenshot_for_the_docs_exists() -> None:
    """docs/img/ holds the README's screenshot (made by this module's first test, copied by hand)."""
    path = Path(__file__).resolve().parent.parent / "docs" / "img" / "viewer-core.png"
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
