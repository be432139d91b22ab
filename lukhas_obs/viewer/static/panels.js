/* lukhas-obs view: one renderer per catalog panel type (stat, gauge, bargauge, piechart, heatmap, table, text,
 * timeseries). Each takes the panel's layout (from /api/dashboards) and its data (from /api/data) and fills the
 * panel body with DOM/SVG/canvas built from text nodes only. uPlot draws the time series.
 */
"use strict";

(function () {
  var el = LV.el, svg = LV.svg;

  function allSeries(panel, data) {
    var out = [];
    (data.queries || []).forEach(function (q, qi) {
      (q.series || []).forEach(function (s) {
        if (s.points && s.points.length) out.push({ name: s.name, labels: s.labels || {}, points: s.points, query: qi });
      });
    });
    return out;
  }

  function reduced(panel, series) {
    return series.map(function (s) { return { name: s.name, labels: s.labels, value: LV.reduce(s.points, panel.reduce), points: s.points }; });
  }

  function valueText(panel, value) {
    var mapping = typeof value === "number" ? LV.mapped(panel, value) : null;
    if (mapping) return { text: mapping.text, color: mapping.color ? LV.cssColor(mapping.color) : LV.thresholdColor(panel, value) };
    return { text: LV.format(value, panel.unit, panel.decimals), color: LV.thresholdColor(panel, value) };
  }

  function spark(points) {
    var values = points.map(function (p) { return LV.num(p[1]); }).filter(function (v) { return isFinite(v); });
    if (values.length < 2) return null;
    var min = Math.min.apply(null, values), max = Math.max.apply(null, values);
    var range = max - min || 1;
    var d = values.map(function (v, i) {
      return (i ? "L" : "M") + (i / (values.length - 1) * 100).toFixed(2) + "," + (40 - (v - min) / range * 38).toFixed(2);
    }).join(" ");
    var s = svg("svg", { class: "spark", viewBox: "0 0 100 40", preserveAspectRatio: "none" });
    s.appendChild(svg("path", { d: d + " L100,40 L0,40 Z", fill: "#5794f2", stroke: "#8ab8ff", "stroke-width": "0.8" }));
    return s;
  }

  function renderStat(body, panel, series) {
    var box = el("div", { class: "stats" });
    reduced(panel, series).forEach(function (item) {
      var shown = valueText(panel, item.value);
      var value = el("div", { class: "value", "data-value": item.value }, [shown.text]);
      value.style.color = shown.color;
      box.appendChild(el("div", { class: "stat" }, [spark(item.points), value, series.length > 1 ? el("div", { class: "name" }, [item.name]) : null]));
    });
    body.appendChild(box);
  }

  function arc(cx, cy, r, from, to) {
    var a0 = Math.PI * (1 - from), a1 = Math.PI * (1 - to);
    var x0 = cx + r * Math.cos(a0), y0 = cy - r * Math.sin(a0), x1 = cx + r * Math.cos(a1), y1 = cy - r * Math.sin(a1);
    return "M" + x0.toFixed(2) + "," + y0.toFixed(2) + " A" + r + "," + r + " 0 0 1 " + x1.toFixed(2) + "," + y1.toFixed(2);
  }

  function bounds(panel, values) {
    var min = panel.min !== null && panel.min !== undefined ? panel.min : 0;
    var max = panel.max;
    if (max === null || max === undefined) {
      max = panel.unit === "percentunit" ? 1 : 100;
      var top = Math.max.apply(null, values.filter(isFinite).concat([min]));
      if (top > max) max = top;
    }
    return [min, max > min ? max : min + 1];
  }

  function fraction(value, lo, hi) {
    if (typeof value !== "number" || !isFinite(value)) return 0;
    return Math.min(1, Math.max(0, (value - lo) / (hi - lo)));
  }

  function renderGauge(body, panel, series) {
    var items = reduced(panel, series);
    var b = bounds(panel, items.map(function (i) { return i.value; }));
    var box = el("div", { class: "gauges" });
    items.forEach(function (item) {
      var shown = valueText(panel, item.value);
      var s = svg("svg", { viewBox: "0 0 120 72" });
      s.appendChild(svg("path", { d: arc(60, 62, 48, 0, 1), stroke: "#22252b", "stroke-width": "12", fill: "none" }));
      var steps = panel.thresholds || [];
      for (var i = 0; i < steps.length; i++) {  // the thresholds as a thin outer band
        var from = i === 0 ? 0 : fraction(steps[i].value, b[0], b[1]);
        var to = i + 1 < steps.length ? fraction(steps[i + 1].value, b[0], b[1]) : 1;
        if (to > from) s.appendChild(svg("path", { d: arc(60, 62, 57, from, to), stroke: LV.cssColor(steps[i].color), "stroke-width": "3", fill: "none" }));
      }
      var f = fraction(item.value, b[0], b[1]);
      if (f > 0) s.appendChild(svg("path", { d: arc(60, 62, 48, 0, Math.max(f, 0.005)), stroke: shown.color, "stroke-width": "12", fill: "none" }));
      var t = svg("text", { x: "60", y: "60", "text-anchor": "middle", "font-size": "15", fill: shown.color, "font-weight": "bold" });
      t.textContent = shown.text;
      s.appendChild(t);
      box.appendChild(el("div", { class: "gauge", "data-value": item.value }, [s, series.length > 1 ? el("div", { class: "name muted" }, [item.name]) : null]));
    });
    body.appendChild(box);
  }

  function renderBarGauge(body, panel, series) {
    var items = reduced(panel, series);
    var b = bounds(panel, items.map(function (i) { return i.value; }));
    var box = el("div", { class: "bars" });
    items.forEach(function (item) {
      var shown = valueText(panel, item.value);
      var fill = el("div", { class: "fill" });
      fill.style.width = (fraction(item.value, b[0], b[1]) * 100).toFixed(2) + "%";
      fill.style.background = shown.color;
      var value = el("span", { "data-value": item.value }, [shown.text]);
      value.style.color = shown.color;
      box.appendChild(el("div", { class: "bar-line" }, [el("span", { class: "name", title: item.name }, [item.name]), el("div", { class: "track" }, [fill]), value]));
    });
    body.appendChild(box);
  }

  function renderPie(body, panel, series) {
    var items = reduced(panel, series).filter(function (i) { return typeof i.value === "number" && isFinite(i.value) && i.value > 0; });
    var total = items.reduce(function (a, i) { return a + i.value; }, 0);
    var box = el("div", { class: "pie" });
    var s = svg("svg", { viewBox: "-1.05 -1.05 2.1 2.1" });
    var angle = -Math.PI / 2;
    items.forEach(function (item, i) {
      var share = total ? item.value / total : 0;
      var color = LV.seriesColor(i);
      if (share >= 0.9999) {
        s.appendChild(svg("circle", { cx: "0", cy: "0", r: "1", fill: color }));
      } else if (share > 0) {
        var a1 = angle + share * 2 * Math.PI;
        var large = share > 0.5 ? 1 : 0;
        s.appendChild(svg("path", {
          d: "M0,0 L" + Math.cos(angle).toFixed(4) + "," + Math.sin(angle).toFixed(4) + " A1,1 0 " + large + " 1 " +
             Math.cos(a1).toFixed(4) + "," + Math.sin(a1).toFixed(4) + " Z", fill: color
        }));
        angle = a1;
      }
    });
    if (panel.pie_type === "donut") s.appendChild(svg("circle", { cx: "0", cy: "0", r: "0.55", fill: "#181b1f" }));
    box.appendChild(s);
    if (!panel.legend || panel.legend.display !== "hidden") {
      var list = el("ul", { class: "legend-list" });
      reduced(panel, series).forEach(function (item, i) {
        var sw = el("span", { class: "swatch" });
        sw.style.background = LV.seriesColor(i);
        var pct = total && typeof item.value === "number" && isFinite(item.value) ? " (" + (item.value / total * 100).toFixed(1) + "%)" : "";
        list.appendChild(el("li", { "data-value": item.value }, [sw, item.name + ": " + LV.format(item.value, panel.unit, panel.decimals) + pct]));
      });
      box.appendChild(list);
    }
    body.appendChild(box);
  }

  function renderTable(body, panel, series) {
    var labelKeys = [];
    series.forEach(function (s) {
      Object.keys(s.labels).forEach(function (k) { if (k !== "__name__" && labelKeys.indexOf(k) < 0) labelKeys.push(k); });
    });
    labelKeys.sort();
    var head = el("tr", null, [el("th", null, ["Series"])].concat(labelKeys.map(function (k) { return el("th", null, [k]); }), [el("th", null, ["Value"])]));
    var rows = series.map(function (s) {
      var value = LV.reduce(s.points, "lastNotNull");
      var shown = valueText(panel, value);
      var cell = el("td", { "data-value": value }, [shown.text]);
      cell.style.color = shown.color;
      return el("tr", null, [el("td", null, [s.name])].concat(labelKeys.map(function (k) { return el("td", null, [s.labels[k] || ""]); }), [cell]));
    });
    body.classList.add("scroll");
    body.appendChild(el("table", { class: "data" }, [el("thead", null, [head]), el("tbody", null, rows)]));
  }

  function renderHeatmap(body, panel, series, data) {
    var canvas = el("canvas", { class: "heat" });
    body.appendChild(canvas);
    var w = Math.max(50, body.clientWidth - 16), h = Math.max(30, body.clientHeight - 8);
    var ratio = window.devicePixelRatio || 1;
    canvas.width = w * ratio; canvas.height = h * ratio;
    var ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    var pre = (panel.queries || []).some(function (q) { return q.format === "heatmap"; }) && panel.calculate !== true;
    var times = [];
    series.forEach(function (s) { s.points.forEach(function (p) { if (times.indexOf(p[0]) < 0) times.push(p[0]); }); });
    times.sort(function (a, b) { return a - b; });
    var cols = Math.min(times.length, 60) || 1;
    var t0 = times[0], t1 = times[times.length - 1] + Math.max(1, (times[times.length - 1] - times[0]) / 1000);  // one column when one time
    var cells = [], rowsLabels = [], maxCount = 0, r, c;
    if (pre) {  // pre-bucketed series (le): one row per bucket, colour = value
      var ordered = series.slice().sort(function (a, b) { return LV.num(a.labels.le) - LV.num(b.labels.le); });
      ordered.forEach(function (s, ri) {
        rowsLabels.push(s.labels.le !== undefined ? "le " + s.labels.le : s.name);
        cells[ri] = [];
        s.points.forEach(function (p) {
          c = Math.min(cols - 1, Math.floor((p[0] - t0) / (t1 - t0) * cols));
          var v = LV.num(p[1]);
          if (isFinite(v)) { cells[ri][c] = (cells[ri][c] || 0) + v; maxCount = Math.max(maxCount, cells[ri][c]); }
        });
      });
    } else {  // calculate: bucket the values of every series over time
      var values = [];
      series.forEach(function (s) { s.points.forEach(function (p) { var v = LV.num(p[1]); if (isFinite(v)) values.push(v); }); });
      var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
      if (hi <= lo) hi = lo + 1;
      var nrows = 10;
      for (r = 0; r < nrows; r++) { cells[r] = []; rowsLabels.push(LV.format(lo + (hi - lo) * r / nrows, panel.unit, panel.decimals)); }
      series.forEach(function (s) {
        s.points.forEach(function (p) {
          var v = LV.num(p[1]);
          if (!isFinite(v)) return;
          c = Math.min(cols - 1, Math.floor((p[0] - t0) / (t1 - t0) * cols));
          r = Math.min(nrows - 1, Math.floor((v - lo) / (hi - lo) * nrows));
          cells[r][c] = (cells[r][c] || 0) + 1;
          maxCount = Math.max(maxCount, cells[r][c]);
        });
      });
    }
    var left = 56, nrow = cells.length || 1, cw = (w - left) / cols, ch = (h - 14) / nrow;
    ctx.font = "10px sans-serif";
    ctx.fillStyle = "#8e8e8e";
    for (r = 0; r < nrow; r++) {
      var y = h - 14 - (r + 1) * ch;
      if (nrow <= 12 || r % Math.ceil(nrow / 12) === 0) ctx.fillText(String(rowsLabels[r]).slice(0, 9), 0, y + ch / 2 + 3);
      for (c = 0; c < cols; c++) {
        var count = (cells[r] || [])[c];
        if (!count) continue;
        var f = maxCount ? count / maxCount : 0;
        ctx.fillStyle = "rgba(255," + Math.round(200 - 160 * f) + ",0," + (0.25 + 0.75 * f).toFixed(3) + ")";
        ctx.fillRect(left + c * cw, y, Math.max(1, cw - 1), Math.max(1, ch - 1));
      }
    }
    ctx.fillStyle = "#8e8e8e";
    ctx.fillText(new Date(t0 * 1000).toISOString().slice(11, 19), left, h - 2);
    var endLabel = new Date(times[times.length - 1] * 1000).toISOString().slice(11, 19);
    ctx.fillText(endLabel, w - ctx.measureText(endLabel).width, h - 2);
    canvas.setAttribute("data-cells", String(cells.reduce(function (a, row) { return a + row.filter(Boolean).length; }, 0)));
  }

  function inline(text, parent) {
    // **bold**, *italic*, `code`; everything else literal text
    var re = /(\*\*[^*]+\*\*|\*[^*]+\*|`[^`]+`)/g, last = 0, m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      var tok = m[0];
      if (tok.charAt(0) === "`") parent.appendChild(el("code", null, [tok.slice(1, -1)]));
      else if (tok.slice(0, 2) === "**") parent.appendChild(el("strong", null, [tok.slice(2, -2)]));
      else parent.appendChild(el("em", null, [tok.slice(1, -1)]));
      last = m.index + tok.length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
    return parent;
  }

  /** A small, safe markdown subset: headings, lists, paragraphs, bold, italic, code (text nodes only). */
  LV.markdown = function (content) {
    var box = el("div", { class: "markdown" });
    var list = null;
    String(content || "").split(/\n\s*\n/).forEach(function (block) {
      block.split("\n").forEach(function (line) {
        var h = /^(#{1,6})\s+(.*)$/.exec(line), li = /^\s*[-*]\s+(.*)$/.exec(line);
        if (h) { list = null; box.appendChild(inline(h[2], el("h" + Math.min(6, h[1].length + 2)))); }
        else if (li) { if (!list) { list = el("ul"); box.appendChild(list); } list.appendChild(inline(li[1], el("li"))); }
        else if (line.trim()) {
          list = null;
          var p = box.lastChild && box.lastChild.tagName === "P" && box.lastChild.getAttribute("data-open") ? box.lastChild : null;
          if (!p) { p = el("p", { "data-open": "1" }); box.appendChild(p); } else p.appendChild(document.createTextNode(" "));
          inline(line.trim(), p);
        }
      });
      if (box.lastChild && box.lastChild.removeAttribute) box.lastChild.removeAttribute("data-open");
      list = null;
    });
    return box;
  };

  function thresholdsHook(panel) {
    var style = panel.thresholds_style || "off";
    var steps = (panel.thresholds || []).slice(1);
    if (style === "off" || !steps.length) return [];
    return [function (u) {
      var ctx = u.ctx;
      ctx.save();
      steps.forEach(function (step) {
        var y = u.valToPos(step.value, "y", true);
        if (!isFinite(y) || y < u.bbox.top || y > u.bbox.top + u.bbox.height) return;
        ctx.strokeStyle = LV.cssColor(step.color);
        ctx.lineWidth = 1.5 * (window.devicePixelRatio || 1);
        if (style.indexOf("dashed") === 0) ctx.setLineDash([8, 6]);
        ctx.beginPath();
        ctx.moveTo(u.bbox.left, y);
        ctx.lineTo(u.bbox.left + u.bbox.width, y);
        ctx.stroke();
        ctx.setLineDash([]);
      });
      ctx.restore();
    }];
  }

  function exemplarHook(exemplars) {
    var points = (exemplars || []).filter(function (e) { return e.le !== null && e.le !== undefined && typeof e.value === "number"; });
    if (!points.length) return [];
    return [function (u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.fillStyle = "#fade2a";
      points.forEach(function (e) {
        var x = u.valToPos(e.time, "x", true), y = u.valToPos(e.value, "y", true);
        if (!isFinite(x) || !isFinite(y) || y < u.bbox.top || y > u.bbox.top + u.bbox.height || x < u.bbox.left) return;
        ctx.beginPath();
        ctx.moveTo(x, y - 5); ctx.lineTo(x + 4, y); ctx.lineTo(x, y + 5); ctx.lineTo(x - 4, y); ctx.closePath();
        ctx.fill();
      });
      ctx.restore();
    }];
  }

  function renderTimeseries(body, panel, series, data, ctx) {
    var times = [];
    var seen = {};
    series.forEach(function (s) { s.points.forEach(function (p) { if (!seen[p[0]]) { seen[p[0]] = 1; times.push(p[0]); } }); });
    times.sort(function (a, b) { return a - b; });
    var index = {};
    times.forEach(function (t, i) { index[t] = i; });
    var columns = [times];
    series.forEach(function (s) {
      var col = new Array(times.length).fill(null);
      s.points.forEach(function (p) { var v = LV.num(p[1]); col[index[p[0]]] = isFinite(v) ? v : null; });
      columns.push(col);
    });
    var legend = panel.legend || { display: "list", placement: "bottom" };
    var width = Math.max(120, body.clientWidth - 16);
    var height = Math.max(60, body.clientHeight - (legend.display === "hidden" ? 8 : 34));
    var fmt = function (v) { return LV.format(v, panel.unit, panel.decimals); };
    var opts = {
      width: width, height: height,
      scales: { x: { time: true }, y: { range: function (u, lo, hi) {
        var min = panel.min !== null && panel.min !== undefined ? panel.min : Math.min(0, lo === null ? 0 : lo);
        var max = panel.max !== null && panel.max !== undefined ? panel.max : (hi === null || hi <= min ? min + 1 : hi * 1.1);
        return [min, max];
      } } },
      series: [{ value: function (u, v) { return v === null ? "–" : new Date(v * 1000).toISOString().slice(11, 19); } }].concat(series.map(function (s, i) {
        return { label: s.name, stroke: LV.seriesColor(i), width: 1.5, spanGaps: false, value: function (u, v) { return fmt(v); } };
      })),
      axes: [{ stroke: "#8e8e8e", grid: { stroke: "#2c3235" }, ticks: { stroke: "#2c3235" } },
             { stroke: "#8e8e8e", grid: { stroke: "#2c3235" }, ticks: { stroke: "#2c3235" }, size: 70,
               values: function (u, vals) { return vals.map(fmt); } }],
      legend: { show: legend.display !== "hidden", live: true },
      cursor: { drag: { x: false, y: false } },
      hooks: { draw: thresholdsHook(panel).concat(exemplarHook(data.exemplars)) }
    };
    var chart = new uPlot(opts, columns, body);
    ctx.charts.push(chart);
  }

  var RENDERERS = { stat: renderStat, gauge: renderGauge, bargauge: renderBarGauge, piechart: renderPie,
                    table: renderTable, heatmap: renderHeatmap, timeseries: renderTimeseries };

  function exemplarLine(data) {
    var list = data.exemplars || [];
    if (!list.length) return null;
    var line = el("div", { class: "exemplars" }, ["exemplars: "]);
    list.slice(0, 5).forEach(function (e) {
      var label = "◆ " + LV.format(e.value, e.le !== null && e.le !== undefined ? "s" : "none") + " → trace " + String(e.trace_id).slice(0, 8) + (e.known ? "" : " (not in the file yet)");
      var link = LV.traceLink(e.trace_id, label);
      link.setAttribute("class", "exemplar");
      link.setAttribute("title", "exemplar of " + e.metric + " at " + LV.clock(e.time * 1000));
      line.appendChild(link);
    });
    return line;
  }

  /**
   * Fill ``node`` (a .panel element) with ``panel`` rendered from ``data``; sets data-state to
   * text | data | nodata | error | unsupported, which the browser tests read.
   */
  LV.renderPanel = function (node, panel, data, ctx) {
    var body = node.querySelector(".panel-body");
    LV.clear(body);
    body.classList.remove("scroll");
    var old = node.querySelector(".exemplars");
    if (old) old.parentNode.removeChild(old);
    if (panel.type === "text") {
      body.classList.add("scroll");
      body.appendChild(LV.markdown(panel.content));
      node.setAttribute("data-state", "text");
      return "text";
    }
    data = data || { queries: [] };
    var series = allSeries(panel, data);
    var problems = [];
    (data.queries || []).forEach(function (q, i) {
      var meta = (panel.queries || [])[i] || {};
      var message = q.error || (ctx.source === "history" ? meta.problem : null);
      if (message) problems.push((meta.legend ? meta.legend + ": " : "") + message);
    });
    var state;
    if (!series.length) {
      var needs = problems.some(function (p) { return p.indexOf("needs Prometheus") >= 0; });
      state = problems.length ? (needs ? "unsupported" : "error") : "nodata";
      body.appendChild(el("div", { class: "nodata" }, [problems.length ? problems.join("; ") : "no data"]));
    } else {
      state = "data";
      try {
        (RENDERERS[panel.type] || renderTimeseries)(body, panel, series, data, ctx);
      } catch (err) {
        state = "error";
        LV.clear(body).appendChild(el("div", { class: "nodata error" }, ["cannot draw this panel: " + String(err && err.message || err)]));
      }
      if (problems.length) {
        body.insertBefore(el("div", { class: "notice " + (problems.join(" ").indexOf("needs Prometheus") >= 0 ? "needs" : "err") }, [problems.join("; ")]), body.firstChild);
      }
    }
    var line = exemplarLine(data);
    if (line) node.appendChild(line);
    node.setAttribute("data-state", state);
    node.setAttribute("data-series", String(series.length));
    return state;
  };
})();
