"""The what-if engine, data side: everything the report page needs to score a chosen set of new sites.

A planner clicks candidate sites on the map (the suggested ones and the candidate grid the
siting stage draws from) and the page recomputes coverage and every target, per unit and
for the study, with no server (``circles/assets/whatif.js``). This module precomputes, in
the run, the only expensive part: the sparse matrix of network times from every candidate
to every population cell within reach (the longer of the siting threshold and the 2SFCA
catchment), plus the figures the page adds to.

Why the page can be exact with so little:

- coverage: a cell's time to the nearest facility of a kind after building is
  ``min(time now, time to each chosen site of that kind)``; the shares follow.
- 2SFCA (classic, Luo & Wang 2003): a facility's ratio ``R_j = S_j / sum_k w(t_kj) P_k``
  depends on that facility alone, so new sites leave the others' ratios unchanged and add
  ``w(t_ij) R_new`` to each reachable cell's figure; ``sum_k w(t_kj) P_k`` (over the study's
  and the halo's people) is stored per candidate. The same holds with Gaussian decay (E2SFCA).
- capacity inside a unit: a new site adds its beds or slots to the unit it stands in; the same
  for the composition shares' parts and bases and the city-wide totals (:func:`_composition`).

Times are stored rounded **up** to whole seconds, so "within T minutes" is decided exactly
as in Python for any whole-second threshold; the 2SFCA weights use these rounded times
(a difference of under a second in 15 minutes).

The payload (:func:`whatif_data`) is plain JSON: base64 little-endian typed arrays for the
matrix and per-cell columns (times uint16 seconds, weights and 2SFCA figures float32, matrix
offsets and cell units int32; :func:`encode_array`, read back by :func:`decode_array`), lists
for the rest.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from circles import targets as tg
from circles.display import decode_array, encode_array
from circles.coverage import COMMUNITY_INDICATORS, COMPOSITION, gaussian_weight
from circles.io.units import assign_points, display_names
from circles.kinds import KINDS, counts_as
from circles.results import CandidateTimes
from circles.siting import candidate_nodes, read_candidates, read_exclusion
from circles.travel import subset

log = logging.getLogger(__name__)

def weights(payload: dict) -> dict[str, np.ndarray]:
    """The payload's people per cell, by group (``elderly``, ``infants``, ``total``), as floats."""
    return {g: decode_array(b, "f4").astype(float) for g, b in payload["weights"].items()}


#: a stored time of this many seconds means "unreachable / past the search limit" (times are uint16)
NO_TIME = 65535


def _ceil_s(t: np.ndarray) -> np.ndarray:
    """Seconds rounded up, as uint16; :data:`NO_TIME` for unreachable (inf) or past 18 hours."""
    t = np.asarray(t, dtype=float)
    out = np.full(len(t), NO_TIME, dtype=np.uint16)
    ok = np.isfinite(t) & (t < NO_TIME - 1)
    out[ok] = np.ceil(t[ok] - 1e-6).astype(np.uint16)
    return out


def _community(preset: dict, units: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame) -> dict:
    """For the plans' literal community indicators (communities / streets with at least one facility
    of the kinds, :data:`circles.coverage.COMMUNITY_INDICATORS`): which units have one now. Only for
    community polygons and indicators without a ``where`` filter; the page leaves the others alone."""
    fac = pd.DataFrame(facilities)
    if "in_area" in fac:
        fac = fac[fac["in_area"].fillna(False).astype(bool)]
    fac = fac[(fac["unit_id"].fillna("") != "") & (fac["serves"].fillna("") != "")]
    out = {}
    for ind in preset["indicators"]:
        metric = ind["metric"]
        if metric not in COMMUNITY_INDICATORS or ind.get("where") or metric not in units:
            continue
        kinds, level = COMMUNITY_INDICATORS[metric]
        having = set(fac.loc[fac["kind"].isin(kinds), "unit_id"].astype(str))
        out[metric] = {"kinds": list(kinds), "level": "unit" if level == "unit_id" else "street",
                       "has": [int(str(x) in having) for x in units["unit_id"]]}
    return out


def _total(ind: dict, study, overall_row) -> dict:
    """A city-wide total (``total = true``): flagged, with the target the run scored it against
    (:func:`circles.targets.city_target`; a total that is not comparable is not assessable in the page)."""
    if not ind.get("total"):
        return {}
    target, _ = tg.city_target(ind, float(overall_row["pop_total"]), whole_city=study.targets.whole_city,
                               city_population=study.targets.city_population)
    if target is None:  # not comparable: no site makes it so
        return {"total": True, "value": float(ind["value"]), "na": True}
    return {"total": True, "value": float(target)}


#: composition and total metrics the page recomputes -> (part column, base column or None for a count)
COMPOSITION_METRICS = {**{share: (part, base) for share, (part, base, _) in COMPOSITION.items()},
                       "slots_inside": ("slots_inside", None), "beds_inside": ("beds_inside", None),
                       "n_meal_points_inside": ("n_meal_points_inside", None)}


def _composition(u: pd.DataFrame, o, unit_ids: list, affordable: bool) -> dict:
    """Parts and bases of the composition shares and the totals, per unit and for the study, and what a
    new site adds to them: its capacity to the totals, and with ``[siting] new_sites_affordable`` to the
    普惠 / 公办 parts and bases (slots) or the 护理型 part and base (beds), as the pipeline's after-state
    counts it (:func:`circles.stages.siting.new_site_composition`); a new 助餐点 adds one meal point."""
    cols = sorted({c for pair in COMPOSITION_METRICS.values() for c in pair if c})
    if any(c not in u for c in cols):
        return {}
    adds = {"slots": ["slots_inside"], "beds": ["beds_inside"], "meal_point": ["n_meal_points_inside"]}
    if affordable:
        adds["slots"] += ["affordable_slots_inside", "slots_affordable_known", "public_slots_inside",
                          "slots_ownership_known"]
        adds["beds"] += ["nursing_beds_inside", "beds_nursing_known"]
    return {"metrics": {m: list(pair) for m, pair in COMPOSITION_METRICS.items()},
            "units": {c: [float(x) for x in u[c].reindex(unit_ids).fillna(0)] for c in cols},
            "study": {c: float(o.get(c, 0.0) or 0.0) for c in cols}, "adds": adds}


def candidate_sites(study, net, nodes, area, sites: gpd.GeoDataFrame, *, spacing_m: float | None = None,
                    exclude=None, from_file: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """The clickable sites: the suggested ones first (with kind and rank), then the candidate grid.

    The grid is the siting stage's: the study's candidates file, or road nodes thinned to
    one per ``candidate_spacing_m`` square over the whole area (minus ``exclude``). A grid
    site within 1 m of a suggested one is the same place and kept once.
    """
    s = study.siting
    if from_file is None:
        exclude = read_exclusion(s.exclude, net.crs) if exclude is None else exclude
        if s.candidates is not None:
            from_file = read_candidates(s.candidates, net.crs, name_column=s.candidate_name_column, exclude=exclude)
    if from_file is not None:
        grid = from_file
    else:
        grid = candidate_nodes(nodes, spacing_m=spacing_m or s.candidate_spacing_m, area=area, exclude=exclude)
        grid = grid[["geometry"]].assign(name="")  # generated: no name of its own (the page says "candidate")
    rows = []
    if sites is not None and len(sites):
        for _, r in sites.iterrows():
            rows.append({"name": str(r.get("name", "") or ""), "kind": r["kind"], "rank": int(r["rank"]),
                         "capacity": float(r["capacity"]), "suggested": True, "geometry": r.geometry,
                         "near_road": _str_or_none(r.get("near_road")), "in_unit": _str_or_none(r.get("in_unit"))})
    taken = shapely.union_all([r["geometry"] for r in rows]).buffer(1.0) if rows else None
    # the grid in one vectorised pass (a city's grid has tens of thousands of sites: no iterrows)
    geoms = grid.geometry.values
    keep = ~shapely.covers(taken, geoms) if taken is not None else np.ones(len(grid), bool)
    names = grid["name"].to_numpy(dtype=object) if "name" in grid else np.full(len(grid), "", dtype=object)
    rest = pd.DataFrame({"name": [str(x or "") for x in names[keep]], "kind": "",
                         "rank": 0, "capacity": np.nan, "suggested": False, "near_road": None, "in_unit": None})
    rest = gpd.GeoDataFrame(rest, geometry=np.asarray(geoms[keep]), crs=net.crs)
    if not rows and not len(rest):
        return gpd.GeoDataFrame({"name": [], "kind": [], "rank": [], "capacity": [], "suggested": []}, geometry=[],
                                crs=net.crs)
    head = gpd.GeoDataFrame(rows, geometry="geometry", crs=net.crs) if rows else None
    if head is None:
        return rest
    out = pd.concat([head, rest[head.columns]], ignore_index=True) if len(rest) else head
    return gpd.GeoDataFrame(out, geometry="geometry", crs=net.crs)

def _str_or_none(x):
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else str(x)


#: the page's matrix is kept under this many candidate-cell pairs (about 8 bytes each in the page):
#: past it the generated candidate grid is thinned (spacing doubled), the suggested sites always kept
MAX_PAIRS = 2_000_000


def whatif_data(study, net, nodes, area, points: gpd.GeoDataFrame, units: gpd.GeoDataFrame, overall: pd.DataFrame,
                facilities: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, preset: dict, dsnap, demand: pd.DataFrame,
                thresholds_min, *, max_pairs: int = MAX_PAIRS, candidates: CandidateTimes | None = None,
                missing_fields=frozenset()) -> dict:
    """The what-if payload for the page (see the module docstring); ``{}`` when siting is off.

    ``candidates``: the run's candidate times (:class:`circles.results.CandidateTimes`): the
    page's grid at the study's spacing and the suggested sites are rows of it, so they are
    neither snapped nor searched again. Only when the grid is thinned (more than
    ``max_pairs`` pairs) are the coarser grid's sites snapped and searched here.
    ``missing_fields``: composition fields no gazetteer has (their indicators stay not assessable,
    :func:`circles.stages.score.composition_options`).
    """
    s = study.siting
    if s.n_sites == 0 or not s.kinds:
        return {}
    n = len(points)
    catchment_s = max(thresholds_min) * 60.0
    reach_s = max(catchment_s, s.threshold_min * 60.0)
    spacing = float(s.candidate_spacing_m)
    if candidates is not None:  # read once for the run (circles.stages.candidates)
        exclude = candidates.exclude
        from_file = candidates.grid if s.candidates is not None else None
    else:
        exclude = read_exclusion(s.exclude, net.crs)  # read once, not at every thinning step
        from_file = None if s.candidates is None else \
            read_candidates(s.candidates, net.crs, name_column=s.candidate_name_column, exclude=exclude)
    while True:
        cands = candidate_sites(study, net, nodes, area, sites, spacing_m=spacing, exclude=exclude,
                                from_file=from_file)
        if cands.empty:
            return {}
        if candidates is not None and reach_s <= candidates.cutoff_s and candidates.has(cands.geometry.values):
            rows = candidates.rows(cands.geometry.values)
            csnap, T = subset(candidates.snap, rows), candidates.to_demand(rows, reach_s)
        else:
            csnap = net.snap_points(cands, max_offroad_m=study.travel.max_offroad_m)
            T = net.times_to_points(csnap, dsnap, cutoff_s=reach_s).tocsr()
        if T.nnz <= max_pairs or s.candidates is not None or int(cands["suggested"].sum()) == len(cands) \
                or spacing > 64 * s.candidate_spacing_m:
            break
        log.info("what-if: %d pairs > %d: candidate grid thinned to %.0f m", T.nnz, max_pairs, 2 * spacing)
        spacing *= 2
    # 2SFCA step 1 sums for a new facility at each candidate (study + halo people)
    Tc = T.copy()
    Tc.data[Tc.data > catchment_s] = 0.0
    Tc.eliminate_zeros()
    ones = Tc.copy()
    ones.data = np.ones_like(ones.data)
    gauss = Tc.copy()
    gauss.data = gaussian_weight(gauss.data, catchment_s)
    dem = {g: demand[g].to_numpy(dtype=float) for g in ("elderly", "total")}
    step1 = {"d_elderly": ones @ dem["elderly"], "d_total": ones @ dem["total"],
             "g_elderly": gauss @ dem["elderly"], "g_total": gauss @ dem["total"]}
    Tp = T[:, :n].tocsr()  # the study's own cells only: those are scored
    Tp.sort_indices()
    unit_ids = list(units["unit_id"].astype(str))
    uindex = {u: i for i, u in enumerate(unit_ids)}
    point_unit = np.array([uindex.get(str(u), -1) for u in points["unit_id"]], dtype=np.int32)
    cand_unit = assign_points(cands, units)
    display = cands.to_crs(4326)
    kinds = [k for k in s.kinds if k in KINDS]
    times = {k: encode_array(_ceil_s(points[f"time_s_{k}"].to_numpy()), np.uint16) for k in KINDS
             if f"time_s_{k}" in points}
    base = {c: encode_array(np.nan_to_num(points[c].to_numpy(dtype=float)), np.float32)
            for c in ("sfca_beds_per_1000_elderly", "e2sfca_beds_per_1000_elderly",
                      "sfca_slots_per_1000_total", "e2sfca_slots_per_1000_total") if c in points}
    o = overall.iloc[0]
    u = units.set_index("unit_id")
    payload = {
        "version": 1,
        "n_points": int(n),
        "thresholds_s": [float(x) * 60.0 for x in thresholds_min],
        "siting_threshold_s": float(s.threshold_min * 60.0),
        "grid_spacing_m": spacing if s.candidates is None else None,
        "catchment_s": float(catchment_s),
        "weights": {g: encode_array(points[g].to_numpy(dtype=float), np.float32) for g in ("elderly", "infants", "total")},
        "point_unit": encode_array(point_unit, np.int32),
        "times": times,
        "sfca": base,
        # what a new site's capacity counts as (circles/kinds.py): institutional beds, day-care
        # places or under-3 slots (a new kindergarten is built with its 托班, as the pipeline does)
        "kinds": {k: {"serves": KINDS[k].serves, "counts_as": counts_as(k),
                      "capacity": float(s.slots if KINDS[k].capacity == "slots" else s.beds)} for k in kinds},
        "kind_serves": {k: v.serves for k, v in KINDS.items()},
        "units": {"id": unit_ids, "name": list(display_names(units)),
                  "beds_inside": [float(x) for x in u["beds_inside"].reindex(unit_ids).fillna(0)],
                  "slots_inside": [float(x) for x in u["slots_inside"].reindex(unit_ids).fillna(0)],
                  "parent": [str(x) for x in u["parent"].reindex(unit_ids).fillna("")],
                  "daycare_places_inside": [float(x) for x in (u["daycare_places_inside"] if "daycare_places_inside"
                                                               in u else u["beds_inside"] * 0).reindex(unit_ids).fillna(0)]},
        "study": {"beds_inside": float(o["beds_inside"]), "slots_inside": float(o["slots_inside"]),
                  "daycare_places_inside": float(o.get("daycare_places_inside", 0.0))},
        # an indicator on a subset of units (a ``where`` filter) is not recomputed in the page
        "indicators": [{**{k: ind[k] for k in ("id", "metric", "value", "gap", "group")},
                        "where": bool(ind.get("where")), **_total(ind, study, o),
                        **({"na": True} if tg.NEEDS_FIELD.get(ind["metric"]) in missing_fields else {})}
                       for ind in preset["indicators"]],
        "community": _community(preset, units, facilities),
        "composition": _composition(u, o, unit_ids, s.new_sites_affordable),
        "candidates": {
            "lon": [round(float(x), 6) for x in display.geometry.x],
            "lat": [round(float(y), 6) for y in display.geometry.y],
            "name": [str(x) for x in cands["name"]],
            # a generated name's parts (data in no language; None when the name is the file's own):
            # the page words them in its language (circles/panels.py, i18n.site_label)
            "near_road": [_str_or_none(x) for x in cands["near_road"]] if "near_road" in cands else None,
            "in_unit": [_str_or_none(x) for x in cands["in_unit"]] if "in_unit" in cands else None,
            "kind": [str(x) for x in cands["kind"]],
            "rank": [int(x) for x in cands["rank"]],
            "capacity": [None if not np.isfinite(x) else float(x) for x in cands["capacity"].astype(float)],
            "suggested": [bool(x) for x in cands["suggested"]],
            "unit": [uindex.get(str(x), -1) for x in cand_unit],
            "snapped": [bool(x) for x in csnap.snapped],
            **{k: [float(x) for x in v] for k, v in step1.items()},
        },
        "matrix": {"ptr": encode_array(Tp.indptr, np.int32), "idx": encode_array(Tp.indices, np.int32),
                   "t": encode_array(_ceil_s(Tp.data), np.uint16)},
    }
    log.info("what-if: %d candidates, %d cell pairs within %.0f s", len(cands), Tp.nnz, reach_s)
    return payload


def site_capacity(payload: dict, c: int, kind: str) -> float:
    """The beds or slots a new ``kind`` at candidate ``c`` adds: the site's own capacity when it was
    suggested as that kind, else the study's for a new site of the kind (``[siting] beds`` /
    ``slots``), as ``whatif.js`` takes it."""
    cands = payload["candidates"]
    return cands["capacity"][c] if cands["kind"][c] == kind and cands["capacity"][c] else \
        payload["kinds"][kind]["capacity"]


def evaluate(payload: dict, chosen: list[tuple[int, str]]) -> dict:
    """Score ``chosen`` ``(candidate index, kind)`` pairs from the payload alone (as the page does).

    The Python twin of ``whatif.js``: tests compare both against the pipeline's after-state.
    Returns ``{"coverage": {group: {"5min": share}}, "indicators": {id: measured}}`` for the study.
    """
    n = payload["n_points"]

    def arr(b, dt):
        return decode_array(b, dt).astype(float)

    w = weights(payload)
    times = {}
    for k, b in payload["times"].items():
        t = arr(b, "u2")
        times[k] = np.where(t == NO_TIME, np.inf, t)
    m = payload["matrix"]
    ptr, idx = (arr(m[x], "i4").astype(np.int64) for x in ("ptr", "idx"))
    tt = arr(m["t"], "u2")
    cands = payload["candidates"]
    sfca = {c: arr(b, "f4") for c, b in payload["sfca"].items()}
    catch = payload["catchment_s"]
    for c, kind in chosen:
        lo, hi = ptr[c], ptr[c + 1]
        cols, tc = idx[lo:hi], tt[lo:hi].astype(float)
        times[kind][cols] = np.minimum(times[kind][cols], tc)
        cap = site_capacity(payload, c, kind)
        inside = tc <= catch
        counts = payload["kinds"][kind]["counts_as"]
        if counts == "beds":
            keys = ("sfca_beds_per_1000_elderly", "e2sfca_beds_per_1000_elderly", "d_elderly", "g_elderly")
        elif counts == "slots":
            keys = ("sfca_slots_per_1000_total", "e2sfca_slots_per_1000_total", "d_total", "g_total")
        else:  # day-care places or nothing: no 2SFCA figure counts them
            continue
        if cands[keys[2]][c] > 0:
            sfca[keys[0]][cols[inside]] += 1000.0 * cap / cands[keys[2]][c]
        if cands[keys[3]][c] > 0:
            sfca[keys[1]][cols[inside]] += 1000.0 * cap * gaussian_weight(tc[inside], catch) / cands[keys[3]][c]
    out = {"coverage": {}, "indicators": {}}
    serves = payload["kind_serves"]
    for g in ("elderly", "infants"):
        any_t = np.min([times[k] for k in times if serves[k] == g], axis=0) if times else np.full(n, np.inf)
        tot = w[g].sum()
        out["coverage"][g] = {f"{ts / 60:g}min": float(w[g][any_t <= ts].sum() / tot) if tot else None
                              for ts in payload["thresholds_s"]}
    for ind in payload["indicators"]:
        metric = ind["metric"]
        if ind.get("where"):
            continue
        if metric.startswith("cov_"):
            _, g, rest = metric.split("_", 2)
            kind, mins = rest.rsplit("_", 1)
            ts = float(mins[:-3]) * 60.0
            t = np.min([times[k] for k in times if serves[k] == g], axis=0) if kind == "any" else times[kind]
            out["indicators"][ind["id"]] = float(w[g][t <= ts].sum() / w[g].sum())
        elif metric in sfca:
            wt = w["elderly"] if metric.endswith("elderly") else w["total"]
            out["indicators"][ind["id"]] = float((sfca[metric] * wt).sum() / wt.sum())
        elif metric in (payload.get("composition") or {}).get("metrics", {}) and not ind.get("na"):
            comp = payload["composition"]
            part, base = comp["metrics"][metric]
            have = dict(comp["study"])
            for c, kind in chosen:
                counts = "meal_point" if kind == "meal_point" else payload["kinds"][kind]["counts_as"]
                cap = 1.0 if counts == "meal_point" else site_capacity(payload, c, kind)
                for col in comp["adds"].get(counts, []):
                    have[col] += cap
            den = have[base] if base else 1.0
            out["indicators"][ind["id"]] = float(have[part] / den) if den > 0 else float("nan")
        elif metric in payload.get("community", {}):
            cm = payload["community"][metric]
            has = np.array(cm["has"], dtype=bool)
            for c, kind in chosen:
                if kind in cm["kinds"] and cands["unit"][c] >= 0:
                    has[cands["unit"][c]] = True
            parent = np.array(payload["units"]["parent"], dtype=object)
            if cm["level"] == "unit":
                out["indicators"][ind["id"]] = float(has.mean())
            else:
                named = parent != ""
                streets = pd.Series(has[named]).groupby(parent[named]).any()
                out["indicators"][ind["id"]] = float(streets.mean()) if len(streets) else float("nan")
    return out


def chosen_suggested(payload: dict) -> list[tuple[int, str]]:
    """The ``(candidate, kind)`` pairs of every suggested site (what clicking them all selects)."""
    c = payload["candidates"]
    return [(i, c["kind"][i]) for i in range(len(c["kind"])) if c["suggested"][i]]


__all__ = ["candidate_sites", "whatif_data", "evaluate", "chosen_suggested", "weights",
           "site_capacity"]
