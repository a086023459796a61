"""Writing outputs safely: a run's folder appears whole or not at all, and never anywhere else.

Rules (issue "hostile data and careless hands"):

- An output folder's name (``study.name``, the last part of ``--out``, a batch or batch
  area name) is a plain folder name: not empty, not ``.`` or ``..``, no ``/`` or ``\\``,
  not starting with ``.``, not absolute (:func:`check_folder_name`).
- circles marks every folder it writes with a small JSON file, ``.circles-output``
  (:data:`MARKER`). A run only ever *replaces* a folder holding that marker (or an empty
  folder, or, for results written before markers existed, a folder holding nothing but
  circles' own output files). Any other existing folder or file of that name is refused with one line and
  nothing is deleted. The current directory, the home directory, the filesystem root and
  any folder above the current directory are never replaced.
- The new results are written into ``.<name>.partial-<random>`` beside the final folder and
  renamed into place; the previous results are renamed to ``.<name>.old-<pid>`` first and
  deleted after. A run killed at any moment therefore leaves either the previous results
  or the new ones, plus at most a leftover ``.partial-``/``.old-`` folder, which the next
  run of that name removes (only when it carries the marker and its writer is gone).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from circles.errors import OutputError

MARKER = ".circles-output"

# files circles writes into a run folder (used only to recognise results written before markers existed)
KNOWN_OUTPUTS = {
    "report.html", "coverage.gpkg", "units.csv", "districts.csv", "targets.csv", "rejects.csv", "units.xlsx",
    "summary.json", "coverage_curve.png", "units_left_out.png", "map_elderly_15min.png", "map_infants_15min.png",
    "done.json",
}


def folder_name_problem(name) -> str | None:
    """None if ``name`` is a plain folder name, else what is wrong with it and the fix (one line)."""
    fix = "use a plain folder name such as \"my-district\" (letters, digits, - or _; no path)"
    if not isinstance(name, str):
        return f"must be a text folder name; {fix}"
    if name.strip() == "":
        return f"is empty, but it names the output folder; {fix}"
    if name in (".", ".."):
        return f"names an existing folder itself, not a new output folder; {fix}"
    if "/" in name or "\\" in name or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
        return f"is a path, not a folder name; {fix}"
    if name.startswith("."):
        return f"starts with '.', which circles keeps for its temporary folders; {fix}"
    if name != name.strip() or any(ord(c) < 32 for c in name):
        return f"has leading/trailing spaces or control characters; {fix}"
    if len(name.encode("utf-8")) > 200:
        return f"is too long for a folder name; {fix}"
    return None


def check_folder_name(name, what: str) -> str:
    """Return ``name`` if it is a plain folder name, else raise :class:`OutputError` naming ``what``.

    >>> check_folder_name("hankou-demo", "study.name")
    'hankou-demo'
    """
    problem = folder_name_problem(name)
    if problem:
        shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
        raise OutputError(f"{what} = {shown}: {problem}")
    return name


def is_circles_folder(folder: Path) -> bool:
    """True if ``folder`` is a folder circles wrote (it holds the marker, or only circles' own outputs)."""
    folder = Path(folder)
    if not folder.is_dir() or folder.is_symlink():
        return False
    if (folder / MARKER).is_file():
        try:
            return json.loads((folder / MARKER).read_text(encoding="utf-8")).get("tool") == "circles"
        except (OSError, ValueError, AttributeError):
            return False
    entries = list(folder.iterdir())
    if not entries or not (folder / "summary.json").is_file():
        return False
    return all(e.is_file() and (e.name in KNOWN_OUTPUTS or (e.name.startswith("map_") and e.name.endswith(".png")))
               for e in entries)


def _forbidden(final: Path) -> str | None:
    cwd = Path.cwd().resolve()
    if final == cwd or final in cwd.parents:
        return "is the current folder or one above it"
    if final == Path.home().resolve() or final.parent == final:
        return "is the home folder or the filesystem root"
    return None


def _empty_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def check_output_folder(final: Path, what: str = "output folder") -> Path:
    """Refuse (one line, nothing touched) a folder circles must not replace; return it resolved."""
    final = Path(final)
    check_folder_name(final.name, f"{what} {str(final)!r}: the folder name")
    resolved = final.resolve()
    why = _forbidden(resolved)
    if why:
        raise OutputError(f"{what} {str(final)!r} {why}; give a new folder, e.g. maps/my-district")
    if resolved.is_symlink() or final.is_symlink():
        raise OutputError(f"{what} {str(final)!r} is a symbolic link; circles replaces only folders it wrote; "
                          "give another name or remove the link")
    if final.exists() and not is_circles_folder(final) and not _empty_folder(final):
        kind = "a file" if not final.is_dir() else "a folder circles did not write (no .circles-output marker)"
        raise OutputError(f"{what} {str(final)!r} already exists and is {kind}; nothing was changed: give another "
                          "study.name / --out, or move it away")
    return resolved


def write_marker(folder: Path, **info) -> None:
    """Write the ``.circles-output`` marker into ``folder``."""
    from circles import __version__

    data = {"tool": "circles", "version": __version__, "pid": os.getpid(), "host": socket.gethostname(),
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **info}
    (Path(folder) / MARKER).write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")


def _pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _writer_alive(folder: Path) -> bool:
    """Is the process that made this leftover folder still running (so it is not a leftover yet)?

    ``.partial-*``: the writer named in its marker; ``.old-<pid>``: the run that moved it aside.
    """
    if ".old-" in folder.name:
        tail = folder.name.rsplit("-", 1)[-1]
        return _pid_alive(int(tail)) if tail.isdigit() else False
    try:
        info = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return info.get("host") == socket.gethostname() and _pid_alive(info.get("pid"))


def clean_leftovers(final: Path) -> list[Path]:
    """Remove ``.<name>.partial-*`` / ``.<name>.old-*`` folders a killed run left beside ``final``.

    Only folders that carry the marker (or are empty) and whose writing process is gone are
    removed; returns the removed paths. If ``final`` itself is missing (a run killed between
    its two renames), the previous results are first moved back from ``.<name>.old-*``.
    """
    final = Path(final)
    removed = []
    if not final.parent.is_dir():
        return removed
    if not final.exists():  # killed between its two renames: the previous results are in .old-*; put them back
        olds = sorted((p for p in final.parent.glob(f".{final.name}.old-*") if (p / MARKER).is_file()),
                      key=lambda p: p.stat().st_mtime)
        if olds:
            os.replace(olds[-1], final)
    for pattern in (f".{final.name}.partial-*", f".{final.name}.old-*"):
        for p in final.parent.glob(pattern):
            if not p.is_dir() or p.is_symlink():
                continue
            if (p / MARKER).is_file() and not _writer_alive(p):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
            elif not any(p.iterdir()):
                with contextlib.suppress(OSError):
                    p.rmdir()
                    removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_folder(final: Path, **marker_info):
    """Yield a temporary folder beside ``final``; on success it replaces ``final`` in one rename.

    ``final`` is checked first (:func:`check_output_folder`): a plain name, and either new
    or a folder circles wrote. On any error the temporary folder is removed and ``final``
    (if it existed) is untouched. The marker is written into the new folder.
    """
    final = Path(final)
    check_output_folder(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; outputs are meant to be shared
    try:
        write_marker(tmp, name=final.name, **marker_info)
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        check_output_folder(final)  # still ours (it may have changed while we computed)
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def replace_files(folder: Path, write) -> list[Path]:
    """Rewrite some files of an existing circles folder: ``write(tmp)`` fills a temporary folder
    inside ``folder``, then each file is moved over its old version with ``os.replace``.

    Each file is replaced atomically (a reader sees the old or the new file, never half of
    one); returns the final paths. ``folder`` must be a folder circles wrote.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise OutputError(f"{folder}: no such output folder; run `circles run` first (or give --out)")
    if not is_circles_folder(folder):
        raise OutputError(f"{folder}: not a folder circles wrote (no .circles-output marker); nothing was changed")
    clean_leftovers(folder / "report")
    tmp = Path(tempfile.mkdtemp(prefix=".report.partial-", dir=folder))
    try:
        write_marker(tmp, name="report")
        write(tmp)
        out = []
        for f in sorted(tmp.iterdir()):
            if f.name == MARKER or not f.is_file():
                continue
            os.replace(f, folder / f.name)
            out.append(folder / f.name)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write a text file through a temporary file and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding) as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
