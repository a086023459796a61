"""Hostile strings for the report's text paths (issue 12): each must show as text, none may run.

A payload that runs sets ``window.__pwned``, changes ``document.title`` to ``PWNED`` or opens an
alert (selenium then raises on the next command). Jinja payloads (``{{ 7*191 }}``) would show as
1337 if the page's template engine evaluated them; the text check catches that. No string has
leading/trailing or doubled spaces, so the browser's text equals the string exactly.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

#: a file a template engine would create if it evaluated the payloads below (must never exist)
CANARY = Path(tempfile.gettempdir()) / "circles-template-canary"

#: template-engine and format expressions (issue 19): Jinja/branca evaluate the first five, Python's
#: ``str.format`` / ``%`` the last ones. If any is evaluated the text changes (49, 64, 81 ...), the
#: canary file appears, or the run fails (``UndefinedError``).
TEMPLATE: list[str] = [
    "{{ 7*7 }}",
    "{{ lipsum.__globals__.os.popen('touch " + str(CANARY) + "').read() }}",
    "{{constructor.constructor('window.__pwned=31')()}}",
    "{% for x in range(3) %}{{ x }}{% endfor %}",
    "{# 注释 #}{{ config }}{{ self }}",
    "{0} {1!r} {name.__class__}",
    "%(x)s %s %d",
    "${{ 8*8 }}{{ '{{' }}",
]

HOSTILE: list[str] = [
    "<script>window.__pwned=1;document.title='PWNED'</script>",
    '<img src=x onerror="window.__pwned=2;document.title=\'PWNED\'">',
    "<svg onload=window.__pwned=3>",
    "${window.__pwned=4}",
    "`;window.__pwned=5;`",
    "</script><script>window.__pwned=6</script>",
    '"><img src=x onerror=window.__pwned=7>',
    "'><img src=x onerror=window.__pwned=8>",
    "`><img src=x onerror=window.__pwned=9>",
    "javascript:window.__pwned=10",
    '<a href="javascript:window.__pwned=11">点我</a>',
    "&lt;b&gt;实体&lt;/b&gt; &amp; &#x3C;i&#x3E; &quot;",
    "\u202eevil\u202c 名称 \u2066RTL\u2069",
    "{{ 7*191 }}",
    "{% if true %}JINJA{% endif %}{# c #}",
    '\\"; window.__pwned=16; //',
    "'; window.__pwned=17; //",
    "<!-- <script>window.__pwned=18</script>",
    "]]><![CDATA[<script>window.__pwned=19</script>",
    "line\u2028sep\u2029para",
    '<iframe srcdoc="<script>parent.__pwned=21</script>"></iframe>',
    "<style>body{display:none}</style>",
    "%3Cscript%3Ewindow.__pwned=23%3C/script%3E",
    "\\u003cscript\\u003ewindow.__pwned=24\\u003c/script\\u003e",
    "<details open ontoggle=window.__pwned=25>",
    "<script>alert(26)</script>",
    "\" onmouseover=\"window.__pwned=27\" x=\"",
    "${alert(28)}`${alert(28)}`",
    "\u200b零宽\ufeff<b>粗</b>",
    "</textarea></title></style><img src=x onerror=window.__pwned=30>",
] + TEMPLATE

JOINED = " ¦ ".join(HOSTILE)
"""The whole corpus as one string, for paths with a single slot (study title, preset title)."""


def cycle(n: int) -> list[str]:
    """``n`` strings going through the corpus in turn (every string used once when n >= len)."""
    return [HOSTILE[i % len(HOSTILE)] for i in range(n)]


def _prefix(limit: int = 1000) -> str:
    parts: list[str] = []
    for s in HOSTILE:
        if len(" ¦ ".join(parts + [s])) > limit:
            break
        parts.append(s)
    return " ¦ ".join(parts)


STUDY_TITLE = _prefix()
"""As many corpus strings as a study title holds (study.py accepts text up to 1000 characters)."""
