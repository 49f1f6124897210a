"""Compression of answers: zstd, br and gzip bytes, at fast levels, for every large answer.

Tiles are gzipped once per cache entry (:func:`gzip_bytes`); a hotspot answer
for a city is megabytes of GeoJSON compressed anew for every new filter, so the
coding's speed matters as much as its ratio, on both ends. On the 8.8 MB
FeatureCollection of 22,649 res-9 cells: zstd level 1 takes 14 ms for 1.0 MB
and decodes in 4 ms; gzip level 1 with ISA-L 11 ms for 1.3 MB, but inflating
takes 14 ms (zlib's own level 1: 39 ms for 1.4 MB); brotli level 1 about 20 ms
for 1.1 MB. zstd and brotli come from pyarrow, gzip from ISA-L (``isal``, zlib
when it is missing). Which coding a client gets is decided at the HTTP edge
(:func:`api.codings.negotiate`); here are only the bytes.

Frames stay within the 8 MiB window RFC 9659 allows decoders to demand:
level 1 uses a 512 KiB window on large bodies, and smaller bodies are within
it anyway.
"""

from __future__ import annotations

import gzip
from functools import cache

# In order of preference: fastest to encode and decode first.
CODINGS = ("zstd", "br", "gzip")
LEVELS = {"zstd": 1, "br": 1, "gzip": 1}


@cache
def _codec(coding: str):
    import pyarrow as pa

    name = {"zstd": "zstd", "br": "brotli"}[coding]
    return pa.Codec(name, compression_level=LEVELS[coding])


@cache
def _isal_gzip():
    """ISA-L's gzip module (several times zlib's speed at levels 0-3, same size), or None."""
    try:
        from isal import igzip
    except ImportError:  # pragma: no cover - isal is a dependency; zlib still works
        return None
    return igzip


def gzip_bytes(data: bytes, level: int = LEVELS["gzip"]) -> bytes:
    """Gzip of ``data`` without a timestamp (equal input, equal bytes): ISA-L up to level 3.

    Examples
    --------
    >>> import zlib
    >>> zlib.decompress(gzip_bytes(b"tile", 6), 31), gzip_bytes(b"x") == gzip_bytes(b"x")
    (b'tile', True)
    """
    fast = _isal_gzip()
    if fast is not None and level <= 3:
        return fast.compress(data, compresslevel=level, mtime=0)
    return gzip.compress(data, compresslevel=level, mtime=0)


@cache
def available(coding: str) -> bool:
    """Whether this process can produce ``coding``."""
    if coding == "gzip":
        return True
    if coding not in CODINGS:
        return False
    import pyarrow as pa

    return pa.Codec.is_available({"zstd": "zstd", "br": "brotli"}[coding])


def compress(body: bytes, coding: str) -> bytes:
    """``body`` in content coding ``coding`` (``zstd``, ``br`` or ``gzip``).

    Examples
    --------
    >>> import zlib
    >>> zlib.decompress(compress(b'{"a":1}', "gzip"), 31)
    b'{"a":1}'
    """
    if coding == "gzip":
        return gzip_bytes(body)
    if coding not in CODINGS:
        raise ValueError(f"unknown content coding {coding!r}")
    return _codec(coding).compress(body, asbytes=True)
