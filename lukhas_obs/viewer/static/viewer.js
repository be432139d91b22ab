/* lukhas-obs view: the page shell. Routes (#/d/<uid>, #/traces?..., #/trace/<id>), the dashboard grid, variables,
 * time range and refresh. Data comes from this viewer's own /api/* only (same origin, no third party).
 * After each render the body's data-loaded attribute says what is shown (the browser tests wait on it).
 */
"use strict";

(function () {
  var el = LV.el;
  var state = { meta: null, range: null, vars: {}, timer: null, charts: [], last: null, renders: 0 };
  var RANGES = [[300, "5m"], [900, "15m"], [3600, "1h"], [21600, "6h"], [86400, "24h"], [604800, "7d"]];

  function fetchJSON(path) {
    return fetch(path, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json().then(function (doc) { if (!r.ok && !doc.error) doc.error = "HTTP " + r.status; return doc; },
                             function () { return { error: "HTTP " + r.status }; });
      });
  }

  function stopAll() {
    if (state.timer) { clearInterval(state.timer); state.timer = null; }
    state.charts.forEach(function (c) { try { c.destroy(); } catch (e) { /* already gone */ } });
    state.charts = [];
  }

  function loaded(what) {
    state.renders += 1;
    document.body.setAttribute("data-loaded", what);
    document.body.setAttribute("data-renders", String(state.renders));
  }

  function setStatus(doc) {
    var node = LV.clear(document.getElementById("status"));
    var m = (doc && doc.metrics) || {};
    var parts = [];
    if (m.source === "history") {
      parts.push("live: " + (m.from || "") + " · " + (m.scrapes || 0) + " scrapes · " + (m.series || 0) + " series");
      if (m.last_scrape) parts.push("last " + Math.max(0, Math.round((doc.now || Date.now() / 1000) - m.last_scrape)) + "s ago");
    } else if (m.source === "prometheus") {
      parts.push("Prometheus: " + (m.from || ""));
    }
    node.appendChild(document.createTextNode(parts.join(" · ")));
    var problem = m.last_error || (m.refused_series ? m.refused_series + " series over the limit not kept" : null);
    if (problem) { node.appendChild(document.createTextNode(" · ")); node.appendChild(el("span", { class: "bad" }, [problem])); }
  }

  function defaultBoard() {
    var boards = state.meta.dashboards;
    var core = boards.filter(function (b) { return b.system === "lukhas_core"; });
    return (core[0] || boards[0] || {}).uid;
  }

  function buildNav(active) {
    var nav = LV.clear(document.getElementById("nav"));
    state.meta.dashboards.forEach(function (b) {
      nav.appendChild(el("a", { href: "#/d/" + encodeURIComponent(b.uid), class: b.uid === active ? "active" : null, title: b.system + " · " + b.catalog }, [b.title]));
    });
    nav.appendChild(el("a", { href: "#/traces", class: active === "#traces" ? "active" : null, id: "nav-traces" }, ["Traces"]));
  }

  function parseRange(text) {
    var m = /^now-(\d+)([smhdw])$/.exec(String(text || ""));
    if (!m) return 900;
    return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2]];
  }

  function panelNode(panel) {
    var head = el("div", { class: "panel-head", title: panel.description || panel.title }, [
      el("span", { class: "title" }, [panel.title]), el("span", { class: "kind" }, [panel.type])
    ]);
    var node = el("div", { class: "panel", "data-panel-id": panel.id, "data-type": panel.type, "data-state": "loading" }, [head, el("div", { class: "panel-body" })]);
    node.style.gridColumn = (panel.grid.x + 1) + " / span " + panel.grid.w;
    node.style.gridRow = (panel.grid.y + 1) + " / span " + panel.grid.h;
    return node;
  }

  function showDashboard(uid) {
    var board = state.meta.dashboards.filter(function (b) { return b.uid === uid; })[0];
    var main = LV.clear(document.getElementById("main"));
    var toolbar = LV.clear(document.getElementById("toolbar"));
    buildNav(uid);
    if (!board) { main.appendChild(el("p", { class: "error" }, ["no dashboard " + uid])); loaded("missing"); return; }
    if (state.range === null) state.range = state.meta.metrics.source === "prometheus" ? parseRange(board.time_from) : 900;
    toolbar.appendChild(el("h1", { id: "dashboard-title" }, [board.title]));
    var varBox = el("span", { id: "variables" });
    toolbar.appendChild(varBox);
    var range = el("select", { id: "range", "aria-label": "time range" });
    RANGES.forEach(function (r) {
      var o = el("option", { value: r[0] }, ["last " + r[1]]);
      if (r[0] === state.range) o.selected = true;
      range.appendChild(o);
    });
    range.addEventListener("change", function () { state.range = Number(range.value); refresh(); });
    toolbar.appendChild(el("label", null, ["range ", range]));
    var updated = el("span", { class: "muted", id: "updated" });
    toolbar.appendChild(updated);

    var grid = el("div", { class: "dashboard", id: "dashboard", "data-uid": board.uid });
    var nodes = {};
    board.rows.forEach(function (row) {
      var title = el("div", { class: "row-title" }, [row.title]);
      title.style.gridColumn = "1 / span 24";
      title.style.gridRow = (row.y + 1) + " / span 1";
      grid.appendChild(title);
      row.panels.forEach(function (p) { nodes[p.id] = { node: panelNode(p), panel: p }; grid.appendChild(nodes[p.id].node); });
    });
    main.appendChild(grid);

    function draw(doc) {
      state.charts.forEach(function (c) { try { c.destroy(); } catch (e) { /* gone */ } });
      state.charts = [];
      var ctx = { charts: state.charts, source: state.meta.metrics.source };
      Object.keys(nodes).forEach(function (id) {
        var panelData = doc.panels ? doc.panels[id] : null;
        LV.renderPanel(nodes[id].node, nodes[id].panel, panelData, ctx);
      });
    }

    function variables(doc) {
      LV.clear(varBox);
      Object.keys(doc.variables || {}).forEach(function (name) {
        var v = doc.variables[name];
        var meta = board.variables.filter(function (x) { return x.name === name; })[0] || { label: name };
        var select = el("select", { "data-variable": name, "aria-label": meta.label || name });
        var options = v.options.length ? v.options : [v.value];
        options.forEach(function (o) { var opt = el("option", { value: o }, [o]); if (o === v.value) opt.selected = true; select.appendChild(opt); });
        select.addEventListener("change", function () { state.vars[name] = select.value; refresh(); });
        varBox.appendChild(el("label", null, [(meta.label || name) + " ", select, " "]));
        state.vars[name] = v.value;
      });
    }

    function refresh() {
      var params = new URLSearchParams({ uid: board.uid, range: String(state.range) });
      Object.keys(state.vars).forEach(function (k) { params.set("var-" + k, state.vars[k]); });
      return fetchJSON("/api/data?" + params.toString()).then(function (doc) {
        if (location.hash.indexOf("#/d/") !== 0 && location.hash !== "" && location.hash !== "#/") return;
        if (doc.error) { updated.textContent = doc.error; return; }
        state.last = doc;
        variables(doc);
        draw(doc);
        updated.textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC · step " + doc.step + "s";
        fetchJSON("/api/status").then(setStatus);
        loaded("dashboard:" + board.uid);
      }).catch(function (err) { updated.textContent = "cannot load data: " + String(err && err.message || err); });
    }

    state.redraw = function () { if (state.last) draw(state.last); };
    refresh();
    var every = Math.min(30, Math.max(2, Number(state.meta.interval) || 5));
    state.timer = setInterval(refresh, every * 1000);
  }

  function hashQuery(hash) {
    var q = {};
    var i = hash.indexOf("?");
    if (i >= 0) new URLSearchParams(hash.slice(i + 1)).forEach(function (v, k) { q[k] = v; });
    return q;
  }

  function showTraces(query) {
    LV.clear(document.getElementById("toolbar")).appendChild(el("h1", null, ["Traces"]));
    buildNav("#traces");
    var params = new URLSearchParams();
    Object.keys(query).forEach(function (k) { params.set(k, query[k]); });
    fetchJSON("/api/traces?" + params.toString()).then(function (doc) {
      LV.renderTraceList(document.getElementById("main"), doc, query);
      loaded("traces");
    });
  }

  function showTrace(id) {
    LV.clear(document.getElementById("toolbar")).appendChild(el("h1", null, ["Trace"]));
    buildNav("#traces");
    fetchJSON("/api/trace?id=" + encodeURIComponent(id)).then(function (doc) {
      LV.renderTrace(document.getElementById("main"), doc);
      loaded("trace:" + (doc.trace_id || "missing"));
    });
  }

  function route() {
    stopAll();
    state.last = null;
    state.redraw = null;
    var hash = location.hash || "";
    if (hash.indexOf("#/trace/") === 0) return showTrace(hash.slice(8));
    if (hash.indexOf("#/traces") === 0) return showTraces(hashQuery(hash));
    if (hash.indexOf("#/d/") === 0) return showDashboard(decodeURIComponent(hash.slice(4)));
    return showDashboard(defaultBoard());
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { if (state.redraw) state.redraw(); }, 200);
  });

  fetchJSON("/api/dashboards").then(function (doc) {
    if (doc.error) { LV.clear(document.getElementById("main")).appendChild(el("p", { class: "error" }, [doc.error])); return; }
    state.meta = doc;
    setStatus(doc);
    (doc.problems || []).forEach(function (p) { document.getElementById("toolbar").appendChild(el("span", { class: "error" }, [p])); });
    window.addEventListener("hashchange", route);
    route();
  }).catch(function (err) {
    LV.clear(document.getElementById("main")).appendChild(el("p", { class: "error" }, ["cannot reach the viewer: " + String(err && err.message || err)]));
  });
})();
