"""How a command ends: the one place that turns errors into a message line and an exit code.

Example::

    >>> run_command(cmd_seals_list, args, Settings)            # doctest: +SKIP
    seal-service: no instance at /home/me/.seal (no database seal.db): run `seal-service init` here, or set SEAL_HOME
    3

Every refusal is one line on standard error, never a traceback: domain errors (:class:`SealServiceError`) by their
kind, a database that is missing, unreachable or not initialised as a configuration error, a closed output pipe
(``seal-service catalogue --json | head``) as the quiet exit a shell expects. Anything else is a bug: it is reported
in one line that says so, and ``SEAL_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seal_service.errors import (
    AuditLogBroken,
    ConfigurationError,
    KeyUnavailable,
    PolicyError,
    SealServiceError,
)

EXIT_OK, EXIT_INPUT, EXIT_CONFIG = 0, 2, 3
#: ``audit verify`` found the audit log modified, truncated or rewritten.
EXIT_INTEGRITY = 4
#: An error the service did not expect (a bug): one line, and the traceback with ``SEAL_DEBUG=1``.
EXIT_BUG = 70
#: The reader of standard output went away (``| head``): what a shell reports for SIGPIPE.
EXIT_PIPE = 141
#: Interrupted with Ctrl-C.
EXIT_INTERRUPTED = 130

#: Commands that do not need an existing instance (they create one, or touch no database).
NO_INSTANCE_NEEDED = frozenset({"init", "demo-pdf"})
#: Subcommands that do not need one either: a restore goes into an empty instance (it refuses a non-empty one).
NO_INSTANCE_NEEDED_SUB = frozenset({("backup", "restore")})


def _say(message: str) -> None:
    print(f"seal-service: {message}", file=sys.stderr)


def require_instance(settings: Any) -> None:
    """Refuse (``ConfigurationError``) when the default SQLite instance does not exist yet.

    Opening a missing SQLite file would either fail deep in SQLAlchemy or, worse, create an empty database that
    then lacks every table; the operator needs to hear "run init" instead.
    """
    if settings.database_url:
        return
    db = settings.resolved_home / "seal.db"
    if not db.is_file():
        raise ConfigurationError(
            f"no instance at {settings.resolved_home} (no database {db.name}): run `seal-service init` first, "
            "or set SEAL_HOME (or SEAL_DATABASE_URL) to an existing instance"
        )


def _database_problem(exc: BaseException, settings: Any) -> str | None:
    """One line for a database error, or None when ``exc`` is not one."""
    try:
        from sqlalchemy.exc import DBAPIError, NoSuchTableError, OperationalError, ProgrammingError
    except ImportError:  # pragma: no cover - SQLAlchemy is a dependency
        return None
    where = "the database"
    if settings is not None and settings.database_url:
        from sqlalchemy.engine import make_url

        try:
            where = f"the database {make_url(settings.database_url).render_as_string(hide_password=True)}"
        except Exception:  # an unparsable URL: its own error says so
            where = "the database of SEAL_DATABASE_URL"
    elif settings is not None:
        where = f"the database of {settings.resolved_home}"
    text = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, NoSuchTableError) or "no such table" in text or "does not exist" in text:
        return f"{where} is not initialised ({text}): run `seal-service init`"
    if isinstance(exc, OperationalError | ProgrammingError | DBAPIError):
        return f"cannot use {where}: {text}"
    return None


def _quiet_stdout() -> None:
    # Python flushes stdout again at exit; point it at /dev/null so that flush cannot raise a second time.
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _subcommand(args: argparse.Namespace) -> str | None:
    """The second word of the command line (``restore`` of ``backup restore``), if the command has one."""
    command = getattr(args, "command", None)
    value = getattr(args, f"{command}_cmd", None) if command else None
    return value if isinstance(value, str) else None


def run_command(
    func: Callable[[argparse.Namespace, Any], int],
    args: argparse.Namespace,
    settings_factory: Callable[[], Any],
) -> int:
    """Run one subcommand and return its exit code; every failure becomes one line on standard error."""
    settings = None
    try:
        settings = settings_factory()
        command = getattr(args, "command", None)
        if command not in NO_INSTANCE_NEEDED and (command, _subcommand(args)) not in NO_INSTANCE_NEEDED_SUB:
            require_instance(settings)
        code = func(args, settings)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_PIPE
    except (ConfigurationError, KeyUnavailable, PolicyError) as exc:
        _say(f"configuration error: {exc.detail}")
        return EXIT_CONFIG
    except AuditLogBroken as exc:
        # The error's detail repeats its first problem (for the API's one-line problem body); here a count heads
        # the list instead, so that each problem is printed exactly once.
        if not exc.problems:
            _say(exc.detail)
        else:
            _say(f"audit log broken: {len(exc.problems)} problem(s)")
        for problem in exc.problems:
            print(f"  {getattr(problem, 'message', problem)}", file=sys.stderr)
        return EXIT_INTEGRITY
    except SealServiceError as exc:
        where = f" ({exc.field})" if exc.field else ""
        _say(f"{exc.detail}{where}")
        return EXIT_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except ValueError as exc:
        # Pydantic's ValidationError (a ValueError) when SEAL_* settings are malformed.
        if settings is None:
            _say(f"invalid settings: {' '.join(str(exc).split())}")
            return EXIT_CONFIG
        return _unexpected(exc, settings)
    except OSError as exc:
        name = f" {exc.filename}" if exc.filename else ""
        _say(f"cannot use{name}: {exc.strerror or exc}")
        return EXIT_INPUT
    except Exception as exc:
        return _unexpected(exc, settings)


def _unexpected(exc: Exception, settings: Any) -> int:
    database = _database_problem(exc, settings)
    if database is not None:
        _say(database)
        return EXIT_CONFIG
    if os.environ.get("SEAL_DEBUG"):
        traceback.print_exc()
    first = " ".join(str(exc).split())[:300]
    _say(f"internal error {type(exc).__name__}: {first} (a bug; SEAL_DEBUG=1 shows the traceback)")
    return EXIT_BUG


def writable_output(path: Path, *, force: bool) -> Path:
    """Check before any work is done that ``path`` can be written; return the temporary file to write first.

    The temporary file (``OUT.partial``) is created now, so a directory that is missing or read-only is refused
    before a licence is sealed and recorded, not after.
    """
    from seal_service.errors import InvalidInput

    if path.exists() and not force:
        raise InvalidInput(f"{path} exists; pass --force to overwrite it", field="output")
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory; name the file to write", field="output")
    tmp = path.with_name(path.name + ".partial")
    try:
        with tmp.open("wb"):
            pass
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}", field="output") from None
    return tmp


__all__ = [
    "EXIT_BUG",
    "EXIT_CONFIG",
    "EXIT_INPUT",
    "EXIT_INTEGRITY",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PIPE",
    "NO_INSTANCE_NEEDED",
    "require_instance",
    "run_command",
    "writable_output",
]
