"""Keys never reach a log, the audit table or a document we hand out.

A key arrives in ``Authorization: Bearer`` or, for GET, in ``?access_token=``
(``api.auth.presented_key``). The query string is what other code copies around:
uvicorn's access log prints it, the audit log stores it, TileJSON and OGC links
carry it on. :func:`redact_query` is the one way to copy it; :class:`RedactSecrets`
scrubs log records (installed on uvicorn's loggers by :func:`install_log_redaction`).

Examples
--------
>>> redact_query("from=-P7D&access_token=om_0123456789ab_s3cret-s3cret-s3cret")
'from=-P7D&access_token=%5Bredacted%5D'
>>> redact_query("access_token=x&layers=cameras", drop=True)
'layers=cameras'
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode

from geo.keys import REDACTED, redact

TOKEN_PARAMS = frozenset({"access_token", "api_key"})
_FORMATTER = logging.Formatter()
LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn", "onemap")


def redact_query(query: str, drop: bool = False) -> str:
    """A query string with key-bearing parameters redacted (or dropped with ``drop``)."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(k.lower() in TOKEN_PARAMS for k, _ in pairs):
        return redact(query)
    kept = [(k, v) for k, v in pairs if not (drop and k.lower() in TOKEN_PARAMS)]
    return redact(urlencode([(k, REDACTED if k.lower() in TOKEN_PARAMS else v)
                             for k, v in kept]))


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and arguments without the secrets in them."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        if isinstance(record.msg, str):
            record.msg = _clean(record.msg)
        if record.exc_info and not record.exc_text:  # a traceback, formatted once, redacted
            record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
        return True


def _clean(value):
    if not isinstance(value, str):
        return value
    path, sep, query = value.partition("?")
    if sep:
        return redact(path) + sep + redact_query(query)
    return redact(value)


def install_log_redaction() -> None:
    """Put :class:`RedactSecrets` on uvicorn's and onemap's loggers and handlers (once).

    A logger's filter sees only records made on that logger; its handlers' filters see
    the records of every child logger too (``onemap.auth`` …), so both get one.
    """
    targets: list[logging.Filterer] = [logging.lastResort] if logging.lastResort else []
    for name in (*LOGGERS, None):
        logger = logging.getLogger(name)
        targets += [logger, *logger.handlers]
    for target in targets:
        if not any(isinstance(f, RedactSecrets) for f in target.filters):
            target.addFilter(RedactSecrets())
