"""Credits: where each input came from and under what licence, as the report and README show it.

Each input in the study file may say so itself (``source`` and ``licence`` keys in
``[network]``, ``[[facilities]]``, ``[population]``, ``[units]``). When it does not, the
default comes from what was actually read, never from a fixed list:

- an OpenStreetMap file (``.osm``, ``.osm.pbf``, ``.osm.bz2``, or a name containing
  ``osm``): "© OpenStreetMap contributors", ODbL 1.0;
- WorldPop-named rasters (a path or pattern containing ``worldpop``, or WorldPop's age/sex
  file names such as ``chn_f_60_2020.tif``): "WorldPop (www.worldpop.org)", CC BY 4.0;
- anything else: the file name, "source not stated".
"""

from __future__ import annotations

import re
from pathlib import Path

from circles.i18n import t

OSM = ("© OpenStreetMap contributors", "ODbL 1.0")
WORLDPOP = ("WorldPop (www.worldpop.org); Tatem AJ (2017) Sci Data 4:170004", "CC BY 4.0")
_WORLDPOP_NAME = re.compile(r"(worldpop|^[a-z]{3}_[fm]_\d{1,2}_\d{4})", re.IGNORECASE)


def _is_osm(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".osm", ".osm.pbf", ".pbf", ".osm.bz2", ".osm.xml")) or "osm" in name or \
        "openstreetmap" in name


def default_credit(role: str, path: Path | None, pattern: str | None = None) -> tuple[str | None, str | None]:
    """``(source, licence)`` guessed from the file read for ``role``; ``(None, None)`` when unknown."""
    if path is None:
        return None, None
    path = Path(path)
    if role == "network" and _is_osm(path):
        return OSM
    if role == "population":
        names = [path.name, str(path)] + ([pattern] if pattern else [])
        if any(_WORLDPOP_NAME.search(Path(n).name) or "worldpop" in n.lower() for n in names):
            return WORLDPOP
    return None, None


def _entry(role: str, path, source, licence, pattern=None) -> dict:
    guessed = default_credit(role, path, pattern)
    return {"role": role, "file": Path(path).name if path is not None else "",
            "source": source or guessed[0], "licence": licence or guessed[1],
            "stated": bool(source)}


def study_credits(study) -> list[dict]:
    """One entry per input: ``role``, ``file``, ``source`` (None: not stated), ``licence``, ``stated``."""
    out = []
    nw = study.network
    out.append(_entry("network", nw.path, getattr(nw, "source", None), getattr(nw, "licence", None)))
    if getattr(nw, "dem", None) is not None:  # elevation for walking with slope (used on the walk profile only)
        out.append(_entry("dem", nw.dem, getattr(nw, "dem_source", None), getattr(nw, "dem_licence", None)))
    for f in study.facilities:
        out.append(_entry("facilities", f.path, getattr(f, "source", None), getattr(f, "licence", None)))
    po = study.population
    out.append(_entry("population", po.total_file if po.folder is None else po.folder,
                      getattr(po, "source", None), getattr(po, "licence", None), po.pattern))
    un = study.units
    if un.path is not None:
        out.append(_entry("units", un.path, getattr(un, "source", None), getattr(un, "licence", None)))
    if un.parents is not None:
        out.append(_entry("parents", un.parents, getattr(un, "parents_source", None),
                          getattr(un, "parents_licence", None)))
    return out


def credit_lines(credits: list[dict], lang: str) -> list[str]:
    """The credits as lines of text in ``lang`` (labels from the catalogue)."""
    lines = []
    for c in credits:
        label = t(f"credit.{c['role']}", lang)
        if c.get("source"):
            text = c["source"] + (f", {c['licence']}" if c.get("licence") else "")
        else:
            text = t("credit.not_stated", lang, file=c["file"])
        lines.append(f"{label}: {text}")
    return lines
