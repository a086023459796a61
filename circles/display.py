"""How anything reaches the page: inert JSON blocks, literal HTML, display coordinates, colours.

One leaf module for the report side (``circles.report``, ``circles.panels``): nothing here knows
about a run. The rule it enforces: **no string from the data ever passes through a template
engine**. folium and branca render every element through Jinja2, unsandboxed; a community name
``{{ lipsum.__globals__.os.popen('…').read() }}`` handed to ``folium.Element`` runs a shell
command on the machine that builds the report. So:

- data goes into the page only as JSON in an inert ``<script type="application/json">`` element
  (:func:`safe_json`, :func:`data_script`), read by the page's scripts and set with ``textContent``;
- literal HTML or script text (our own, already escaped) goes in as :class:`RawHTML`, whose
  ``render`` returns the text unchanged: no Jinja ever sees it.

``tests/test_template_injection.py`` checks both by inspecting every ``Element`` use in
``circles/`` and by running the pipeline with template expressions in every text path.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
from decimal import ROUND_HALF_UP, Decimal

import geopandas as gpd
import numpy as np
import shapely
from branca.element import Element

from circles.chinacoords import wgs84_to_gcj02

#: one colour per facility kind, for the page, the legend and the print figures
KIND_COLOURS = {"daycare": "#d95f02", "nursing_home": "#7570b3", "elderly_centre": "#e7298a",
                "meal_point": "#a6761d", "nursery": "#1b9e77", "kindergarten": "#66a61e"}


class RawHTML(Element):
    """Literal HTML or script text added to a folium figure without any template rendering.

    folium's ``Element(text)`` keeps ``text`` as a Jinja2 template and renders it (``{{ }}`` and
    ``{% %}`` in a name would be evaluated); this element's :meth:`render` returns the text as it is.
    Only the project's own, already escaped HTML belongs here; data goes in as JSON
    (:func:`data_script`).
    """

    def __init__(self, text: str):
        super().__init__()
        self.text = str(text)

    def render(self, **kwargs) -> str:  # noqa: D401  (branca's signature)
        return self.text


#: a text cell starting with one of these is read as a formula by spreadsheet programs: the CSV/xlsx
#: guard (:func:`circles.export.inert_csv`, planner.js' CSV export) puts ``'`` before it, and
#: :func:`circles.chosen.read_chosen_sites` takes that ``'`` off again
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def json_default(x):
    """``json.dumps`` fallback for numpy scalars (non-finite floats become ``null``)."""
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return str(x)


def json_in_html(text: str) -> str:
    """JSON text that cannot end its ``<script>`` element or open a comment: ``<``, ``>``, ``&`` and
    the two JavaScript line separators as ``\\u`` escapes."""
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def safe_json(obj) -> str:
    """``obj`` as JSON safe to place inside a ``<script>`` element, whatever strings it holds."""
    return json_in_html(json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                                   default=json_default))


#: a JSON blob longer than this many characters is stored gzip-compressed (base64) in the page and
#: inflated by the browser (DecompressionStream: Chrome 80, Firefox 113, Safari 16.4); at city scale
#: this takes the page from ~15 MB to ~6 MB. Smaller pages (the demo) keep plain, synchronous JSON.
GZIP_ABOVE_CHARS = 2_000_000

#: JavaScript: ``circlesBlob(id, then)`` calls ``then(text)`` with a blob's JSON text, plain or inflated
BLOB_JS = """window.circlesBlob = window.circlesBlob || function (id, then) {
  var el = document.getElementById(id);
  if (el.getAttribute("data-encoding") !== "gzip-base64") { then(el.textContent); return; }
  var s = atob(el.textContent), b = new Uint8Array(s.length);
  for (var i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  new Response(new Blob([b]).stream().pipeThrough(new DecompressionStream("gzip"))).text().then(then);
};"""


#: Base85 digits for :func:`base85_text`: RFC 1924's alphabet (Python's ``base64.b85encode``) with
#: ``<`` written as ``.`` (a character RFC 1924 does not use), so no text can end its ``<script>``
#: element or open a comment; ``report.js`` (``circlesPayload``) reads it back
B85_DIGITS = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;.=>?@^_`{|}~"


def base85_text(data: bytes) -> str:
    """``data`` as base85 text (5 characters per 4 bytes; base64 takes 5.33): what
    ``base64.b85encode(data)`` writes, ``<`` read as ``.`` (:data:`B85_DIGITS`), computed with numpy
    (the standard library's encoder loops in Python: seconds for a city page's 6 MB block)."""
    pad = -len(data) % 4
    words = np.frombuffer(data + b"\0" * pad, dtype=">u4").astype(np.int64)
    digits = np.empty((len(words), 5), np.uint8)
    for k in range(4, -1, -1):
        words, digits[:, k] = np.divmod(words, 85)
    out = np.frombuffer(B85_DIGITS, np.uint8)[digits].tobytes()
    return (out[:-pad] if pad else out).decode("ascii")


def data_script(element_id: str, json_text: str, *, gzip_above: int = GZIP_ABOVE_CHARS) -> str:
    """An inert ``<script>`` element holding a JSON blob: plain, or gzip + base64 past
    ``gzip_above`` characters (base64 has no character that can end the element).

    ``json_text`` must already be safe for HTML (:func:`safe_json` / :func:`json_in_html`)."""
    if len(json_text) <= gzip_above:
        return f'<script type="application/json" id="{element_id}">{json_text}</script>'
    packed = base64.b64encode(gzip.compress(json_text.encode("utf-8"), 6, mtime=0)).decode("ascii")
    return f'<script type="text/plain" id="{element_id}" data-encoding="gzip-base64">{packed}</script>'


def to_display(gdf: gpd.GeoDataFrame, gcj02: bool = False) -> gpd.GeoDataFrame:
    """WGS84 (or GCJ-02 for Chinese tiles) lon/lat to 1e-6 degree (about 0.1 m), for the page."""
    out = gdf.to_crs(4326)
    geoms = out.geometry.values
    if gcj02:
        geoms = shapely.transform(geoms, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    return out.set_geometry(shapely.transform(geoms, lambda xy: xy.round(6)), crs=4326)


#: decimals a share or per-1,000 figure is held to before it is shown (as ``summary.json`` stores it)
HELD_DECIMALS = 4


def fixed(x, nd: int, *, shift: int = 0) -> str:
    """``x × 10**shift`` with ``nd`` decimals, half away from zero, on ``x``'s shortest decimal form.

    The one rounding rule of every figure shown in two places (summary panel, what-if table, tables,
    CLI). ``f"{x:.1f}"`` and JavaScript's ``toFixed`` round the binary value (0.2475 × 100 is
    24.749999…, so "24.7"), and the summary was rounded twice (to 4 decimals in ``summary.json``,
    then to 1 for the page) while the what-if rounded once: the same share read 24.8 % in one place
    and 24.7 % in the other. Here the digits are those of ``repr(x)`` (the shortest decimal that
    reads back as ``x``, the same digits as JavaScript's ``Number.prototype.toExponential()``), the
    shift is exact, and a 5 rounds away from zero; ``circlesFixed`` in ``assets/whatif.js`` is the
    same function for the page (``tests/test_trust.py`` checks both on the same values).
    """
    d = Decimal(repr(float(x))).scaleb(shift).quantize(Decimal(1).scaleb(-nd), rounding=ROUND_HALF_UP)
    text = format(d, "f")
    return text.lstrip("-") if d == 0 else text


def held(x) -> float | None:
    """A share or ratio as held for display and ``summary.json``: :data:`HELD_DECIMALS` decimals, by :func:`fixed`."""
    if x is None or not math.isfinite(float(x)):
        return None
    return float(fixed(x, HELD_DECIMALS))


def fmt_pct(x, nd: int = 1) -> str:
    """A share as a percentage (``0.2475 -> "24.8%"``): held to 4 decimals, then shown with ``nd``; "–" for none."""
    h = held(x) if x is not None else None
    return "–" if h is None else fixed(h, nd, shift=2) + "%"


def fmt_measured(x, indicator: str) -> str:
    """An indicator's value as the page shows it: a share as a percentage, a per-1,000 ratio with 2 decimals."""
    h = held(x) if x is not None else None
    if h is None:
        return "–"
    if indicator.endswith("_total") and "per_1000" not in indicator:  # a count (circles/targets.py: total = true)
        return f"{int(fixed(h, 0)):,}"
    return fmt_pct(h) if h <= 1.0 and "per_1000" not in indicator else fixed(h, 2)


# --------------------------------------------------------------------------- the what-if payload's arrays
def encode_array(a: np.ndarray, dtype) -> str:
    """``a`` as the payload stores an array: base64 of its little-endian ``dtype`` bytes (``"i4"``,
    ``"u2"``, ``"f4"`` or a numpy type). :func:`decode_array` reads it back."""
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).decode()


def decode_array(b64: str, dtype) -> np.ndarray:
    """One array of the payload (:func:`encode_array`'s text) as a read-only little-endian ``dtype`` array.

    The one reader of the payload's arrays, for :func:`circles.whatif.evaluate`, :mod:`circles.chosen`, the
    CLI and the page's binary block (:mod:`circles.report`): a display leaf, so the report side reads the
    payload without importing the what-if stage."""
    return np.frombuffer(base64.b64decode(b64), dtype=np.dtype(dtype).newbyteorder("<"))
