"""How domain messages name the options of loads: by their parameter names, unless told.

Messages of the loaders (:mod:`geo.io`, :mod:`geo.crs`) point at the option that fixes
a problem (``reject_file``, ``mapping``, ``crs`` …). They name it as
:func:`geo.io.load.load_file` and the HTTP ingest call it; a caller with other
spellings, such as the command line with its flags, names them for the duration of a
call with :func:`spelled`.

Examples
--------
>>> option("reject_file")
'reject_file'
>>> with spelled({"reject_file": "--reject-file"}):
...     option("reject_file")
'--reject-file'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

#: The options messages may point at.
OPTIONS = ("mapping", "crs", "encoding", "on_conflict", "reject_file", "allow_outside")

_SPELLING: ContextVar[Mapping[str, str] | None] = ContextVar("load_option_spelling",
                                                             default=None)


def option(name: str) -> str:
    """How the current caller spells load option ``name``."""
    if name not in OPTIONS:
        raise KeyError(f"no load option {name!r}")
    return (_SPELLING.get() or {}).get(name, name)


@contextmanager
def spelled(names: Mapping[str, str]) -> Iterator[None]:
    """Within the block, messages name the options as ``names`` says (others unchanged)."""
    token = _SPELLING.set(dict(names))
    try:
        yield
    finally:
        _SPELLING.reset(token)
