/* circles planner panel: offline context layers, the what-if panel, equity view, methods and credits.
 *
 * Reads one JSON blob (<script type="application/json" id="circles-planner-data">) written by
 * circles/panels.py. Every string from the data is put in the page with textContent or as a
 * DOM text node, never as HTML. Needs Leaflet (L), the folium map and whatif.js (CirclesWhatIf).
 */
(function planner() {
  "use strict";
  var D = typeof plannerText === "object" && plannerText ? plannerText : JSON.parse(typeof plannerText === "string"
    ? plannerText : document.getElementById("circles-planner-data").textContent);
  // a city-scale page keeps the what-if arrays in a binary block (circles/report.py): put them back first
  if (D.whatif && D.whatif.bin && window.circlesPayload) {
    window.circlesPayload(D.whatif, function (W) { delete W.bin; plannerText = D; planner(); });
    return;
  }
  var T = D.t;
  var mapEl = document.querySelector(".folium-map");
  var map = window[mapEl.id];

  function tr(key, fields) {
    var s = T[key] || key;  // every word from circles/i18n.py (panels._JS_PREFIXES)
    if (fields) for (var k in fields) s = s.split("{" + k + "}").join(String(fields[k]));
    return s;
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === "style") e.style.cssText = attrs[k]; else if (k === "class") e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  // a name drawn on the map is shortened with an ellipsis, as on the print figures (circles/figures.py
  // `plain`, LABEL_MAX_CHARS = 24 characters); the full name is the label's title (and in the tooltips)
  function shortLabel(cls, text) {
    var full = text === undefined || text === null ? "" : String(text), chars = Array.from(full);
    return el("span", { class: cls, title: full }, chars.length > 24 ? chars.slice(0, 23).join("") + "\u2026" : full);
  }
  // one rounding rule with the Python side (circles/display.py fmt_pct / fmt_measured), in whatif.js
  function pct(x) { return CirclesWhatIf.fmtPct(x); }
  function fmtInd(x, id) { return CirclesWhatIf.fmtMeasured(x, id); }
  function num(x) { return Math.round(x).toLocaleString("en-US"); }
  function layerControl() {
    for (var k in window) {
      try { if (window[k] instanceof L.Control.Layers) return window[k]; } catch (e) { /* cross-origin globals */ }
    }
    return null;
  }
  var control = window.circlesLayerControl || layerControl();

  // ------------------------------------------------------------------ offline context
  if (!map.getPane("circles-context")) {
    map.createPane("circles-context");
    map.getPane("circles-context").style.zIndex = 350;
    map.getPane("circles-context").style.pointerEvents = "none";
  }
  // the renderer's own canvas goes in the context pane (below the overlays, no pointer events): in the
  // overlay pane it lay over the units, facilities and candidate sites and took every click and hover
  var canvas = L.canvas({ padding: 0.2, pane: "circles-context" });
  function addContext(gj, style, name, show) {
    if (!gj || !gj.features || !gj.features.length) return null;
    var layer = L.geoJSON(gj, { pane: "circles-context", renderer: canvas, style: style, interactive: false });
    if (show) layer.addTo(map);
    if (control) control.addOverlay(layer, name);
    return layer;
  }
  addContext(D.context.water, { color: "#6baed6", weight: 0, fillColor: "#9ecae1", fillOpacity: 0.55 },
    tr("rep.water"), true);
  addContext(D.context.roads, { color: "#888", weight: 1, opacity: 0.7 }, tr("rep.roads"), true);
  var outl = addContext(D.context.outlines, { color: "#333", weight: 2, dashArray: "6 4", fill: false },
    tr("rep.districts"), true);
  if (outl) {
    outl.eachLayer(function (l) {
      var span = shortLabel("circles-outline-label", l.feature.properties.name);
      l.bindTooltip(span, { permanent: true, direction: "center", className: "circles-outline-tip", opacity: 0.8 });
    });
  }

  var UL = D.context.unit_labels;
  if (UL && UL.name.length) {
    // unit names, shown from zoom 15 (or always when there are few units)
    var labels = L.layerGroup();
    for (var u = 0; u < UL.name.length; u++) {
      var lab = shortLabel("circles-unit-label", UL.name[u]);
      labels.addLayer(L.marker([UL.lat[u], UL.lon[u]], { icon: L.divIcon({ html: lab, className: "circles-unit-icon",
        iconSize: null }), interactive: false, keyboard: false }));
    }
    var few = UL.name.length <= 60;
    var sync = function () {
      if (few || map.getZoom() >= 15) { if (!map.hasLayer(labels) && labels._wanted !== false) labels.addTo(map); }
      else if (map.hasLayer(labels)) { map.removeLayer(labels); }
    };
    labels._wanted = true;
    if (control) control.addOverlay(labels, tr("rep.unit_names"));
    map.on("overlayremove", function (e) { if (e.layer === labels) labels._wanted = false; });
    map.on("overlayadd", function (e) { if (e.layer === labels) labels._wanted = true; });
    map.on("zoomend", sync);
    sync();
  }

  // ------------------------------------------------------------------ what-if
  var W = D.whatif;
  var panel = el("div", { id: "circles-planner", style:
    "position:fixed;top:calc(42vh + 24px);bottom:160px;right:10px;z-index:1000;width:370px;overflow:auto;" +
    "background:rgba(255,255,255,.96);padding:8px 10px;border-radius:6px;box-shadow:0 1px 6px rgba(0,0,0,.4);" +
    "font:12px/1.4 sans-serif" });
  document.body.appendChild(panel);
  L.DomEvent.disableClickPropagation(panel);
  L.DomEvent.disableScrollPropagation(panel);

  // indicators filtered to some units (a preset's `where`: 蒙自 urban / township, 抚州 old / new areas).
  // The engine (whatif.js) scores them for every unit; the study figure is then the units' sums over
  // the filter's units (D.where_units, circles/panels.py), as the pipeline scores the filtered table
  // (circles/stages/score.py), and only those units are judged. Python twin: circles/chosen.py.
  function filtered(eng, W, WU) {
    var ids = Object.keys(WU);
    if (!ids.length) return eng;
    W.indicators.forEach(function (ind) { if (WU[ind.id]) ind.where = false; });
    var nu = W.units.id.length, unit = CirclesWhatIf.decode(W.point_unit, Int32Array), upop = {};
    ["elderly", "infants", "total"].forEach(function (g) {
      var w = CirclesWhatIf.decode(W.weights[g], Float32Array), a = new Float64Array(nu);
      for (var i = 0; i < w.length; i++) if (unit[i] >= 0) a[unit[i]] += w[i];
      upop[g] = a;
    });
    function denGroup(metric) {  // whose people a unit's figure is per (its weight in the sum)
      var m = /^cov_(elderly|infants)_/.exec(metric) || /_(elderly|total)$/.exec(metric);
      return m ? m[1] : null;
    }
    function judge(m, ind, pop) {  // whatif.js judge: the same rule
      if (!(pop > 0) || isNaN(m)) return { measured: m, status: "no population", gap: 0 };
      if (m >= ind.value - 1e-12) return { measured: m, status: "pass", gap: 0 };
      var scale = (ind.gap === "beds" || ind.gap === "slots") ? pop / 1000 : pop;
      return { measured: m, status: "fail", gap: Math.ceil((ind.value - m) * scale - 1e-9) };
    }
    return { payload: eng.payload, evaluate: function (list) {
      var r = eng.evaluate(list);
      W.indicators.forEach(function (ind) {
        var S = WU[ind.id], a = r.study.indicators[ind.id], dg = denGroup(ind.metric);
        if (!S || !a || a.status === "not assessable" || !dg) return;
        var inS = new Uint8Array(nu), num = 0, den = 0, pop = 0, fails = 0;
        S.forEach(function (u) { inS[u] = 1; });
        for (var u = 0; u < nu; u++) {
          var ur = r.units[u].indicators[ind.id];
          if (!inS[u]) {  // outside the filter: not judged on this indicator
            if (ur && ur.status === "fail") r.units[u].n_fail--;
            delete r.units[u].indicators[ind.id];
            continue;
          }
          if (ur && isFinite(ur.measured) && upop[dg][u] > 0) { num += ur.measured * upop[dg][u]; den += upop[dg][u]; }
          pop += upop[ind.group] ? upop[ind.group][u] : 1;
          if (ur && ur.status === "fail") fails++;
        }
        r.study.indicators[ind.id] = judge(den > 0 ? num / den : NaN, ind, pop);
        r.units_fail[ind.id] = fails;
      });
      return r;
    } };
  }

  if (W && W.candidates && W.candidates.lon.length) {
    var engine = filtered(CirclesWhatIf.load(W), W, D.where_units || {});
    var before = engine.evaluate([]);
    var chosen = {};  // "i|kind" -> [i, kind]
    var kinds = Object.keys(W.kinds);
    var sec = el("div", { id: "circles-whatif" });
    panel.appendChild(sec);
    sec.appendChild(el("h4", { style: "margin:0 0 4px 0;font-size:14px" }, tr("whatif.title")));
    sec.appendChild(el("div", { class: "circles-whatif-help", style: "color:#555" }, tr("whatif.help")));
    var bar = el("div", { style: "margin:4px 0" });
    var sel = el("select", { id: "circles-whatif-kind" });
    kinds.forEach(function (k) { sel.appendChild(el("option", { value: k }, D.kind_names[k] || k)); });
    var btnAll = el("button", { id: "circles-whatif-suggested" }, tr("whatif.suggested"));
    var btnClear = el("button", { id: "circles-whatif-clear" }, tr("whatif.clear"));
    var count = el("span", { id: "circles-whatif-count", style: "margin-left:6px" });
    bar.appendChild(sel); bar.appendChild(btnAll); bar.appendChild(btnClear); bar.appendChild(count);
    sec.appendChild(bar);
    var covTable = el("table", { class: "whatif-coverage", style: "width:100%;border-collapse:collapse" });
    var tgtTable = el("table", { class: "whatif-targets", style: "width:100%;border-collapse:collapse;margin-top:4px" });
    var unitList = el("ol", { class: "whatif-units", style: "padding-left:18px;margin:2px 0" });
    sec.appendChild(covTable); sec.appendChild(tgtTable);
    sec.appendChild(el("div", { style: "font-weight:bold;margin-top:4px" }, tr("whatif.units_changed")));
    sec.appendChild(unitList);

    var C = W.candidates, markers = [];
    var gridLayer = L.layerGroup(), sugLayer = L.layerGroup();
    function key(i, k) { return i + "|" + k; }
    function style(i) {
      var on = false;
      for (var k in chosen) if (chosen[k][0] === i) on = true;
      return on;
    }
    function refreshMarker(i) {
      var on = style(i), m = markers[i];
      if (C.suggested[i]) {
        m.getElement() && m.getElement().classList.toggle("circles-chosen", on);
      } else {
        m.setStyle({ fillColor: on ? "#08519c" : "#fff", color: on ? "#08519c" : "#555", fillOpacity: on ? 0.95 : 0.6 });
      }
    }
    function toggle(i, kind) {
      var k = key(i, kind);
      if (chosen[k]) delete chosen[k]; else chosen[k] = [i, kind];
      refreshMarker(i);
      render();
    }
    for (var i = 0; i < C.lon.length; i++) {
      (function (i) {
        var m;
        if (C.suggested[i]) {
          var div = el("div", { class: "circles-site circles-site-" + C.kind[i], "data-candidate": i,
            "data-kind": C.kind[i], "data-rank": C.rank[i] }, String(C.rank[i]));
          div.style.cssText = "background:" + (D.kind_colours[C.kind[i]] || "#333") +
            ";color:#fff;border:2px solid #fff;border-radius:50%;width:24px;height:24px;line-height:20px;" +
            "text-align:center;font:bold 12px sans-serif;box-shadow:0 0 3px #000;cursor:pointer;box-sizing:border-box";
          // an elderly and an infant site at one place (joint siting) sit side by side
          var dx = W.kind_serves[C.kind[i]] === "elderly" ? 21 : 3;
          m = L.marker([C.lat[i], C.lon[i]], { icon: L.divIcon({ html: div, className: "", iconSize: [24, 24],
            iconAnchor: [dx, 12] }), zIndexOffset: 1000, keyboard: false });
          var tip = el("div");
          tip.appendChild(el("b", null, tr("rep.site_rank", { kind: D.kind_names[C.kind[i]] || C.kind[i], rank: C.rank[i] })));
          if (C.name[i]) { tip.appendChild(el("br")); tip.appendChild(document.createTextNode(C.name[i])); }
          if (D.gains && D.gains[i] !== undefined && D.gains[i] !== null) {
            tip.appendChild(el("br"));
            tip.appendChild(document.createTextNode(tr("rep.gain") + ": " + num(D.gains[i]) + " " + tr("rep.people")));
          }
          m.bindTooltip(tip);
          m.on("click", function () { toggle(i, C.kind[i]); });
          sugLayer.addLayer(m);
        } else {
          m = L.circleMarker([C.lat[i], C.lon[i]], { radius: 5, weight: 1, color: "#555", fillColor: "#fff",
            fillOpacity: 0.6, className: "circles-cand" });
          var t2 = el("div", null, tr("rep.candidate") + (C.name[i] ? ": " + C.name[i] : ""));
          m.bindTooltip(t2);
          m.on("click", function () { toggle(i, sel.value); });
          gridLayer.addLayer(m);
        }
        markers[i] = m;
      })(i);
    }
    sugLayer.addTo(map);
    if (control) {
      control.addOverlay(sugLayer, tr("rep.sites_whatif", { n: C.suggested.filter(Boolean).length }));
      control.addOverlay(gridLayer, tr("rep.candidates"));
    }
    gridLayer.addTo(map);
    btnAll.addEventListener("click", function () {
      for (var i = 0; i < C.lon.length; i++) if (C.suggested[i]) chosen[key(i, C.kind[i])] = [i, C.kind[i]];
      for (var j = 0; j < C.lon.length; j++) refreshMarker(j);
      render();
    });
    btnClear.addEventListener("click", function () {
      chosen = {};
      for (var j = 0; j < C.lon.length; j++) refreshMarker(j);
      render();
    });

    // unit polygons (report.js registers them in window.circlesUnitLayers when drawn): coloured by
    // their coverage after the chosen sites; the run's colours when none is chosen
    var unitIndex = {};
    W.units.id.forEach(function (id, u) { unitIndex[String(id)] = u; });
    var afterState = null;
    function ramp(x) {  // circles/report.py _ramp: red (0 %) through yellow to green (100 %)
      if (x === null || x === undefined || !isFinite(x)) return "#bdbdbd";
      var stops = [[0, [215, 48, 39]], [0.5, [254, 224, 139]], [1, [26, 152, 80]]];
      for (var s = 1; s < stops.length; s++) {
        if (x <= stops[s][0] || s === stops.length - 1) {
          var a = stops[s - 1], b = stops[s], f = (x - a[0]) / (b[0] - a[0]);
          return "#" + [0, 1, 2].map(function (c) {
            var v = Math.trunc(a[1][c] + f * (b[1][c] - a[1][c]));
            return (v < 16 ? "0" : "") + v.toString(16);
          }).join("");
        }
      }
    }
    function failsAfter(s, i, u) {  // targets a unit fails after the chosen sites (the run's status where not recomputed)
      var n = 0;
      for (var id in s.status_now) {
        var a = afterState.units[u].indicators[id];
        if ((a ? a.status : s.status_now[id][i]) === "fail") n++;
      }
      return n;
    }
    // the unit tooltips follow the what-if (report.js calls this when a tooltip opens)
    window.circlesTipExtra = function (s, i) {
      var u = unitIndex[String((s.unit_id || [])[i])];
      if (!afterState || u === undefined) return null;
      if (s.whatif_passfail) {
        var now = 0;
        for (var id in s.status_now) if (s.status_now[id][i] === "fail") now++;
        return [{ label: tr("whatif.after") + " · " + tr("status.fail"), v: [now + " → " + failsAfter(s, i, u)] }];
      }
      if (s.whatif_key) {
        return [{ label: tr("whatif.after"), v: [pct(before.units[u].cov[s.whatif_key]) + " → " +
          pct(afterState.units[u].cov[s.whatif_key])] }];
      }
      return null;
    };
    function recolour(entry) {
      var s = entry.spec;
      entry.parts.forEach(function (p) {
        var i = p[0], u = unitIndex[String(s.unit_id[i])], fill = s.fill ? s.fill[i] : s.style.fillColor;
        if (afterState && u !== undefined && s.whatif_passfail) {
          fill = ramp(1 - failsAfter(s, i, u) / Math.max(1, s.n_ind));
        } else if (afterState && u !== undefined) {
          var now = before.units[u].cov[s.whatif_key], aft = afterState.units[u].cov[s.whatif_key];
          if (aft !== undefined && !(Math.abs(aft - now) <= 1e-12)) fill = ramp(aft);
        }
        p[1].setStyle({ fillColor: fill });
        p[1].eachLayer(function (l) { if (l.getElement && l.getElement()) l.getElement().setAttribute("data-fill", fill); });
      });
    }
    function recolourAll(r) {
      afterState = r;
      (window.circlesUnitLayers || []).forEach(recolour);
    }
    window.circlesRecolour = recolour;

    var gapWord = {};
    W.indicators.forEach(function (ind) { gapWord[ind.id] = ind.gap; });
    function render() {
      var list = Object.keys(chosen).map(function (k) { return chosen[k]; });
      var r = engine.evaluate(list);
      count.textContent = list.length === 1 ? tr("whatif.chosen_one") :
        list.length ? tr("whatif.chosen", { n: list.length }) : tr("whatif.none");
      recolourAll(list.length ? r : null);
      // study coverage: now -> after, per group and threshold
      covTable.textContent = "";
      var head = el("tr"); head.appendChild(el("th"));
      W.thresholds_s.forEach(function (ts) { head.appendChild(el("th", null, tr("rep.within", { t: ts / 60 }))); });
      covTable.appendChild(head);
      ["elderly", "infants"].forEach(function (g) {
        var row = el("tr"); row.appendChild(el("td", null, tr("group." + g)));
        W.thresholds_s.forEach(function (ts) {
          var k = String(ts / 60) + "min";
          var td = el("td", { class: "whatif-cov", "data-group": g, "data-min": String(ts / 60),
            "data-after": String(r.study.coverage[g][k]) },
            pct(before.study.coverage[g][k]) + " → " + pct(r.study.coverage[g][k]));
          row.appendChild(td);
        });
        covTable.appendChild(row);
      });
      // targets
      tgtTable.textContent = "";
      var h2 = el("tr");
      ["", tr("whatif.now"), tr("whatif.after"), tr("rep.status"), ""].forEach(function (x) { h2.appendChild(el("th", null, x)); });
      tgtTable.appendChild(h2);
      W.indicators.forEach(function (ind) {
        var a = r.study.indicators[ind.id], b = before.study.indicators[ind.id];
        var row = el("tr", { class: "whatif-target", "data-indicator": ind.id });
        row.appendChild(el("td", null, D.indicator_labels[ind.id] || ind.id));
        var nowSaved = D.measured_now ? D.measured_now[ind.id] : null;  // figures the page cannot recompute
        var naWord = tr("status.not assessable");
        function shown(x) { return x.status === "not assessable" ? naWord : fmtInd(x.measured, ind.id); }
        row.appendChild(el("td", { class: "before", "data-status": b ? b.status : "" }, b ? shown(b) :
          (nowSaved === null || nowSaved === undefined ? "–" : fmtInd(nowSaved, ind.id))));
        row.appendChild(el("td", { class: "after", "data-value": a ? String(a.measured) : "",
          "data-status": a ? a.status : "" }, a ? shown(a) : "–"));
        row.appendChild(el("td", { class: "status " + (a ? a.status.replace(" ", "-") : "") },
          a ? tr("status." + a.status) : "–"));
        var gtxt = (a && a.status === "fail") ? tr("gap." + ind.gap, { n: num(a.gap) }) : (a ? "" : tr("whatif.not_recomputed"));
        var fails = (r.units_fail[ind.id] !== undefined && !(a && a.status === "not assessable")) ?
          " · " + tr("whatif.units_fail", { n: r.units_fail[ind.id] }) : "";
        row.appendChild(el("td", { class: "gap", "data-gap": a ? String(a.gap) : "" }, gtxt + fails));
        tgtTable.appendChild(row);
      });
      // units whose coverage rises most (siting threshold)
      unitList.textContent = "";
      var ts = String(W.siting_threshold_s / 60), rows = [];
      for (var u = 0; u < r.units.length; u++) {
        var de = (r.units[u].cov["elderly_" + ts] || 0) - (before.units[u].cov["elderly_" + ts] || 0);
        var di = (r.units[u].cov["infants_" + ts] || 0) - (before.units[u].cov["infants_" + ts] || 0);
        if (de > 1e-9 || di > 1e-9) rows.push([Math.max(de, di), u, de, di]);
      }
      rows.sort(function (a, b) { return b[0] - a[0]; });
      rows.slice(0, 10).forEach(function (x) {
        var u = x[1], li = el("li", { class: "whatif-unit", "data-unit": W.units.id[u] });
        li.appendChild(el("b", null, W.units.name[u]));
        li.appendChild(document.createTextNode(": " + tr("group.elderly") + " " +
          pct(before.units[u].cov["elderly_" + ts]) + " → " + pct(r.units[u].cov["elderly_" + ts]) + ", " +
          tr("group.infants") + " " + pct(before.units[u].cov["infants_" + ts]) + " → " +
          pct(r.units[u].cov["infants_" + ts])));
        unitList.appendChild(li);
      });
      keepChoice(list);
    }

    // ---------------------------------------------------------------- the choice kept: link and files
    // The URL fragment holds the chosen sites, so a bookmark or a shared link restores them:
    // "#sites=3,17,120:nursery", candidate indices into the what-if payload, each with ":kind" when
    // the kind is not the candidate's own (a grid candidate, or another kind at a suggested site).
    // Entries the page cannot use (no such candidate or kind) are left out with a note giving the count.
    function fragmentOf(list) {
      return list.slice().sort(function (a, b) { return a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0); })
        .map(function (x) { return x[1] === C.kind[x[0]] ? String(x[0]) : x[0] + ":" + x[1]; }).join(",");
    }
    function parseFragment(hash) {
      var m = /(?:^#|&)sites=([^&]*)/.exec(hash || ""), out = [], bad = 0;
      if (!m) return null;
      decodeURIComponent(m[1]).split(",").forEach(function (tok) {
        if (!tok) return;
        var parts = tok.split(":"), i = Number(parts[0]), kind = parts.length > 1 ? parts[1] : C.kind[i];
        if (parts.length > 2 || !/^[0-9]+$/.test(parts[0]) || i >= C.lon.length || !kind ||
            !Object.prototype.hasOwnProperty.call(W.kinds, kind)) { bad++; return; }
        out.push([i, kind]);
      });
      return { sites: out, bad: bad };
    }
    var linkNote = el("div", { id: "circles-whatif-link-note", style: "color:#b2182b" });
    var exportBar = el("div", { id: "circles-whatif-export", style: "margin:4px 0" });
    sec.insertBefore(linkNote, covTable);
    sec.insertBefore(exportBar, covTable);
    var applying = false, lastHash = null;
    function writeHash(h) {
      lastHash = h;
      var url = location.href.split("#")[0] + h;
      try { history.replaceState(null, "", url); } catch (e) { location.replace(url); }
    }
    function applyFragment() {
      var got = parseFragment(location.hash);
      if (!got) return;
      applying = true;
      chosen = {};
      got.sites.forEach(function (x) { chosen[key(x[0], x[1])] = x; });
      for (var j = 0; j < C.lon.length; j++) refreshMarker(j);
      linkNote.textContent = got.bad ? tr("whatif.link_bad", { n: got.bad }) : "";
      if (got.bad) console.warn("circles: " + got.bad + " entries of the link's #sites= not understood");
      render();
      applying = false;
    }
    window.addEventListener("hashchange", function () { if (location.hash !== lastHash) applyFragment(); });

    // coordinates: the page draws in WGS84, or in GCJ-02 over a Chinese base map (D.gcj02); the files
    // give both (circles/chinacoords.py: the published forward formula, the inverse by fixed point)
    function gcjDelta(lon, lat) {
      if (lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271) return [0, 0];
      var A = 6378245.0, EE = 0.00669342162296594323, PI = Math.PI, x = lon - 105.0, y = lat - 35.0;
      var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) +
        (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0 +
        (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0 +
        (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
      var dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) +
        (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0 +
        (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0 +
        (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
      var radlat = lat / 180.0 * PI, magic = 1.0 - EE * Math.sin(radlat) * Math.sin(radlat), sm = Math.sqrt(magic);
      return [(dlon * 180.0) / (A / sm * Math.cos(radlat) * PI), (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sm) * PI)];
    }
    function toGcj(lon, lat) { var d = gcjDelta(lon, lat); return [lon + d[0], lat + d[1]]; }
    function fromGcj(lon, lat) {
      var w = [lon, lat];
      for (var it = 0; it < 30; it++) {
        var f = toGcj(w[0], w[1]), e0 = f[0] - lon, e1 = f[1] - lat;
        w = [w[0] - e0, w[1] - e1];
        if (Math.abs(e0) < 1e-10 && Math.abs(e1) < 1e-10) break;
      }
      return w;
    }
    // gain: people of the group the kind serves newly within the siting threshold were this site built
    // alone (on top of today's facilities), from the engine; the run's "gain" of a suggested site is its
    // share of the set the solver chose, so the two agree only for a site that adds to no other
    var groupPop = {};
    Object.keys(W.weights).forEach(function (g) {
      var a = CirclesWhatIf.decode(W.weights[g], Float32Array), s = 0;
      for (var q = 0; q < a.length; q++) s += a[q];
      groupPop[g] = s;
    });
    var gainKey = String(W.siting_threshold_s / 60) + "min";
    if (W.thresholds_s.indexOf(W.siting_threshold_s) < 0) gainKey = String(Math.max.apply(null, W.thresholds_s) / 60) + "min";
    function gainOf(i, kind) {
      var g = W.kind_serves[kind], r = engine.evaluate([[i, kind]]);
      return Math.round((r.study.coverage[g][gainKey] - before.study.coverage[g][gainKey]) * groupPop[g]);
    }
    var COLUMNS = ["candidate_index", "name", "kind", "capacity", "lon_wgs84", "lat_wgs84", "lon_gcj02", "lat_gcj02", "gain"];
    function siteRows(list) {
      return list.slice().sort(function (a, b) { return a[0] - b[0] || (a[1] < b[1] ? -1 : 1); }).map(function (x) {
        var i = x[0], kind = x[1], lon = C.lon[i], lat = C.lat[i];
        var wgs = D.gcj02 ? fromGcj(lon, lat) : [lon, lat], gcj = D.gcj02 ? [lon, lat] : toGcj(lon, lat);
        var cap = (C.kind[i] === kind && C.capacity[i]) ? C.capacity[i] : W.kinds[kind].capacity;
        return { candidate_index: i, name: C.name[i] || "", kind: kind, capacity: cap,
          lon_wgs84: +wgs[0].toFixed(6), lat_wgs84: +wgs[1].toFixed(6), lon_gcj02: +gcj[0].toFixed(6),
          lat_gcj02: +gcj[1].toFixed(6), gain: gainOf(i, kind) };
      });
    }
    function csvCell(v) {
      var s = String(v);
      if (typeof v === "string" && /^[=+\-@\t\r]/.test(s)) s = "'" + s;  // not a formula in a spreadsheet
      return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    }
    function csvText(rows) {
      return [COLUMNS.join(",")].concat(rows.map(function (r) {
        return COLUMNS.map(function (c) { return csvCell(r[c]); }).join(",");
      })).join("\r\n") + "\r\n";
    }
    function geojsonText(rows) {
      return JSON.stringify({ type: "FeatureCollection", features: rows.map(function (r) {
        var props = {};
        COLUMNS.forEach(function (c) { props[c] = r[c]; });
        return { type: "Feature", geometry: { type: "Point", coordinates: [r.lon_wgs84, r.lat_wgs84] }, properties: props };
      }) });
    }
    var urls = [];
    function keepChoice(list) {
      if (!applying) {
        var frag = fragmentOf(list);
        var h = frag ? "#sites=" + frag : "";
        if (h !== (location.hash || "")) writeHash(h);
        linkNote.textContent = "";
      }
      urls.forEach(function (u) { URL.revokeObjectURL(u); });
      urls = [];
      exportBar.textContent = "";
      if (!list.length) return;
      var rows = siteRows(list);
      exportBar.appendChild(document.createTextNode(tr("whatif.export") + " "));
      [["csv", csvText(rows), "text/csv;charset=utf-8", "\ufeff"], ["geojson", geojsonText(rows), "application/geo+json", ""]]
        .forEach(function (f) {
          var u = URL.createObjectURL(new Blob([f[3] + f[1]], { type: f[2] }));
          urls.push(u);
          var a = el("a", { id: "circles-whatif-" + f[0], href: u, download: "chosen_sites." + f[0],
            style: "margin-right:8px" }, f[0].toUpperCase());
          exportBar.appendChild(a);
        });
    }
    window.circlesWhatIf = { fragment: function () { return location.hash; }, chosen: function () {
      return Object.keys(chosen).map(function (k) { return chosen[k]; }); } };
    if (parseFragment(location.hash)) applyFragment(); else render();
  }

  // ------------------------------------------------------------------ equity, speed band, methods, credits
  // a collapsible section (a heading that shows/hides its body; no <details>, whose toggle event
  // hostile-content checks treat as a script entry point)
  function details(title, id) {
    var d = el("div", { id: id, class: "circles-section", style: "margin-top:6px" });
    var head = el("div", { class: "circles-section-head", style: "font-weight:bold;cursor:pointer" }, "▸ " + title);
    var body = el("div", { class: "circles-section-body", style: "display:none" });
    head.addEventListener("click", function () { d.open = !d.open; });
    Object.defineProperty(d, "open", {
      get: function () { return body.style.display !== "none"; },
      set: function (v) { body.style.display = v ? "block" : "none"; head.textContent = (v ? "▾ " : "▸ ") + title; },
    });
    d.appendChild(head); d.appendChild(body);
    d.body = body;
    panel.appendChild(d);
    return d;
  }
  if (D.equity) {
    var eq = details(tr("equity.title"), "circles-equity");
    eq.open = true;
    ["elderly", "infants"].forEach(function (g) {
      var rows = D.equity.deciles[g] || [];
      if (!rows.length) return;
      eq.body.appendChild(el("div", { style: "margin-top:3px" }, tr("group." + g)));
      var box = el("div", { class: "equity-deciles", "data-group": g, style: "display:flex;align-items:flex-end;height:44px;gap:2px" });
      rows.forEach(function (r) {
        var b = el("div", { class: "equity-bar", "data-decile": r.decile, "data-share": String(r.share),
          title: tr("equity.decile", { d: r.decile }) + ": " + pct(r.share) + " (" + num(r.people) + ")",
          style: "flex:1;background:" + (g === "elderly" ? "#7570b3" : "#1b9e77") + ";height:" +
            Math.max(1, Math.round(42 * r.share)) + "px" });
        box.appendChild(b);
      });
      eq.body.appendChild(box);
      var ol = el("ol", { style: "padding-left:18px;margin:2px 0" });
      (D.equity.behind[g] || []).forEach(function (b) {
        var li = el("li", { class: "equity-behind", "data-unit": b.unit_id });
        li.appendChild(el("b", null, b.name));
        li.appendChild(document.createTextNode(": " + tr("equity.share") + " " + pct(b.share) + ", " +
          tr("equity.shortfall", { n: num(b.shortfall_people) })));
        ol.appendChild(li);
      });
      eq.body.appendChild(el("div", { style: "color:#555" }, tr("equity.behind")));
      eq.body.appendChild(ol);
      var losers = (D.equity.slope || {})[g] || [];  // a run with a DEM: units that lose most to slope
      if (losers.length) {
        var sl = el("ol", { class: "equity-slope", style: "padding-left:18px;margin:2px 0" });
        losers.forEach(function (b) {
          var li = el("li", { class: "equity-slope-unit", "data-unit": b.unit_id });
          li.appendChild(el("b", null, b.name));
          li.appendChild(document.createTextNode(": " + tr("equity.slope_item",
            { flat: pct(b.share_flat), slope: pct(b.share), n: num(b.lost_people) })));
          sl.appendChild(li);
        });
        eq.body.appendChild(el("div", { style: "color:#555" }, tr("equity.slope", { t: D.tmax })));
        eq.body.appendChild(sl);
      }
    });
    eq.body.appendChild(el("div", { style: "color:#555" }, D.equity_note));
  }
  if (D.speed_band) {
    var sb = details(tr("rep.band_title", { lo: "0.8", hi: "1.2" }), "circles-speed-band");
    var tb = el("table", { style: "width:100%;border-collapse:collapse" });
    var hr = el("tr"); hr.appendChild(el("th"));
    Object.keys(D.speed_band).forEach(function (v) { hr.appendChild(el("th", null, v + " m/s")); });
    tb.appendChild(hr);
    ["elderly", "infants"].forEach(function (g) {
      var row = el("tr"); row.appendChild(el("td", null, tr("group." + g) + " " + tr("rep.within", { t: D.tmax })));
      Object.keys(D.speed_band).forEach(function (v) {
        row.appendChild(el("td", { class: "speed-band" }, pct(D.speed_band[v][g][String(D.tmax) + "min"])));
      });
      tb.appendChild(row);
    });
    sb.body.appendChild(tb);
  }
  var me = details(tr("methods.title"), "circles-methods");
  var ul = el("ul", { style: "padding-left:18px;margin:2px 0" });
  D.methods.forEach(function (line) { ul.appendChild(el("li", null, line)); });
  me.body.appendChild(ul);
  var cr = details(tr("rep.credits"), "circles-credits");
  cr.open = true;
  var ul2 = el("ul", { style: "padding-left:18px;margin:2px 0" });
  D.credits.forEach(function (line) { ul2.appendChild(el("li", { class: "credit" }, line)); });
  cr.body.appendChild(ul2);

  // ------------------------------------------------------------------ print (circles/assets/print.css)
  // page 1 of a print is the map: a title and date, a north arrow and the credits go on it (print-only
  // boxes; the legend and Leaflet's scale bar are there already); the suggested sites with their names
  // join the panel, which prints after the map. Before printing, the map is fitted to the study area
  // at the page's size; after, the screen view comes back.
  var head = el("div", { id: "circles-print-head", class: "circles-print-only" });
  head.appendChild(el("div", { class: "circles-print-title" }, document.title));
  head.appendChild(el("div", { class: "circles-print-date" }, tr("print.date") + " " + new Date().toISOString().slice(0, 10)));
  var north = el("div", { id: "circles-print-north", class: "circles-print-only" });
  north.appendChild(el("span", { class: "circles-print-arrow" }, "↑"));
  north.appendChild(document.createTextNode(tr("print.north")));
  var creditBox = el("div", { id: "circles-print-credits", class: "circles-print-only" }, D.credits.join(" · "));
  [head, north, creditBox].forEach(function (b) { mapEl.appendChild(b); });
  if (W && W.candidates && W.candidates.lon.length) {
    var S = W.candidates, ps = el("div", { id: "circles-print-sites", class: "circles-print-only" });
    ps.appendChild(el("h4", { style: "margin:8px 0 2px 0" }, tr("rep.sites")));
    var pt = el("table"), ph = el("tr");
    ["#", tr("rep.kind"), tr("rep.name"), tr("rep.gain")].forEach(function (x) { ph.appendChild(el("th", null, x)); });
    pt.appendChild(ph);
    var order = [];
    for (var si = 0; si < S.lon.length; si++) if (S.suggested[si]) order.push(si);
    order.sort(function (a, b) { return (S.kind[a] < S.kind[b] ? -1 : S.kind[a] > S.kind[b] ? 1 : 0) || S.rank[a] - S.rank[b]; });
    order.forEach(function (i) {
      var r = el("tr", { class: "circles-print-site", "data-candidate": i });
      r.appendChild(el("td", null, S.rank[i]));
      r.appendChild(el("td", null, D.kind_names[S.kind[i]] || S.kind[i]));
      r.appendChild(el("td", null, S.name[i]));
      r.appendChild(el("td", null, D.gains && D.gains[i] !== null && D.gains[i] !== undefined ?
        num(D.gains[i]) + " " + tr("rep.people") : "–"));
      pt.appendChild(r);
    });
    ps.appendChild(pt);
    var wsec = document.getElementById("circles-whatif");
    if (wsec && wsec.nextSibling) panel.insertBefore(ps, wsec.nextSibling); else panel.appendChild(ps);
  }
  var screenView = null;
  function studyBounds() {
    var b = null;
    map.eachLayer(function (l) {
      if (l instanceof L.Polygon && l.options.pane !== "circles-context") {
        b = b ? b.extend(l.getBounds()) : L.latLngBounds(l.getBounds().getSouthWest(), l.getBounds().getNorthEast());
      }
    });
    return b;
  }
  function forPrint(on) {
    if (on && !screenView) {
      screenView = [map.getCenter(), map.getZoom(), map.options.zoomSnap];
      map.options.zoomSnap = 0.1;  // the study fills the page, not the nearest whole zoom level
      map.invalidateSize({ animate: false });
      var b = studyBounds();
      if (b) map.fitBounds(b, { animate: false, paddingTopLeft: [10, 56], paddingBottomRight: [10, 30] });
    } else if (!on && screenView) {
      map.options.zoomSnap = screenView[2];
      map.invalidateSize({ animate: false });
      map.setView(screenView[0], screenView[1], { animate: false });
      screenView = null;
    }
  }
  window.addEventListener("beforeprint", function () { forPrint(true); });
  window.addEventListener("afterprint", function () { forPrint(false); });
  if (window.matchMedia) {
    var mq = window.matchMedia("print");
    var onMq = function (e) { forPrint(e.matches); };
    if (mq.addEventListener) mq.addEventListener("change", onMq); else if (mq.addListener) mq.addListener(onMq);
  }

  var css = el("style", null,
    "#circles-planner td,#circles-planner th{border-bottom:1px solid #ddd;padding:2px 4px;text-align:left}" +
    "#circles-planner td.status{white-space:nowrap}" +
    "#circles-planner .fail{color:#b2182b;font-weight:bold}#circles-planner .pass{color:#1a9850;font-weight:bold}" +
    ".circles-chosen{outline:3px solid #08519c;outline-offset:1px}" +
    ".leaflet-top.leaflet-right .leaflet-control-layers{max-height:42vh;overflow:auto;box-sizing:border-box}" +
    ".circles-unit-icon{background:none;border:0}.circles-unit-label{display:inline-block;transform:translate(-50%,-50%);" +
    "white-space:nowrap;font:11px sans-serif;color:#222;text-shadow:0 0 3px #fff,0 0 3px #fff;pointer-events:none}" +
    ".circles-outline-tip{background:rgba(255,255,255,.7);border:0;box-shadow:none;font:bold 13px sans-serif;color:#222}");
  document.head.appendChild(css);
  window.circlesPlanner = { ready: true };
})();
