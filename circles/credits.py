"""Credits: where each input came from and under what licence, as the report and README show it.

Each input in the study file may say so itself (``source`` and ``licence`` keys in
``[network]``, ``[[facilities]]``, ``[population]``, ``[units]``). When it does not, the
default comes from what was actually read, never from a fixed list:

- an OpenStreetMap file (``.osm``, ``.osm.pbf``, ``.osm.bz2``, or a name containing
  ``osm``): "© OpenStreetMap contributors", ODbL 1.0;
- WorldPop-named rasters (a path or pattern containing ``worldpop``, or WorldPop's age/sex
  file names such as ``chn_f_60_2020.tif``): "WorldPop (www.worldpop.org)", CC BY 4.0;
- anything else: the file name, "source not stated".

Credits name the files actually read: for a population folder, the band rasters its pattern
matched (count, first and last name), not the folder. A raster's own metadata is read when
present: the GeoTIFF tags ``SOURCE`` and ``LICENSE`` (as GDAL writes them, e.g.
``gdal_edit.py -mo SOURCE=...``) stand in for an unstated source or licence, and are shown
as the files' metadata either way (``tags``), one value per tag when the files agree.
"""

from __future__ import annotations

import re
from pathlib import Path

from circles.i18n import t
from circles.io.population import band_files

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


#: GeoTIFF metadata tags read into the credits (GDAL metadata item names)
TAGS = ("SOURCE", "LICENSE")


def raster_tags(paths) -> dict[str, str]:
    """The :data:`TAGS` the rasters carry: tag -> value, one value when every file agrees, else the
    distinct values joined with "; " (a folder mixing sources says so)."""
    import rasterio

    seen: dict[str, list[str]] = {}
    for p in paths:
        try:
            with rasterio.open(p) as src:
                tags = src.tags()
        except rasterio.errors.RasterioIOError:
            continue  # the population reader names an unreadable file; credits do not stop the run
        for k in TAGS:
            v = str(tags.get(k) or "").strip()
            if v and v not in seen.setdefault(k, []):
                seen[k].append(v)
    return {k: "; ".join(v) for k, v in seen.items() if v}


def _population_entry(po) -> dict:
    """The population credit: the rasters read (a folder's matching bands, or the total file) and their tags."""
    if po.folder is None:
        files = [Path(po.total_file)]
    else:
        try:
            files = band_files(po.folder, po.pattern)
        except OSError:
            files = []
    tags = raster_tags(files)
    e = _entry("population", files[0] if len(files) == 1 else (po.total_file if po.folder is None else po.folder),
               getattr(po, "source", None) or tags.get("SOURCE"), getattr(po, "licence", None) or tags.get("LICENSE"),
               po.pattern)
    e["stated"] = bool(getattr(po, "source", None))
    e["files"] = [f.name for f in files]
    e["tags"] = tags
    if len(files) > 1:
        e["file"] = t("credit.files", "en", n=len(files), first=files[0].name, last=files[-1].name)
    return e


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
    out.append(_population_entry(po))
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
        files = c.get("files") or []
        read = t("credit.files", lang, n=len(files), first=files[0], last=files[-1]) if len(files) > 1 else \
            (files[0] if files else c["file"])
        if c.get("source"):
            text = c["source"] + (f", {c['licence']}" if c.get("licence") else "")
            if files:  # the rasters read, and their own metadata when it is not what the line already says
                meta = "; ".join(f"{k}: {v}" for k, v in (c.get("tags") or {}).items()
                                 if v not in (c.get("source"), c.get("licence")))
                text += f" ({read}{'; ' + t('credit.tags', lang) + ' ' + meta if meta else ''})"
        else:
            text = t("credit.not_stated", lang, file=read)
        lines.append(f"{label}: {text}")
    return lines
