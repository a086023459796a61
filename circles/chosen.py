"""Chosen sites read back: the CSV the report page's what-if exports (``chosen_sites.csv``).

The page (``circles/assets/planner.js``) writes one row per chosen site::

    candidate_index,name,kind,capacity,lon_wgs84,lat_wgs84,lon_gcj02,lat_gcj02,gain

``candidate_index`` indexes the run's what-if candidates (``whatif.json`` ``candidates``) and
``kind`` is the kind to build there; the other columns are for people (and a spreadsheet).
:func:`read_chosen_sites` checks the file and gives the ``(candidate, kind)`` pairs that
:func:`circles.whatif.evaluate` (and ``circles suggest STUDY --sites chosen.csv``) score.

Decisions:

- Any bad row stops the read with one error naming the file, the row (as a spreadsheet numbers
  it: the header is row 1) and the column; a partly usable choice is not a choice the bureau
  made, so nothing is dropped or repaired.
- With the run's what-if payload, each row's WGS84 position is compared with the candidate's
  (within :data:`POSITION_TOL_DEG`): a file exported from another study or another run, whose
  indices mean other places, is refused instead of scoring the wrong sites.
- A leading ``'`` the page adds to a text cell starting with ``= + - @`` (so a spreadsheet does
  not run it as a formula) is not part of the name.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from circles.display import FORMULA_START, decode_array, encode_array
from circles.errors import InputFileError
from circles.kinds import KINDS
from circles.whatif import evaluate, site_capacity, weights

#: the columns the page writes, in order
COLUMNS = ("candidate_index", "name", "kind", "capacity", "lon_wgs84", "lat_wgs84", "lon_gcj02", "lat_gcj02", "gain")
#: how far (degrees) a row's WGS84 position may be from its candidate's (the page rounds to 1e-6)
POSITION_TOL_DEG = 1e-5


def read_chosen_sites(path: str | Path, payload: dict | None = None) -> pd.DataFrame:
    """The chosen sites of an exported CSV, checked.

    Parameters
    ----------
    path : str or Path
        ``chosen_sites.csv`` as the report page exports it (UTF-8, with or without BOM).
    payload : dict, optional
        The run's what-if payload (``whatif.json``): indices are checked against its candidates,
        kinds against the kinds it can site, and positions against the candidates'.

    Returns
    -------
    pandas.DataFrame
        The file's columns, ``candidate_index`` as int, on a 0-based index.

    Raises
    ------
    circles.errors.InputFileError
        A missing column, a bad cell, a duplicate site or a site that is not this run's.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: not found; export it from the report page's what-if panel (CSV)")
    df = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    missing = [c for c in ("candidate_index", "kind") if c not in df.columns]
    if missing:
        raise InputFileError(f"{path}: no column {', '.join(missing)}; the header must be {','.join(COLUMNS)} "
                             "(as the report page exports it)")
    cands = (payload or {}).get("candidates") or None
    kinds = set((payload or {}).get("kinds") or KINDS)
    seen: dict[tuple[int, str], int] = {}
    index = []
    for k, r in df.iterrows():
        row = k + 2  # the header is row 1

        def bad(col, why, fix, row=row):
            return InputFileError(f"{path} row {row}, column {col}: {why}; {fix}")

        raw = r["candidate_index"].strip()
        if not raw.isdigit():
            raise bad("candidate_index", f"{raw!r} is not a candidate number", "give the index the page exported")
        i = int(raw)
        if cands is not None and i >= len(cands["lon"]):
            raise bad("candidate_index", f"{i} is past this run's {len(cands['lon'])} candidates",
                      "export the file again from this run's report")
        kind = r["kind"].strip()
        if kind not in kinds:
            raise bad("kind", f"{kind!r} is not a kind this run can site", f"use one of {', '.join(sorted(kinds))}")
        if (i, kind) in seen:
            raise bad("candidate_index", f"candidate {i} ({kind}) is also on row {seen[(i, kind)]}", "keep one row")
        seen[(i, kind)] = row
        if cands is not None and "lon_wgs84" in df.columns and "lat_wgs84" in df.columns:
            try:
                x, y = float(r["lon_wgs84"]), float(r["lat_wgs84"])
            except ValueError:
                raise bad("lon_wgs84", f"({r['lon_wgs84']!r}, {r['lat_wgs84']!r}) is not a position",
                          "export the file again") from None
            cx, cy = cands["lon"][i], cands["lat"][i]
            if not (math.isfinite(x) and math.isfinite(y)) or abs(x - cx) > POSITION_TOL_DEG or \
                    abs(y - cy) > POSITION_TOL_DEG:
                raise bad("lon_wgs84", f"candidate {i} is at ({cx:.6f}, {cy:.6f}) in this run, the file says "
                          f"({x:.6f}, {y:.6f})", "the file was exported from another study or run: export it again")
        index.append(i)
    out = df.copy()
    out["candidate_index"] = pd.Series(index, index=df.index, dtype="int64")
    if "name" in out:
        out["name"] = [n[1:] if isinstance(n, str) and n[:1] == "'" and n[1:].startswith(FORMULA_START) else n
                       for n in out["name"]]  # the CSV guard the export put there
    return out.reset_index(drop=True)


def chosen_pairs(chosen: pd.DataFrame) -> list[tuple[int, str]]:
    """``(candidate index, kind)`` pairs for :func:`circles.whatif.evaluate`."""
    return [(int(i), str(k)) for i, k in zip(chosen["candidate_index"], chosen["kind"])]


def after_state(payload: dict, chosen: list[tuple[int, str]], *, not_assessable: dict | None = None,
                where_units: dict | None = None) -> dict:
    """The study's after-state of ``chosen`` as the report page's what-if panel shows it.

    :func:`circles.whatif.evaluate` (the Python twin of ``whatif.js``) gives coverage and the
    recomputable indicators; this adds what the panel adds on top: the capacity ratios
    (``beds/slots/daycare_places_per_1000_*``, existing capacity inside the study plus each chosen
    site's), and a status and gap per indicator judged as ``whatif.js`` ``judge`` does. An
    indicator the run found not assessable stays so unless a chosen site is of a kind whose
    absence was the reason (``not_assessable``: :func:`circles.panels.not_assessable`); one on a
    filtered subset of units (``where``) is recomputed over the units ``where_units`` lists
    (:func:`circles.panels.where_units`, as the page's ``filtered`` in planner.js), else ``None``
    (not recomputed), as in the page.

    Returns ``{"coverage": {group: {"15min": share}}, "indicators": {id: {"measured", "status",
    "gap"} or None}}``.
    """
    ev = evaluate(payload, chosen)
    w = weights(payload)
    spop = {g: float(v.sum()) for g, v in w.items()}
    spop["communities"] = float(len(payload["units"]["id"]))
    spop["streets"] = float(len({p for p in payload["units"].get("parent", []) if p}))
    added = {"beds": 0.0, "slots": 0.0, "daycare_places": 0.0}
    for c, kind in chosen:
        counts = payload["kinds"][kind]["counts_as"]
        if counts in added:
            added[counts] += site_capacity(payload, c, kind)
    na = not_assessable or {}
    built = {k for _, k in chosen}
    out = {"coverage": ev["coverage"], "indicators": {}}
    for ind in payload["indicators"]:
        iid, metric = ind["id"], ind["metric"]
        if iid in na and not built & set(na[iid]):
            out["indicators"][iid] = {"measured": None, "status": "not assessable", "gap": 0}
            continue
        if ind.get("where"):
            if iid not in (where_units or {}):
                out["indicators"][iid] = None
                continue
            m, pop = _filtered(payload, chosen, ind, where_units[iid], added, w)
            out["indicators"][iid] = _judge(m, ind, pop)
            continue
        m = ev["indicators"].get(iid)
        parts = metric.split("_per_1000_")
        if m is None and len(parts) == 2 and parts[0] in added and parts[1] in ("elderly", "total"):
            den = spop[parts[1]]
            m = 1000.0 * (payload["study"].get(f"{parts[0]}_inside", 0.0) + added[parts[0]]) / den if den else None
        if m is None:
            out["indicators"][iid] = None
            continue
        out["indicators"][iid] = _judge(m, ind, spop.get(ind.get("group"), 0.0))
    return out


def _judge(m, ind: dict, pop: float) -> dict:
    """Status and gap of a measured figure (``whatif.js`` ``judge``)."""
    if m is None or not pop > 0 or not math.isfinite(m):
        return {"measured": m, "status": "no population", "gap": 0}
    if m >= ind["value"] - 1e-12:
        return {"measured": m, "status": "pass", "gap": 0}
    scale = pop / 1000.0 if ind["gap"] in ("beds", "slots") else pop
    return {"measured": m, "status": "fail", "gap": math.ceil((ind["value"] - m) * scale - 1e-9)}


def _filtered(payload: dict, chosen, ind: dict, units: list[int], added_total: dict,
              weights_by_group: dict) -> tuple[float | None, float]:
    """A filtered indicator's study figure over ``units`` and the people it is judged on
    (``weights_by_group``: the payload's :func:`circles.whatif.weights`, decoded once by the caller).

    Coverage and 2SFCA: :func:`circles.whatif.evaluate` on the payload with every cell outside the
    units weighted 0 (a weighted share or mean over the units' cells). Capacity ratios: the units'
    own capacity plus the chosen sites standing in them, per 1,000 of the units' people.
    """
    unit = decode_array(payload["point_unit"], "i4")
    keep = np.isin(unit, np.asarray(units, dtype=np.int32))
    w = {g: v * keep for g, v in weights_by_group.items()}
    pop = float(w[ind["group"]].sum()) if ind["group"] in w else float(len(units))
    parts = ind["metric"].split("_per_1000_")
    if len(parts) == 2 and parts[0] in added_total:
        cands, inside = payload["candidates"], set(units)
        own = payload["units"].get(f"{parts[0]}_inside") or [0.0] * len(payload["units"]["id"])
        have = float(sum(own[u] for u in units))
        for c, kind in chosen:
            if payload["kinds"][kind]["counts_as"] == parts[0] and cands["unit"][c] in inside:
                have += site_capacity(payload, c, kind)
        den = float(w[parts[1]].sum())
        return (1000.0 * have / den if den > 0 else None), pop
    p2 = {**payload, "weights": {g: encode_array(v, "f4") for g, v in w.items()},
          "indicators": [{**ind, "where": False}]}
    return evaluate(p2, chosen)["indicators"].get(ind["id"]), pop
