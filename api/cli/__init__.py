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
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        if isinstance(exc, click.ClickException):
            print(f"onemap: error: {exc.format_message()}", file=sys.stderr)
            sys.exit(exc.exit_code or 2)
        print(f"onemap: error: {unexpected(exc)}", file=sys.stderr)
        sys.exit(1)
    sys.exit(rc if isinstance(rc, int) else 0)


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
