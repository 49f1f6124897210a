"""Content negotiation: which coding of :mod:`geo.codings` a client's ``Accept-Encoding`` gets.

Browsers send ``zstd`` and ``br`` in ``Accept-Encoding`` over HTTPS; other clients
get gzip or the plain body.
"""

from __future__ import annotations

from geo.codings import CODINGS, available


def negotiate(accept_encoding: str) -> str | None:
    """The preferred coding the client accepts (None: send the body as it is).

    Follows RFC 9110 §12.5.3: a coding is acceptable when listed (or matched by
    ``*``) with a q-value above 0; among acceptable codings the server's order
    of preference decides.

    Examples
    --------
    >>> negotiate("gzip, deflate, br, zstd")
    'zstd'
    >>> negotiate("gzip, zstd;q=0")
    'gzip'
    >>> negotiate("identity") is None
    True
    """
    weights: dict[str, float] = {}
    for item in accept_encoding.lower().split(","):
        name, _, params = item.partition(";")
        name = name.strip()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[name] = q
    for coding in CODINGS:
        if weights.get(coding, weights.get("*", 0.0)) > 0 and available(coding):
            return coding
    return None
