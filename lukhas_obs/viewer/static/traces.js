/* lukhas-obs view: the trace list (filters as `lukhas-obs traces show`) and one trace's waterfall with span
 * attributes, events, links, errors and log lines. Text only (textContent); links only to #/trace/<32 hex>.
 */
"use strict";

(function () {
  var el = LV.el;

  function kv(pairs) {
    return el("table", null, [el("tbody", null, (pairs || []).map(function (p) {
      return el("tr", null, [el("td", { class: "k" }, [p[0]]), el("td", null, [p[1]])]);
    }))]);
  }

  LV.traceFilters = function (query) {
    var form = el("form", { class: "filters", id: "trace-filters" });
    var fields = [["trace_id", "trace id", 20], ["name", "span name (substring or glob)", 24], ["min_duration", "min ms", 6], ["limit", "limit", 4]];
    fields.forEach(function (f) {
      var input = el("input", { name: f[0], size: f[2], placeholder: f[1], "aria-label": f[1] });
      input.value = query[f[0]] || "";
      form.appendChild(input);
    });
    var errors = el("input", { type: "checkbox", name: "errors_only", id: "errors_only" });
    errors.checked = query.errors_only === "1";
    form.appendChild(el("label", { for: "errors_only" }, [errors, " errors only"]));
    form.appendChild(el("button", { type: "submit" }, ["filter"]));
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var params = new URLSearchParams();
      fields.forEach(function (f) { var v = form.elements[f[0]].value.trim(); if (v) params.set(f[0], v); });
      if (errors.checked) params.set("errors_only", "1");
      location.hash = "#/traces" + (params.toString() ? "?" + params.toString() : "");
    });
    return form;
  };

  LV.renderTraceList = function (main, doc, query) {
    LV.clear(main);
    main.appendChild(LV.traceFilters(query));
    if (doc.error) main.appendChild(el("p", { class: "error" }, [doc.error]));
    var store = doc.store || {};
    main.appendChild(el("p", { class: "muted" }, [
      (doc.traces || []).length + " of " + (doc.total || 0) + " traces shown (most recent first) from " + (store.files || []).join(", ") +
      (store.problems ? " — " + store.problems + " unreadable line(s) skipped" : "")
    ]));
    var rows = (doc.traces || []).map(function (t) {
      return el("tr", { class: t.errors ? "has-error" : null, "data-trace-id": t.trace_id }, [
        el("td", null, [LV.clock(t.start_ms)]),
        el("td", { class: "name" }, [LV.traceLink(t.trace_id, t.name || "(unnamed)")]),
        el("td", null, [t.service + (t.lane ? "/" + t.lane : "")]),
        el("td", null, [LV.duration(t.duration_ns)]),
        el("td", null, [String(t.spans)]),
        el("td", { class: t.errors ? "error" : "" }, [t.errors ? String(t.errors) : ""]),
        el("td", null, [t.logs ? String(t.logs) : ""]),
        el("td", { class: "muted" }, [t.trace_id])
      ]);
    });
    var head = el("tr", null, ["start", "root span", "service/lane", "duration", "spans", "errors", "logs", "trace id"].map(function (h) { return el("th", null, [h]); }));
    main.appendChild(el("table", { class: "traces", id: "trace-list" }, [el("thead", null, [head]), el("tbody", null, rows)]));
  };

  function details(span, logs) {
    var box = el("div", { class: "details" });
    box.appendChild(kv([["span id", span.span_id], ["parent", span.parent_span_id || "(root)"], ["kind", span.kind],
      ["status", span.status + (span.status_message ? ": " + span.status_message : "")], ["service", span.service], ["scope", span.scope]]));
    if (span.attributes.length) { box.appendChild(el("h4", null, ["attributes"])); box.appendChild(kv(span.attributes)); }
    if (span.events.length) {
      box.appendChild(el("h4", null, ["events"]));
      span.events.forEach(function (e) {
        box.appendChild(el("div", { class: "event" }, [e.name + "  +" + LV.duration(Math.max(0, e.offset_ns))]));
        if (e.attributes.length) box.appendChild(kv(e.attributes));
      });
    }
    if (span.links.length) {
      box.appendChild(el("h4", null, ["links"]));
      span.links.forEach(function (lk) { box.appendChild(el("div", null, [LV.traceLink(lk.trace_id, "trace " + lk.trace_id + " span " + lk.span_id)])); });
    }
    var mine = logs.filter(function (r) { return r.span_id === span.span_id; });
    if (mine.length) { box.appendChild(el("h4", null, ["logs"])); box.appendChild(logTable(mine, null)); }
    return box;
  }

  function logTable(records, names) {
    return el("table", { class: "logs" }, [el("tbody", null, records.map(function (r) {
      return el("tr", { class: "log-line" }, [
        el("td", { class: "k" }, [r.offset_ns === null ? "" : "+" + LV.duration(Math.max(0, r.offset_ns))]),
        el("td", { class: "sev" }, [r.severity]),
        names ? el("td", { class: "k" }, [names[r.span_id] || ""]) : null,
        el("td", null, [r.body])
      ]);
    }))]);
  }

  LV.renderTrace = function (main, doc) {
    LV.clear(main);
    if (doc.error) { main.appendChild(el("p", { class: "error" }, [doc.error])); return; }
    var total = Math.max(1, doc.duration_ns);
    var services = {};
    doc.span_list.forEach(function (s) { services[s.service] = 1; });
    main.appendChild(el("div", { class: "trace-head" }, [
      el("h2", { id: "trace-title" }, [doc.name + "  —  trace " + doc.trace_id]),
      el("div", { class: "muted" }, [LV.duration(doc.duration_ns) + " · " + doc.spans + " spans · " + Object.keys(services).join(", ") +
        " · " + LV.clock(doc.start_ms) + (doc.errors ? " · " + doc.errors + " error(s)" : "") + (doc.logs ? " · " + doc.logs + " log line(s)" : "")]),
      el("a", { href: "#/traces" }, ["← all traces"])
    ]));
    var table = el("table", { class: "waterfall", id: "waterfall" }, [
      el("colgroup", null, [el("col", { class: "c-name" }), el("col", { class: "c-bar" }), el("col", { class: "c-dur" })])
    ]);
    var tbody = el("tbody");
    doc.span_list.forEach(function (span) {
      var name = el("span", { class: "span-name", title: span.name }, [span.name]);
      name.style.paddingLeft = (Math.min(span.depth, 30) * 14) + "px";
      var bar = el("div", { class: "bar" });
      bar.style.left = (span.offset_ns / total * 100).toFixed(3) + "%";
      bar.style.width = (span.duration_ns / total * 100).toFixed(3) + "%";
      var row = el("tr", { class: "span-row" + (span.status === "error" ? " error" : ""), "data-span-id": span.span_id, "data-depth": span.depth }, [
        el("td", null, [name, span.orphan ? el("span", { class: "orphan" }, ["(parent not in the file)"]) : null]),
        el("td", null, [el("div", { class: "track" }, [bar])]),
        el("td", null, ["+" + LV.duration(span.offset_ns) + "  " + LV.duration(span.duration_ns) + (span.events.length ? "  ◆" + span.events.length : "")])
      ]);
      var open = null;
      row.addEventListener("click", function () {
        if (open) { open.parentNode.removeChild(open); open = null; return; }
        open = el("tr", { class: "detail-row" }, [el("td", { colspan: "3" }, [details(span, doc.log_records || [])])]);
        row.parentNode.insertBefore(open, row.nextSibling);
      });
      tbody.appendChild(row);
    });
    table.appendChild(tbody);
    main.appendChild(table);
    if ((doc.log_records || []).length) {
      var names = {};
      doc.span_list.forEach(function (s) { names[s.span_id] = s.name; });
      main.appendChild(el("h3", null, ["log lines"]));
      main.appendChild(logTable(doc.log_records, names));
    }
  };
})();
