"""The rules a run used, as numbers (``summary.json["methods"]``) and as sentences for the page.

The page's methods section and the README's "Rules" section say the same things: walking
rules by road class, the off-road leg, speeds, every estimate (infants, totals), the search
limit and what each indicator counts. The residents line names what the run used: the
total raster (``population.total_file``, measured), the sum of the age bands (measured), or the
20+ estimate; ``summary.json`` ``population.rules`` holds the same in the loader's words. The road-class rules are read from the network
loader's own tables (:mod:`circles.io.network`), so the text follows the code.
"""

from __future__ import annotations

from pathlib import Path

from circles.i18n import t
from circles.io import dem, network
from circles.rules import SPEEDS_MPS, TOBLER_G0, TOBLER_K


def method_params(study, estimated: dict, *, limit_min: float) -> dict:
    """The numbers and switches the methods text is made from.

    ``limit_min``: the run's one search limit in minutes (:func:`circles.rules.search_limit_s`).
    """
    po, tr = study.population, study.travel
    return {
        "profile": study.network.profile,
        "walk_speed_mps": tr.walk_speed_mps,
        "max_offroad_m": tr.max_offroad_m,
        "max_time_min": limit_min,
        "thresholds_min": list(tr.thresholds_min),
        "siting_threshold_min": study.siting.threshold_min,
        "road_class_column": study.network.road_class_column,
        "walk_excluded": sorted(network.WALK_EXCLUDED),
        "foot_yes": sorted(network.FOOT_YES),
        "no_access": sorted(network.NO_ACCESS),
        "elderly_min_age": po.elderly_min_age,
        "child_woman_ratio": po.child_woman_ratio,
        "under20_share": po.under20_share,
        "elderly_share": po.elderly_share,
        "infant_share": po.infant_share,
        "total_only": po.folder is None,
        "total_file": None if po.total_file is None else Path(po.total_file).name,
        "estimated": sorted(estimated),
        "slope": slope_params(study),
    }


def slope_params(study) -> dict | None:
    """The slope rule's numbers (walk profile with ``[network] dem``), else None."""
    if getattr(study.network, "dem", None) is None or study.network.profile != "walk":
        return None
    return {"dem": study.network.dem.name, "k": TOBLER_K, "g0": TOBLER_G0, "step_m": dem.MAX_STEP_M,
            "steps_vertical_mps": dem.STEPS_VERTICAL_MPS}


def method_lines(p: dict, lang: str) -> list[str]:
    """The methods section as sentences in ``lang``."""
    v = f"{p['walk_speed_mps']:g}"
    lines = [t("methods.walk_speed" if p["profile"] == "walk" else "methods.drive_speed", lang, v=v)]
    banned = ", ".join(p["walk_excluded"])
    opens = "/".join(p.get("foot_yes") or [])
    allowed = t("methods.allowed", lang, opens=opens) if opens else t("methods.allowed_plain", lang)
    lines.append(t("methods.walk_roads", lang, allowed=allowed, banned=banned,
                   closes="/".join(p.get("no_access") or ["no", "private"])))
    if p["road_class_column"] not in ("highway", None):
        lines.append(t("methods.walk_roads_gis", lang, col=p["road_class_column"]))
    lines.append(t("methods.offroad", lang, m=f"{p['max_offroad_m']:g}"))
    tmax = max(p["thresholds_min"])
    lines.append(t("methods.times", lang, t=f"{tmax:g}"))
    lines.append(t("methods.search_none", lang) if p["max_time_min"] is None
                 else t("methods.search_limit", lang, m=f"{p['max_time_min']:g}"))
    lines.append(t("methods.catchment", lang, t=f"{tmax:g}", s=f"{p['siting_threshold_min']:g}"))
    if p.get("total_file") and "total" not in p["estimated"]:  # the residents as measured: the total raster
        lines.append(t("methods.total_raster" if p["total_only"] else "methods.total_raster_bands", lang,
                       f=p["total_file"]))
    if p["total_only"]:
        lines += [t("methods.elderly_share", lang, share=f"{p['elderly_share']:g}"),
                  t("methods.infants_share", lang, share=f"{p['infant_share']:g}")]
    else:
        lines.append(t("methods.elderly", lang, a=p["elderly_min_age"]))
        lines.append(t("methods.infants", lang, r=f"{p['child_woman_ratio']:g}") if "infants" in p["estimated"]
                     else t("methods.infants_band", lang))
        if "total" in p["estimated"]:
            lines.append(t("methods.total", lang, u=f"{p['under20_share']:g}"))
        elif not p.get("total_file"):
            lines.append(t("methods.total_bands", lang))
    lines += [t("methods.ind.cov", lang), t("methods.ind.inside", lang), t("methods.ind.sfca", lang, t=f"{tmax:g}"),
              t("methods.ind.gap", lang), t("methods.ind.worst", lang, t=f"{tmax:g}")]
    sl = p.get("slope")
    if sl:
        cover = p.get("slope_covered_share")
        lines.append(t("methods.slope", lang, dem=sl["dem"], step=f"{sl['step_m']:g}", v=v, k=f"{sl['k']:g}",
                       g0=f"{sl['g0']:g}", k0=f"{sl['k'] * sl['g0']:.3f}", sv=f"{sl['steps_vertical_mps']:g}",
                       out="?" if cover is None else f"{1 - cover:.1%}"))
    if p["profile"] == "walk":
        lines.append(t("methods.speed_band", lang, lo=f"{SPEEDS_MPS[0]:g}", hi=f"{SPEEDS_MPS[-1]:g}"))
    lines.append(t("methods.whatif", lang, t=f"{max(tmax, p['siting_threshold_min']):g}"))
    if p.get("kindergarten_places"):  # the rule of circles/kinds.py, with what it leaves out
        lines.append(t("methods.kg_places", lang, **p["kindergarten_places"]))
    return lines
