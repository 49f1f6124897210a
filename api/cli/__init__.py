"""The ``onemap`` command line. Each area has its own module with a Typer app."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Entry point: run the CLI; domain errors print one line and exit non-zero."""
    from api.cli.root import build
    from geo.errors import OnemapError
    from geo.settings_base import renamed_variables

    app = build()
    for message in renamed_variables(os.environ):
        print(f"onemap: warning: {message}", file=sys.stderr)
    try:
        rc = app(standalone_mode=False)
    except OnemapError as exc:
        print(f"onemap: error: {exc.detail}", file=sys.stderr)
        sys.exit(2)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("onemap: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # usage errors and the like
        code = _parser_failure(exc)
        if code is None:
            print(f"onemap: error: {unexpected(exc)}", file=sys.stderr)
            code = 1
        sys.exit(code)
    sys.exit(rc if isinstance(rc, int) else 0)


def _parser_failure(exc: BaseException) -> int | None:
    """Report a failure of the command-line parser itself; its exit code, or None if not one.

    Typer carries its own copy of click's exceptions (``typer._click``), so both click's
    and Typer's classes are recognised: a missing command shows the help, a wrong one
    says so in one line, Ctrl-C at a prompt exits 1.
    """
    import click
    import typer
    from typer.exceptions import TyperException

    if isinstance(exc, (click.exceptions.Abort, typer.Abort)):
        return 1
    if type(exc).__name__ == "NoArgsIsHelpError" and getattr(exc, "ctx", None) is not None:
        help_text = exc.ctx.get_help()  # Typer prints its rich help itself and returns ""
        if help_text:
            print(help_text)
        return 2
    if isinstance(exc, (click.ClickException, TyperException)) and hasattr(exc, "format_message"):
        print(f"onemap: error: {exc.format_message()}", file=sys.stderr)
        return getattr(exc, "exit_code", None) or 2
    return None


def unexpected(exc: BaseException) -> str:
    """One line for a failure nobody foresaw; its traceback goes to a file it names.

    Examples
    --------
    >>> line = unexpected(TypeError("bad value"))
    >>> line.startswith("unexpected TypeError: bad value (traceback in ")
    True
    """
    import tempfile
    import traceback

    first = (str(exc).strip().splitlines() or [""])[0][:200]
    with tempfile.NamedTemporaryFile("w", prefix="onemap-error-", suffix=".txt",
                                     delete=False) as out:
        traceback.print_exception(exc, file=out)
    return f"unexpected {type(exc).__name__}: {first} (traceback in {out.name})"
