/* circles what-if engine: score a chosen set of new sites in the page, offline.
 *
 * The payload is written by circles/whatif.py (see its docstring for why this is exact):
 * per-cell weights (float32), unit and current times per facility kind (uint16 seconds, 65535 =
 * unreachable), current 2SFCA figures (float32), and the sparse candidate-by-cell time matrix
 * (CSR, times rounded up to whole seconds).
 *
 *   var engine = CirclesWhatIf.load(payload);
 *   var r = engine.evaluate([[candidateIndex, "nursery"], ...]);
 *   r.study.coverage.elderly["15min"], r.study.indicators[id].measured, r.units[i].cov.elderly ...
 *
 * No DOM, no network: the page's panel code calls evaluate() on every click.
 */
(function (root) {
  "use strict";

  function decode(b64, Type) {
    if (typeof b64 !== "string") return b64;  // already a typed array (a city page's binary block)
    var bin = atob(b64), n = bin.length, bytes = new Uint8Array(n);
    for (var i = 0; i < n; i++) bytes[i] = bin.charCodeAt(i);
    return new Type(bytes.buffer);
  }

  // The one rounding rule of circles/display.py `fixed`: x * 10^shift with nd decimals, half away from
  // zero, on x's shortest decimal form (toExponential() with no argument gives the same digits as
  // Python's repr). toFixed rounds the binary value instead (0.2475 * 100 -> "24.7").
  function circlesFixed(x, nd, shift) {
    var m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(Math.abs(x).toExponential());
    var digits = m[1] + (m[2] || ""), point = parseInt(m[3], 10) + (shift || 0) + 1;  // digits before the point
    if (point < 1) { digits = new Array(2 - point).join("0") + digits; point = 1; }
    var keep = point + nd;
    while (digits.length < keep + 1) digits += "0";
    var d = digits.slice(0, keep).split("").map(Number);
    if (digits.charCodeAt(keep) >= 53) {  // the first dropped digit is 5 or more: carry
      var i = d.length - 1;
      while (i >= 0 && d[i] === 9) { d[i] = 0; i--; }
      if (i < 0) { d.unshift(1); point++; } else d[i]++;
    }
    var ip = d.slice(0, d.length - nd).join("").replace(/^0+(?=\d)/, ""), fp = d.slice(d.length - nd).join("");
    var out = nd > 0 ? ip + "." + fp : ip;
    return (x < 0 && /[1-9]/.test(out) ? "-" : "") + out;
  }
  var HELD_DECIMALS = 4;  // circles/display.py HELD_DECIMALS: a share is held to 4 decimals, then shown
  function fmtPct(x, nd) {
    if (x === null || x === undefined || !isFinite(x)) return "\u2013";
    return circlesFixed(+circlesFixed(x, HELD_DECIMALS, 0), nd === undefined ? 1 : nd, 2) + "%";
  }
  function fmtMeasured(x, id) {
    if (x === null || x === undefined || !isFinite(x)) return "\u2013";
    var h = +circlesFixed(x, HELD_DECIMALS, 0);
    if (/_total$/.test(id) && id.indexOf("per_1000") < 0) return Number(circlesFixed(h, 0, 0)).toLocaleString("en-US");  // a count
    return (h <= 1 && id.indexOf("per_1000") < 0) ? fmtPct(h) : circlesFixed(h, 2, 0);
  }

  function gaussian(t, c) {
    var edge = Math.exp(-0.5);
    return (Math.exp(-0.5 * (t / c) * (t / c)) - edge) / (1 - edge);
  }

  function load(p) {
    var n = p.n_points, nu = p.units.id.length, k, g;
    var w = {};
    for (g in p.weights) w[g] = decode(p.weights[g], Float32Array);
    var unit = decode(p.point_unit, Int32Array);
    var times0 = {};
    for (k in p.times) {
      var raw = decode(p.times[k], Uint16Array), t = new Float64Array(n);
      for (var i = 0; i < n; i++) t[i] = raw[i] === 65535 ? Infinity : raw[i];  // 65535: unreachable
      times0[k] = t;
    }
    var sfca0 = {};
    for (k in p.sfca) sfca0[k] = decode(p.sfca[k], Float32Array);
    var ptr = decode(p.matrix.ptr, Int32Array), idx = decode(p.matrix.idx, Int32Array),
      tt = decode(p.matrix.t, Uint16Array);
    // population per unit and group, and for the study
    var upop = {}, spop = {};
    ["elderly", "infants", "total"].forEach(function (g) {
      var a = new Float64Array(nu), s = 0;
      for (var i = 0; i < n; i++) { s += w[g][i]; if (unit[i] >= 0) a[unit[i]] += w[g][i]; }
      upop[g] = a; spop[g] = s;
    });
    // the plans' literal indicators count communities (units) and streets (their parents)
    var parent = p.units.parent || [], streets = {};
    upop.communities = new Float64Array(nu).fill(1); spop.communities = nu;
    upop.streets = new Float64Array(nu);
    for (var q = 0; q < nu; q++) if (parent[q]) { upop.streets[q] = 1; streets[parent[q]] = true; }
    spop.streets = Object.keys(streets).length;

    function evaluate(chosen) {
      var times = {}, sfca = {}, k, i, j;
      for (k in times0) times[k] = Float64Array.from(times0[k]);
      for (k in sfca0) sfca[k] = Float64Array.from(sfca0[k]);
      // capacity added inside each unit and the study, by what it counts as (circles/kinds.py)
      var builtIn = [];  // [unit, kind] of every chosen site
      var added = { beds: [new Float64Array(nu), 0], slots: [new Float64Array(nu), 0],
        daycare_places: [new Float64Array(nu), 0] };
      var c = p.candidates, catchS = p.catchment_s, addedC = {};
      chosen.forEach(function (pair) {
        var ci = pair[0], kind = pair[1], info = p.kinds[kind];
        var cap = (c.kind[ci] === kind && c.capacity[ci]) ? c.capacity[ci] : info.capacity;
        var counts = info.counts_as;
        var keys = counts === "beds" ? ["sfca_beds_per_1000_elderly", "e2sfca_beds_per_1000_elderly", "d_elderly", "g_elderly"]
          : counts === "slots" ? ["sfca_slots_per_1000_total", "e2sfca_slots_per_1000_total", "d_total", "g_total"] : null;
        var d = keys ? c[keys[2]][ci] : 0, gd = keys ? c[keys[3]][ci] : 0, tk = times[kind];
        for (j = ptr[ci]; j < ptr[ci + 1]; j++) {
          var pt = idx[j], tv = tt[j];
          if (tv < tk[pt]) tk[pt] = tv;
          if (keys && tv <= catchS) {
            if (d > 0 && sfca[keys[0]]) sfca[keys[0]][pt] += 1000 * cap / d;
            if (gd > 0 && sfca[keys[1]]) sfca[keys[1]][pt] += 1000 * cap * gaussian(tv, catchS) / gd;
          }
        }
        if (added[counts]) { added[counts][1] += cap; if (c.unit[ci] >= 0) added[counts][0][c.unit[ci]] += cap; }
        // composition parts/bases and totals (circles/whatif.py _composition): what this site adds to each
        var comp = p.composition && p.composition.adds ? (p.composition.adds[kind === "meal_point" ? kind : counts] || []) : [];
        comp.forEach(function (col) {
          var v = kind === "meal_point" ? 1 : cap;
          if (!addedC[col]) addedC[col] = [new Float64Array(nu), 0];
          addedC[col][1] += v; if (c.unit[ci] >= 0) addedC[col][0][c.unit[ci]] += v;
        });
        builtIn.push([c.unit[ci], kind]);
      });
      function anyTime(group) {
        var out = new Float64Array(n).fill(Infinity);
        for (var k in times) if (p.kind_serves[k] === group) {
          var t = times[k];
          for (var i = 0; i < n; i++) if (t[i] < out[i]) out[i] = t[i];
        }
        return out;
      }
      var anyT = { elderly: anyTime("elderly"), infants: anyTime("infants") };
      // a metric per unit and for the study: [unitValues(Float64Array, NaN = no population), studyValue]
      function metric(name) {
        var uv = new Float64Array(nu), num = new Float64Array(nu), den = new Float64Array(nu), sn = 0, sd = 0, i, m;
        if ((m = /^cov_(elderly|infants)_(\w+?)_(\d+(?:\.\d+)?)min$/.exec(name))) {
          var g = m[1], t = m[2] === "any" ? anyT[g] : times[m[2]], lim = parseFloat(m[3]) * 60, wg = w[g];
          if (!t) return null;
          for (i = 0; i < n; i++) {
            var cv = t[i] <= lim ? wg[i] : 0;
            sn += cv; sd += wg[i];
            if (unit[i] >= 0) { num[unit[i]] += cv; den[unit[i]] += wg[i]; }
          }
        } else if (sfca[name]) {
          var wt = /elderly$/.test(name) ? w.elderly : w.total, v = sfca[name];
          for (i = 0; i < n; i++) {
            sn += v[i] * wt[i]; sd += wt[i];
            if (unit[i] >= 0) { num[unit[i]] += v[i] * wt[i]; den[unit[i]] += wt[i]; }
          }
        } else if ((m = /^(beds|slots|daycare_places)_per_1000_(elderly|total)$/.exec(name))) {
          var what = m[1], pop = upop[m[2]], have = p.units[what + "_inside"] || [];
          for (i = 0; i < nu; i++) {
            num[i] = 1000 * ((have[i] || 0) + added[what][0][i]);
            den[i] = pop[i];
          }
          sn = 1000 * ((p.study[what + "_inside"] || 0) + added[what][1]);
          sd = spop[m[2]];
        } else if (p.community && p.community[name]) {
          var cm = p.community[name], has = cm.has.slice();
          builtIn.forEach(function (b) { if (b[0] >= 0 && cm.kinds.indexOf(b[1]) >= 0) has[b[0]] = 1; });
          if (cm.level === "unit") {
            for (i = 0; i < nu; i++) { num[i] = has[i]; den[i] = 1; sn += has[i]; }
            sd = nu;
          } else {
            var sh = {};
            for (i = 0; i < nu; i++) if (parent[i]) sh[parent[i]] = sh[parent[i]] || !!has[i];
            for (i = 0; i < nu; i++) if (parent[i]) { num[i] = sh[parent[i]] ? 1 : 0; den[i] = 1; }
            for (var st in sh) sn += sh[st] ? 1 : 0;
            sd = spop.streets;
          }
        } else {
          return null;
        }
        for (i = 0; i < nu; i++) uv[i] = den[i] > 0 ? num[i] / den[i] : NaN;
        return [uv, sd > 0 ? sn / sd : NaN];
      }
      // a composition share or a city-wide total: [unit shares, study value, unit bases, study base]
      function composition(name) {
        var pair = p.composition.metrics[name], cu = p.composition.units, cs = p.composition.study;
        function have(col, u) { var a = addedC[col]; return u < 0 ? cs[col] + (a ? a[1] : 0) : cu[col][u] + (a ? a[0][u] : 0); }
        var uv = new Float64Array(nu), ub = new Float64Array(nu);
        for (var u = 0; u < nu; u++) { ub[u] = pair[1] ? have(pair[1], u) : 1; uv[u] = ub[u] > 0 ? have(pair[0], u) / ub[u] : NaN; }
        var sb = pair[1] ? have(pair[1], -1) : 1;
        return [uv, sb > 0 ? have(pair[0], -1) / sb : NaN, ub, sb];
      }
      function judge(m, ind, pop) {
        if (!(pop > 0) || isNaN(m)) return { measured: m, status: "no population", gap: 0 };
        if (m >= ind.value - 1e-12) return { measured: m, status: "pass", gap: 0 };
        var scale = ind.total ? 1 : (ind.gap === "beds" || ind.gap === "slots") ? pop / 1000 : pop;  // a count; people, communities, streets
        return { measured: m, status: "fail", gap: Math.ceil((ind.value - m) * scale - 1e-9) };
      }
      var out = { study: { coverage: {}, indicators: {} }, units: [], units_fail: {} };
      for (i = 0; i < nu; i++) out.units.push({ cov: {}, indicators: {}, n_fail: 0 });
      ["elderly", "infants"].forEach(function (g) {
        out.study.coverage[g] = {};
        p.thresholds_s.forEach(function (ts) {
          var m = metric("cov_" + g + "_any_" + String(ts / 60) + "min");
          out.study.coverage[g][String(ts / 60) + "min"] = m[1];
          if (ts === p.siting_threshold_s || ts === Math.max.apply(null, p.thresholds_s)) {
            for (var u = 0; u < nu; u++) out.units[u].cov[g + "_" + String(ts / 60)] = m[0][u];
          }
        });
      });
      // not assessable in the run (circles/panels.py): stays so unless a chosen site is of a kind whose
      // absence was the reason (the pipeline's after-state then counts the kind as present)
      var na = p.not_assessable || {};
      function stillNa(id) {
        if (!(id in na)) return false;
        return !builtIn.some(function (b) { return na[id].indexOf(b[1]) >= 0; });
      }
      var NA = { measured: NaN, status: "not assessable", gap: 0 };
      p.indicators.forEach(function (ind) {
        if (stillNa(ind.id)) {
          out.study.indicators[ind.id] = NA;
          for (var v = 0; v < nu; v++) out.units[v].indicators[ind.id] = NA;
          out.units_fail[ind.id] = 0;
          return;
        }
        if (p.composition && p.composition.metrics && p.composition.metrics[ind.metric] && !ind.where) {
          var cr = composition(ind.metric), cf = 0;  // a total is judged for the study only (circles/targets.py)
          out.study.indicators[ind.id] = ind.na ? NA : judge(cr[1], ind, cr[3]);  // na: no such column / not comparable
          for (var cu = 0; cu < nu; cu++) {
            var cj = (ind.total || ind.na) ? NA : judge(cr[0][cu], ind, cr[2][cu]);
            out.units[cu].indicators[ind.id] = cj;
            if (cj.status === "fail") { cf++; out.units[cu].n_fail++; }
          }
          out.units_fail[ind.id] = cf;
          return;
        }
        var m = ind.where ? null : metric(ind.metric);  // a filtered subset of units: not recomputed here
        if (!m) { out.study.indicators[ind.id] = null; return; }
        out.study.indicators[ind.id] = judge(m[1], ind, spop[ind.group]);
        var fails = 0;
        for (var u = 0; u < nu; u++) {
          var r = judge(m[0][u], ind, upop[ind.group][u]);
          out.units[u].indicators[ind.id] = r;
          if (r.status === "fail") { fails++; out.units[u].n_fail++; }
        }
        out.units_fail[ind.id] = fails;
      });
      return out;
    }
    return { evaluate: evaluate, payload: p };
  }

  root.CirclesWhatIf = { load: load, decode: decode, fixed: circlesFixed, fmtPct: fmtPct, fmtMeasured: fmtMeasured };
})(typeof window !== "undefined" ? window : this);
