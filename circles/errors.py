"""One exception family for circles.

Every error a user can cause is a :class:`CirclesError`; subclasses also inherit the
matching built-in so ``except ValueError`` keeps working. Messages say what was found,
where (file, row, column or study key), and how to fix it: the CLI prints them as one
line without a traceback.
"""

from __future__ import annotations


class CirclesError(Exception):
    """Base class of every error circles raises on purpose."""


class StudyError(ValueError, CirclesError):
    """The study file is missing, malformed, or names an unknown key."""


class InputFileError(ValueError, CirclesError):
    """An input file is missing, unreadable, or unusable as a whole."""


class CrsError(ValueError, CirclesError):
    """Data have no CRS, or CRSs are mixed inside one calculation."""


class NetworkError(ValueError, CirclesError):
    """The road network is empty, or has no roads inside the study area."""


class SitingError(ValueError, CirclesError):
    """A siting request cannot be answered (no candidates, nothing to cover...)."""


class OutputError(ValueError, CirclesError):
    """An output folder name or place that circles refuses to write (a path, ``..``, a folder it did not write)."""
