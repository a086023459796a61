"""One piece of work beside the main one: a forked child process, or in process when that is not possible.

:func:`beside` runs ``work(note)`` in a child made with ``os.fork`` (multiprocessing's
``fork`` context): the child inherits the caller's memory as it is, so a large
:class:`circles.results.RunResult` is shared, never pickled. ``note(tag)`` lets the child
tell the parent that something is ready (:meth:`Beside.wait_for`), and ``work``'s return
value (small, picklable) comes back through :meth:`Beside.result`.

Decisions:

- In process when fork is not offered (Windows, macOS' default), when only one CPU is ours
  (``os.sched_getaffinity``: a second process would only take turns with the first), inside a
  daemonic worker process (``circles batch``'s Dask workers: they may not have children, and
  the batch already gives each core an area of its own), or when
  the caller asks (``parallel=False``; ``CIRCLES_PARALLEL=0`` in the environment does the
  same for a whole run). ``work`` then runs to the end inside :func:`beside`, before the
  caller goes on, so both paths write the same files in the same folders.
- An error in the child is raised again in the parent as the same exception (class and
  message; a :class:`circles.errors.CirclesError` stays one, so the CLI prints its one line),
  and the child's traceback is logged at debug level. A child that dies without a word (killed,
  out of memory) is a :class:`ChildError` naming its exit code.
- The child's log records are sent to the parent and logged there (the run's one log; no handler
  or console lock of the parent is used in the child).
- The child ends with ``os._exit`` (multiprocessing does that for a forked ``Process``), so it
  runs none of the parent's clean-up: the temporary output folder is the parent's to keep or
  remove.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import traceback
from typing import Any, Callable

from circles.errors import CirclesError

log = logging.getLogger(__name__)


class ChildError(RuntimeError, CirclesError):
    """The child process writing part of the outputs failed or died."""


def usable_cpus() -> int:
    """CPUs this process may run on (``os.sched_getaffinity`` where the platform has it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def may_parallelise() -> bool:
    """Whether this process may spread its own work over more CPUs: not with ``CIRCLES_PARALLEL=0``,
    nor in a daemonic worker (a Dask or pool worker of ``circles batch``, which already gives each
    core an area of its own; a daemonic process may not have children either)."""
    if os.environ.get("CIRCLES_PARALLEL", "").strip() in ("0", "false", "no"):
        return False
    return not multiprocessing.current_process().daemon


def can_fork() -> bool:
    """Whether a child can be forked here and would have a CPU of its own."""
    return may_parallelise() and "fork" in multiprocessing.get_all_start_methods() and usable_cpus() > 1


class _ToParent(logging.Handler):
    """In the child: every log record goes to the parent, which hands it to its own handlers."""

    def __init__(self, conn):
        super().__init__()
        self.conn = conn

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.msg, record.args = record.getMessage(), None  # plain text: nothing left to pickle
            record.exc_info = record.exc_text = None
            self.conn.send(("log", record))
        except Exception:  # a record that cannot be sent is dropped, never the work
            pass


def _log_to_parent(conn) -> None:
    """Replace every logging handler the child inherited by one that sends to the parent: a
    handler's own lock (a rich console's, say) may have been held by another thread of the parent
    at the moment of the fork, and would then never be released in the child."""
    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for h in list(lg.handlers):
            lg.removeHandler(h)
    logging.getLogger().addHandler(_ToParent(conn))


def _child(work: Callable[[Callable[[str], None]], Any], conn) -> None:
    _log_to_parent(conn)
    try:
        value = work(lambda tag: conn.send(("note", tag)))
        conn.send(("done", value))
    except BaseException as exc:  # every failure goes to the parent, which raises it
        tb = traceback.format_exc()
        try:
            payload = pickle.dumps(exc)
        except Exception:  # an exception that does not pickle: its class name and message
            payload = pickle.dumps(ChildError(f"{type(exc).__name__}: {exc}"))
        conn.send(("error", payload, tb))
    finally:
        conn.close()


class Beside:
    """Handle on work running beside the caller (see :func:`beside`)."""

    def __init__(self, name: str):
        self.name = name
        self.notes: set[str] = set()
        self._value: Any = None
        self._done = False
        self._proc = None
        self._conn = None

    def _receive(self) -> None:
        """Take one message from the child (blocks); raise its error or a silent death."""
        try:
            msg = self._conn.recv()
        except EOFError:
            self._proc.join()
            self._done = True
            raise ChildError(f"{self.name}: the child process ended without finishing (exit code "
                             f"{self._proc.exitcode}); run again with CIRCLES_PARALLEL=0 to write it in process") from None
        if msg[0] == "log":
            logging.getLogger(msg[1].name).handle(msg[1])
        elif msg[0] == "note":
            self.notes.add(msg[1])
        elif msg[0] == "done":
            self._value, self._done = msg[1], True
            self._proc.join()
        else:
            self._done = True
            self._proc.join()
            log.debug("%s failed in its child process:\n%s", self.name, msg[2])
            raise pickle.loads(msg[1])

    def wait_for(self, tag: str) -> None:
        """Block until the work has called ``note(tag)`` (or has finished)."""
        while tag not in self.notes and not self._done:
            self._receive()

    def result(self) -> Any:
        """Block until the work has finished; its return value (its exception raised here)."""
        while not self._done:
            self._receive()
        return self._value

    def cancel(self) -> None:
        """Stop the child if it still runs (the caller failed and will not wait for it)."""
        if self._proc is not None and self._proc.is_alive():
            self._proc.terminate()
            self._proc.join()
        self._done = True


def beside(work: Callable[[Callable[[str], None]], Any], *, name: str, parallel: bool = True) -> Beside:
    """Start ``work(note)`` in a forked child (or run it here, see the module notes); returns its handle.

    Example
    -------
    >>> job = beside(lambda note: 6 * 7, name="answer")
    >>> job.result()
    42
    """
    job = Beside(name)
    if parallel and can_fork():
        ctx = multiprocessing.get_context("fork")
        parent_conn, child_conn = ctx.Pipe(duplex=False)
        job._proc = ctx.Process(target=_child, args=(work, child_conn), name=name, daemon=True)
        job._proc.start()
        child_conn.close()
        job._conn = parent_conn
        return job
    job._value = work(job.notes.add)
    job._done = True
    return job
