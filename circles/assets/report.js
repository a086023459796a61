/* circles report: draws the map layers from the page's JSON payload (<script id="circles-data">).
 *
 * Every string that comes from the data or the study file reaches the page through
 * textContent (tooltips, popups, badges), never through innerHTML, so a facility called
 * "<img onerror=...>" or "${alert(1)}" shows as text. Layers that are off by default
 * (population cells, most isochrones) are built the first time they are switched on.
 */
(function () {
  "use strict";

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  // a column is {label, v: [values]} or {label, levels: [strings], codes: [index or -1]}
  function value(col, i) {
    if (col.codes) {
      var c = col.codes[i];
      return c < 0 ? "" : col.levels[c];
    }
    var v = col.v[i];
    return v === null || v === undefined ? "–" : v;
  }

  function tipTable(cols, i, s) {
    var t = el("table", null, "circles-tip");
    // rows the what-if adds (planner.js window.circlesTipExtra): the unit after the chosen sites
    var extra = (s && window.circlesTipExtra) ? window.circlesTipExtra(s, i) : null;
    cols.concat(extra || []).forEach(function (c) {
      var tr = t.insertRow();
      tr.insertCell().textContent = c.label;
      tr.insertCell().textContent = value(c, i);
    });
    return t;
  }

  function popupBox(s, i) {
    var d = el("div", null, "circles-popup");
    if (s.title) d.appendChild(el("b", value(s.title, i)));
    (s.popup || []).forEach(function (c) {
      d.appendChild(el("div", c.label + ": " + value(c, i)));
    });
    if (s.note && (!s.noteFlag || s.noteFlag[i])) d.appendChild(el("i", s.note));
    return d;
  }

  function bindText(layer, s, i) {
    if (s.tooltip) {
      if (s.tooltip.length === 1 && !s.tooltip[0].label) {
        layer.bindTooltip(function () { return el("span", value(s.tooltip[0], i)); }, { sticky: s.sticky });
      } else {
        layer.bindTooltip(function () { return tipTable(s.tooltip, i, s); }, { sticky: s.sticky });
      }
    }
    if (s.title || s.popup) layer.bindPopup(function () { return popupBox(s, i); }, { maxWidth: 300 });
  }

  function pick(list, i, fallback) { return list ? list[i] : fallback; }

  var draw = {
    polygons: function (s, P) {
      var geoms = typeof s.geoms === "string" ? P.shared[s.geoms] : s.geoms;
      var group = L.featureGroup(), parts = [];
      geoms.forEach(function (g, i) {
        if (!g) return;
        var style = Object.assign({}, s.style, {
          fillColor: pick(s.fill, i, s.style.fillColor),
          fillOpacity: pick(s.opacity, i, s.style.fillOpacity),
        });
        var layer = L.geoJSON(g, { style: function () { return style; } });
        bindText(layer, s, i);
        group.addLayer(layer);
        parts.push([i, layer]);
      });
      if (s.whatif_key || s.whatif_passfail) {
        // units the what-if panel recolours (planner.js): [feature index, layer] and the spec
        var entry = { spec: s, parts: parts };
        (window.circlesUnitLayers = window.circlesUnitLayers || []).push(entry);
        if (window.circlesRecolour) window.circlesRecolour(entry);
      }
      return group;
    },

    points: function (s, P) {
      var xy = typeof s.xy === "string" ? P.shared[s.xy] : s.xy;
      var group = L.featureGroup();
      var n = xy.length / 2;
      for (var i = 0; i < n; i++) {
        if (s.keep && !s.keep[i]) continue;
        var m;
        if (s.badge) {
          var b = el("div", value(s.badge, i), "circles-badge");
          b.style.background = pick(s.colors, i, s.color);
          m = L.marker([xy[2 * i + 1], xy[2 * i]], {
            icon: L.divIcon({ html: b, className: "", iconSize: [24, 24], iconAnchor: [12, 12] }),
          });
        } else {
          m = L.circleMarker([xy[2 * i + 1], xy[2 * i]], {
            radius: s.radius, weight: s.weight || 0, color: s.stroke || s.color, fill: true,
            fillColor: s.color, fillOpacity: pick(s.opacity, i, s.fillOpacity),
          });
        }
        bindText(m, s, i);
        group.addLayer(m);
      }
      if (s.cluster && L.markerClusterGroup) {
        var colour = s.color;
        var cluster = L.markerClusterGroup({
          disableClusteringAtZoom: s.cluster, showCoverageOnHover: false, chunkedLoading: true, maxClusterRadius: 120,
          iconCreateFunction: function (c) {
            var b = el("div", c.getChildCount(), "circles-cluster");
            b.style.borderColor = colour;
            b.style.color = colour;
            return L.divIcon({ html: b, className: "", iconSize: [26, 26], iconAnchor: [13, 13] });
          },
        });
        cluster.addLayers(group.getLayers());
        return cluster;
      }
      return group;
    },
  };

  // population cells: shared positions and units, one count per cell (cells with 0 are skipped)
  draw.cells = function (s, P) {
    var xy = P.shared[s.xy], unit = P.shared[s.unit], v = s.values;
    var group = L.featureGroup();
    v.forEach(function (x, i) {
      if (!(x > 0)) return;
      var m = L.circleMarker([xy[2 * i + 1], xy[2 * i]], {
        radius: s.radius, weight: 0, fill: true, fillColor: s.color,
        fillOpacity: Math.min(0.85, 0.1 + 0.75 * x / s.top),
      });
      m.bindTooltip(function () {
        return tipTable([unit, { label: s.label, v: [x.toFixed(1)] }].map(function (c, k) {
          return k === 0 ? { label: c.label, v: [value(c, i)] } : c;
        }), 0);
      });
      group.addLayer(m);
    });
    return group;
  };

  // numbers the page stores in a binary block (circles/report.py, _Page.packed): the payload holds
  // {"$bin": [byte offset, count], t: "i4", d: stride, div: divisor}; put back cumsum-by-stride / div
  var TYPES = { i4: Int32Array, u2: Uint16Array, f4: Float32Array, f8: Float64Array };
  function unpack(spec, buf) {
    if (spec.raw) {  // a typed array as stored, bytes shuffled (sh) and int32 differences (d)
      var T = TYPES[spec.t], size = T.BYTES_PER_ELEMENT, m = spec.$bin[1];
      var src = new Uint8Array(buf, spec.$bin[0], m * size), bytes = new Uint8Array(m * size);
      if (spec.sh) {
        for (var b = 0; b < size; b++) for (var j = 0, o = b * m; j < m; j++) bytes[j * size + b] = src[o + j];
      } else bytes.set(src);
      var typed = new T(bytes.buffer);
      if (spec.d) for (var k = 1; k < m; k++) typed[k] = (typed[k] + typed[k - 1]) | 0;
      return typed;
    }
    var a = new Int32Array(buf, spec.$bin[0], spec.$bin[1]), n = a.length, d = spec.d || 0, div = spec.div || 1;
    var out = new Float64Array(n), acc = new Float64Array(Math.max(d, 1));
    for (var i = 0; i < n; i++) {
      if (d) { acc[i % d] += a[i]; out[i] = acc[i % d] / div; } else out[i] = a[i] / div;
    }
    return out;
  }
  // (multi)polygons packed by circles/report.py (_Page.packed_polygons): GeoJSON MultiPolygons again
  function polygons(o, buf) {
    var xy = unpack(o.xy, buf), rings = unpack(o.rings, buf), parts = unpack(o.parts, buf),
      each = unpack(o.geoms, buf), out = [];
    for (var g = 0; g + 1 < each.length; g++) {
      var polys = [];
      for (var p = each[g]; p < each[g + 1]; p++) {
        var rs = [];
        for (var r = parts[p]; r < parts[p + 1]; r++) {
          var ring = [];
          for (var k = rings[r]; k < rings[r + 1]; k++) ring.push([xy[2 * k], xy[2 * k + 1]]);
          rs.push(ring);
        }
        polys.push(rs);
      }
      out.push(polys.length ? { type: "MultiPolygon", coordinates: polys } : null);
    }
    return out;
  }
  function resolve(o, buf, depth) {  // placeholders sit in objects, a few levels down, never in arrays
    if (!o || typeof o !== "object" || Array.isArray(o)) return o;
    if (o.$bin) return unpack(o, buf);
    if (o.$geo) return polygons(o, buf);
    if (depth < 4) Object.keys(o).forEach(function (k) { o[k] = resolve(o[k], buf, depth + 1); });
    return o;
  }
  // base85 text (circles/display.py base85_text: RFC 1924 digits, "." for "<") to bytes; a last group
  // of k < 5 digits holds k - 1 bytes and is read padded with the largest digit, as Python's b85decode
  function base85(text) {
    var A = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;.=>?@^_`{|}~";
    var val = new Uint8Array(128), n = text.length, rest = n % 5, i, j, k, v, o = 0;
    for (i = 0; i < 85; i++) val[A.charCodeAt(i)] = i;
    var out = new Uint8Array(Math.floor(n / 5) * 4 + (rest ? rest - 1 : 0));
    for (k = 0; k < n; k += 5) {
      v = 0;
      for (j = k; j < k + 5; j++) v = v * 85 + (j < n ? val[text.charCodeAt(j)] : 84);
      for (j = 24; j >= 0 && o < out.length; j -= 8) out[o++] = (v >>> j) & 255;  // v < 2^32: >>> is exact
    }
    return out;
  }
  // calls then(P) once the payload's binary block (if any) is inflated and its arrays are put back
  window.circlesPayload = function (P, then) {
    if (!P.bin) { then(P); return; }
    var b = base85(document.getElementById(P.bin).textContent);
    new Response(new Blob([b]).stream().pipeThrough(new DecompressionStream("gzip"))).arrayBuffer()
      .then(function (buf) { then(resolve(P, buf, 0)); });
  };

  window.circlesReport = function (map, groups, P) {
    window.circlesDrawing = true;
    // markercluster builds one cluster level per zoom: with no tile layer shown the map's
    // maximum zoom is Infinity, so set one
    if (map.options.maxZoom === undefined) map.setMaxZoom(19);
    window.circlesLayers = groups;
    window.circlesBuilt = [];
    Object.keys(groups).forEach(function (key) {
      var fg = groups[key], s = P.layers[key], filled = false;
      function fill() {
        if (filled) return;
        filled = true;
        draw[s.type](s, P).addTo(fg);
        window.circlesBuilt.push(key);
      }
      if (map.hasLayer(fg)) fill(); else fg.once("add", fill);
    });
    requestAnimationFrame(function () { window.circlesDrawn = performance.now(); });
  };
})();
