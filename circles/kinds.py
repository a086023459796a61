"""The facility vocabulary: kinds, their labels, whom each serves and which capacity it counts.

A gazetteer's kind cell (Chinese or English) is matched to one :class:`Kind` by
:func:`normalise_kind`; what the kind's capacity column *means* for the plans' indicators is
fixed here, in one place, as the plans count it:

- 养老床位 per 1,000 elderly (GB 50437-2007 (2018) 城镇老年人设施规划规范): beds in 养老院 and
  老年养护院, the institutions. Only ``nursing_home`` beds count (``counts_as = "beds"``).
  Day-care centres' and comprehensive centres' places are day places (``"daycare_places"``),
  reported as their own figure, never added to beds.
- 每千人口拥有3岁以下婴幼儿托位数 (all five plans): places for children under 3. Nurseries
  count their 托位 (``"slots"``). "Kindergarten places for ages 3-6 (幼儿园学位) are not 托位;
  a kindergarten's nursery classes for 2-3-year-olds (托班) are": a kindergarten counts for
  infants only through a 托班 column (``nursery_class_slots``); without one it takes no
  under-3s and serves neither the infant coverage nor the slot ratios.
- Meal points (助餐点) carry no capacity that any plan ratio counts; they are counted
  (``n_meal_points_inside``: 邵阳 [003] "300 meal points (助餐点) by 2025").

Not every "福利院" is for the elderly: 儿童福利院 (a children's welfare home) is refused
with its own reason rather than read as a nursing home (:data:`NOT_FACILITIES`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Kind:
    """One facility kind of the vocabulary."""

    key: str
    zh: str
    en: str
    serves: str  # "elderly" or "infants"
    capacity: str  # unit word of its capacity column: "beds" or "slots"
    aliases: tuple[str, ...]
    counts_as: str | None = None  # "beds" (institutional), "daycare_places", "slots" (under 3) or None


#: The facility vocabulary. ``aliases`` are matched as substrings of the kind cell,
#: longest first, so "社区日间照料中心" is a day-care centre and "养老院" a nursing home.
KINDS: dict[str, Kind] = {
    k.key: k
    for k in [
        Kind("daycare", "日间照料中心", "Elderly day-care centre", "elderly", "beds",
             ("daycare", "day-care", "day care", "日间照料", "日照中心", "托老所", "日间照料中心"),
             counts_as="daycare_places"),
        Kind("nursing_home", "养老院", "Nursing home", "elderly", "beds",
             ("nursing_home", "nursing home", "care home", "养老院", "护理院", "敬老院", "养护院",
              "社会福利院", "老年福利院", "养老机构", "老年公寓"),
             counts_as="beds"),
        Kind("elderly_centre", "综合养老服务中心", "Comprehensive elderly service centre", "elderly", "beds",
             ("elderly_centre", "elderly service centre", "elderly service center", "综合养老服务中心",
              "养老服务中心", "养老服务站", "居家养老服务"),
             counts_as="daycare_places"),
        Kind("meal_point", "助餐点", "Elderly meal point", "elderly", "beds",
             ("meal_point", "meal point", "助餐点", "老年食堂", "长者食堂", "助餐"),
             counts_as=None),
        Kind("nursery", "托育机构", "Nursery (under 3)", "infants", "slots",
             ("nursery", "childcare", "托育", "托儿所", "托育机构", "托育中心", "早教托育"),
             counts_as="slots"),
        Kind("kindergarten", "幼儿园", "Kindergarten", "infants", "slots",
             ("kindergarten", "幼儿园"),
             counts_as="slots"),  # only its 托班 places (nursery_class_slots), see the module docstring
    ]
}

#: Kind cells that look like a kind of the vocabulary but are not one, with the reason shown
#: in the rejects table.
NOT_FACILITIES: dict[str, str] = {
    "儿童福利院": "儿童福利院 is a children's welfare home, not an elderly or under-3 facility",
    "children's welfare": "a children's welfare home is not an elderly or under-3 facility",
}


def normalise_kind(value) -> str | None:
    """Map a kind cell (Chinese or English) to a :data:`KINDS` key, or None if unknown."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip().lower()
    if text in KINDS:
        return text
    if not_facility(text):
        return None
    best, best_len = None, 0
    for kind in KINDS.values():
        for alias in kind.aliases:
            if alias.lower() in text and len(alias) > best_len:
                best, best_len = kind.key, len(alias)
    return best


def not_facility(value) -> str | None:
    """The reason a kind cell names something outside the vocabulary (e.g. 儿童福利院), else None."""
    text = str(value).strip().lower()
    for word, reason in NOT_FACILITIES.items():
        if word in text:
            return reason
    return None


def kinds_serving(group: str) -> list[str]:
    """Facility kinds (vocabulary keys) that serve ``group`` (``"elderly"`` or ``"infants"``)."""
    return [k for k, v in KINDS.items() if v.serves == group]


def counts_as(kind: str) -> str:
    """What a facility of ``kind`` counts towards: "beds", "daycare_places", "slots" or "none"
    (the same rule for existing facilities, suggested sites and the page's what-if)."""
    return KINDS[kind].counts_as or "none"


def in_order(kinds) -> tuple[str, ...]:
    """The distinct kinds of ``kinds`` (any iterable of kind names) in vocabulary order (:data:`KINDS`)."""
    have = set(kinds)
    return tuple(k for k in KINDS if k in have)


def kinds_present(facilities) -> list[str]:
    """Kinds (vocabulary order) with at least one facility that serves a group (a kindergarten without
    托班 places serves no one: see the module docstring)."""
    kind, serves = facilities["kind"], facilities["serves"]
    return [k for k in KINDS if ((kind == k) & (serves != "")).any()]
