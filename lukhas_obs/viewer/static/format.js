/* lukhas-obs view: DOM building (text only), Grafana units, colours and reducers.
 *
 * Every piece of data reaches the page through el()/text nodes (textContent), never through innerHTML, and
 * colours only through cssColor(), which accepts Grafana colour names and #hex/rgb() forms and nothing else.
 */
"use strict";

var LV = window.LV || {};
window.LV = LV;

(function () {
  /** An element with attributes (strings only, never event handlers) and children (nodes or text). */
  LV.el = function (tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (/^on/i.test(key)) throw new Error("no event handler attributes");
        if (key === "class") node.className = String(value);
        else if (key === "text") node.textContent = String(value);
        else node.setAttribute(key, String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    });
    return node;
  };

  LV.svg = function (tag, attrs) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (/^on/i.test(key)) throw new Error("no event handler attributes");
      node.setAttribute(key, String(attrs[key]));
    });
    return node;
  };

  LV.clear = function (node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  };

  /** A link to a trace's waterfall: the id must be 32 hex digits, or there is no link. */
  LV.traceLink = function (traceId, label) {
    if (!/^[0-9a-f]{32}$/.test(String(traceId))) return LV.el("span", null, [label]);
    return LV.el("a", { href: "#/trace/" + traceId, "data-trace-id": traceId }, [label]);
  };

  var NAMED = {
    green: "#73bf69", "dark-green": "#37872d", "semi-dark-green": "#56a64b", "light-green": "#96d98d",
    "super-light-green": "#c8f2c2", red: "#f2495c", "dark-red": "#c4162a", "semi-dark-red": "#e02f44",
    "light-red": "#ff7383", "super-light-red": "#ffa6b0", yellow: "#fade2a", "dark-yellow": "#e0b400",
    "semi-dark-yellow": "#f2cc0c", "light-yellow": "#ffee52", "super-light-yellow": "#fff899",
    orange: "#ff9830", "dark-orange": "#fa6400", "semi-dark-orange": "#ff780a", "light-orange": "#ffb357",
    "super-light-orange": "#ffcb7d", blue: "#5794f2", "dark-blue": "#1f60c4", "semi-dark-blue": "#3274d9",
    "light-blue": "#8ab8ff", "super-light-blue": "#c0d8ff", purple: "#b877d9", "dark-purple": "#8f3bb8",
    "semi-dark-purple": "#a352cc", "light-purple": "#ca95e5", "super-light-purple": "#deb6f2",
    white: "#ffffff", black: "#000000", gray: "#8e8e8e", grey: "#8e8e8e", transparent: "transparent",
    text: "#d8d9da"
  };
  var PALETTE = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#705da0",
                 "#37872d", "#fade2a", "#447ebc", "#c15c17", "#890f02", "#0a437c", "#6d1f62", "#584477"];

  /** A CSS colour from a Grafana colour (name, #hex, rgb()/rgba()); grey for anything else. */
  LV.cssColor = function (name) {
    var text = String(name || "").trim().toLowerCase();
    if (Object.prototype.hasOwnProperty.call(NAMED, text)) return NAMED[text];
    if (/^#[0-9a-f]{3,8}$/.test(text)) return text;
    if (/^rgba?\(\s*[0-9.]+\s*,\s*[0-9.]+\s*,\s*[0-9.]+\s*(,\s*[0-9.]+\s*)?\)$/.test(text)) return text;
    return "#8e8e8e";
  };

  LV.seriesColor = function (i) { return PALETTE[i % PALETTE.length]; };

  /** The colour of ``value`` under the panel's thresholds (the last step whose value it reaches). */
  LV.thresholdColor = function (panel, value) {
    var steps = panel.thresholds || [];
    if (!steps.length) return NAMED.green;
    var color = steps[0].color;
    for (var i = 1; i < steps.length; i++) {
      if (typeof value === "number" && !isNaN(value) && value >= steps[i].value) color = steps[i].color;
    }
    return LV.cssColor(color);
  };

  /** A JSON value back to a number ("NaN", "+Inf", "-Inf" are how non-finite values travel). */
  LV.num = function (v) {
    if (typeof v === "number") return v;
    if (v === "+Inf") return Infinity;
    if (v === "-Inf") return -Infinity;
    return NaN;
  };

  function trim(text) {
    return text.indexOf(".") >= 0 && text.indexOf("e") < 0 ? text.replace(/\.?0+$/, "") : text;
  }

  function fixed(value, decimals) {
    if (decimals !== null && decimals !== undefined) return value.toFixed(decimals);
    var a = Math.abs(value);
    if (a === 0) return "0";
    if (a >= 1000) return trim(value.toFixed(0));
    if (a >= 100) return trim(value.toFixed(1));
    if (a >= 10) return trim(value.toFixed(2));
    if (a >= 0.01) return trim(value.toFixed(3));
    return value.toPrecision(2);
  }

  function scaled(value, steps, decimals) {
    // steps: [[factor, suffix], ...] from the largest; the first whose factor fits
    var a = Math.abs(value);
    for (var i = 0; i < steps.length; i++) {
      if (a >= steps[i][0] || i === steps.length - 1) return fixed(value / steps[i][0], decimals) + steps[i][1];
    }
    return fixed(value, decimals);
  }

  var TIME = [[86400, " day"], [3600, " hour"], [60, " min"], [1, " s"], [1e-3, " ms"], [1e-6, " µs"], [1e-9, " ns"]];
  var SHORT = [[1e12, " Tri"], [1e9, " Bil"], [1e6, " Mil"], [1e3, " K"], [1, ""]];
  var IEC = [[1099511627776, " TiB"], [1073741824, " GiB"], [1048576, " MiB"], [1024, " KiB"], [1, " B"]];
  var SI_BYTES = [[1e12, " TB"], [1e9, " GB"], [1e6, " MB"], [1e3, " kB"], [1, " B"]];

  /** ``value`` in the panel's Grafana unit (s, ms, ops, reqps, percent, percentunit, bytes, short, ...). */
  LV.format = function (value, unit, decimals) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") value = LV.num(value);
    if (isNaN(value)) return "NaN";
    if (value === Infinity) return "+Inf";
    if (value === -Infinity) return "-Inf";
    switch (unit || "short") {
      case "s": return value === 0 ? "0 s" : scaled(value, TIME, decimals);
      case "ms": return value === 0 ? "0 ms" : scaled(value / 1000, TIME, decimals);
      case "us": case "µs": return scaled(value / 1e6, TIME, decimals);
      case "ns": return scaled(value / 1e9, TIME, decimals);
      case "ops": return fixed(value, decimals) + " ops/s";
      case "reqps": return fixed(value, decimals) + " req/s";
      case "percent": case "%": return fixed(value, decimals) + "%";
      case "percentunit": return fixed(value * 100, decimals) + "%";
      case "bytes": return scaled(value, IEC, decimals);
      case "decbytes": return scaled(value, SI_BYTES, decimals);
      case "none": case "1": case "": return fixed(value, decimals);
      case "short": return scaled(value, SHORT, decimals);
      default:
        return fixed(value, decimals) + " " + String(unit).replace(/^\{|\}$/g, "");
    }
  };

  /** Grafana's reducers over one series' points. */
  LV.reduce = function (points, calc) {
    var values = points.map(function (p) { return LV.num(p[1]); });
    var real = values.filter(function (v) { return !isNaN(v); });
    if (!values.length) return null;
    switch (calc || "lastNotNull") {
      case "last": return values[values.length - 1];
      case "first": return values[0];
      case "firstNotNull": return real.length ? real[0] : null;
      case "mean": return real.length ? real.reduce(function (a, b) { return a + b; }, 0) / real.length : null;
      case "median": {
        if (!real.length) return null;
        var s = real.slice().sort(function (a, b) { return a - b; });
        var m = Math.floor(s.length / 2);
        return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
      }
      case "min": return real.length ? Math.min.apply(null, real) : null;
      case "max": return real.length ? Math.max.apply(null, real) : null;
      case "sum": return real.reduce(function (a, b) { return a + b; }, 0);
      case "count": return values.length;
      case "range": return real.length ? Math.max.apply(null, real) - Math.min.apply(null, real) : null;
      case "delta": {
        var d = 0;
        for (var i = 1; i < real.length; i++) d += real[i] >= real[i - 1] ? real[i] - real[i - 1] : real[i];
        return d;
      }
      default: return real.length ? real[real.length - 1] : null;  // lastNotNull
    }
  };

  /** A value mapping's text for ``value`` (Grafana "value" mappings), or null. */
  LV.mapped = function (panel, value) {
    var maps = panel.mappings || [];
    for (var i = 0; i < maps.length; i++) {
      if (Number(maps[i].value) === value || maps[i].value === String(value)) return maps[i];
    }
    return null;
  };

  LV.duration = function (ns) {
    if (ns < 1000) return ns + "ns";
    if (ns < 1e6) return (ns / 1e3).toFixed(0) + "µs";
    if (ns < 1e9) return (ns / 1e6).toFixed(2) + "ms";
    return (ns / 1e9).toFixed(2) + "s";
  };

  LV.clock = function (ms) {
    var d = new Date(ms);
    if (isNaN(d.getTime())) return "?";
    return d.toISOString().replace("T", " ").replace("Z", " UTC");
  };
})();
