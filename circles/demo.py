"""The embedded demo study (Hankou core, Wuhan), wherever circles is installed.

``data/demo`` in the repository is the demo's one canonical folder. It is shipped as the
package ``circles.demo_data`` (``pyproject.toml``: ``package-dir`` maps it to ``data/demo``),
so a plain ``pip install .`` carries it and ``circles run`` works from any folder.

Lookup order (:func:`demo_folder`):

1. the installed package ``circles.demo_data`` (a wheel install, or an editable install,
   whose finder maps the name to ``data/demo``), found with :mod:`importlib.resources`;
2. ``data/demo`` beside the ``circles`` package of a source checkout (``PYTHONPATH`` on a
   clone, where no install maps the name).

A wheel is installed unzipped, so the resource is a real folder and the study's relative
paths (``roads.osm.pbf``, ``pop/``) resolve as written. :func:`copy_demo` copies the files out
as a template for a bureau's own study (``circles demo DIR``).
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from circles.errors import OutputError, StudyError

#: the package the demo is shipped as (pyproject.toml ``package-dir``)
DEMO_PACKAGE = "circles.demo_data"
#: the study file inside the demo folder
DEMO_STUDY = "study.toml"


def demo_folder() -> Path:
    """The folder holding the demo study's files.

    Raises
    ------
    circles.errors.StudyError
        Neither the installed package nor a source checkout holds the demo.
    """
    try:
        root = resources.files(DEMO_PACKAGE)
    except ModuleNotFoundError:
        root = None
    # the demo folder has no __init__.py: a namespace package, whose files() is a MultiplexedPath;
    # its joinpath() gives a real file-system path
    study = root.joinpath(DEMO_STUDY) if root is not None else None
    if study is not None and study.is_file():
        return Path(str(study)).parent
    checkout = Path(__file__).resolve().parents[1] / "data" / "demo"
    if (checkout / DEMO_STUDY).is_file():
        return checkout
    raise StudyError(f"the demo study was not found (neither the package {DEMO_PACKAGE} nor data/demo/{DEMO_STUDY} "
                     "beside the source); reinstall circles (pip install .) or give a study file: "
                     "circles run path/to/study.toml")


def demo_study_path() -> Path:
    """The demo's ``study.toml`` (see :func:`demo_folder`)."""
    return demo_folder() / DEMO_STUDY


def demo_files() -> list[Path]:
    """The demo's files, relative to its folder, sorted (caches and hidden files left out)."""
    root = demo_folder()
    return sorted(p.relative_to(root) for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith((".", "__")) for part in p.relative_to(root).parts))


def copy_demo(dest: str | Path) -> list[Path]:
    """Copy the demo's files into ``dest`` (created; must be missing or empty) as a template.

    Returns the files written. Raises :class:`circles.errors.OutputError` when ``dest`` is a
    file or a folder that is not empty (nothing is overwritten).
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise OutputError(f"{dest}: not an empty folder; give a new or empty folder for the demo's files "
                          "(nothing was copied)")
    root = demo_folder()
    written = []
    for rel in demo_files():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, dest / rel)
        written.append(dest / rel)
    return written
