"""GeoJSON FeatureCollection bytes of study cells, written without a Python step per cell.

A feature is its study's pre-serialised head (type, id, geometry and the
``"h3"`` property, see ``Study.heads``) followed by one *piece* per remaining
property and the closing ``}}``. A column of pieces is made at C speed: orjson writes the whole
numeric array, and ``bytes.replace``/``split`` turn that into one
``,"key":value`` piece per cell; small code tables (bins, classes,
categories) are rendered once per code and picked by index. The body is then
a single ``b"".join`` of heads and pieces interleaved by list slicing.
"""

from __future__ import annotations

import numpy as np
import orjson

_CUT = b"\x00"  # never in JSON text of numbers or of our names (orjson escapes controls)


def _key(name: str) -> bytes:
    return b',"%s":' % name.encode()


def number_pieces(name: str, values: np.ndarray) -> list[bytes]:
    """``,"name":<value>`` per value.

    orjson writes integers as such, floats as their shortest round-trip text and
    non-finite floats as null.

    Examples
    --------
    >>> number_pieces("n", np.array([1, 20]))
    [b',"n":1', b',"n":20']
    """
    if len(values) == 0:
        return []
    key = _key(name)
    text = orjson.dumps(np.ascontiguousarray(values), option=orjson.OPT_SERIALIZE_NUMPY)[1:-1]
    return (key + text.replace(b",", _CUT + key)).split(_CUT)


def coded_pieces(rendered: list[bytes], codes: np.ndarray) -> list[bytes]:
    """``rendered[code]`` per code: pieces drawn from a small table of texts.

    Examples
    --------
    >>> coded_pieces([b',"c":"a"', b',"c":"b"'], np.array([1, 0, 1]))
    [b',"c":"b"', b',"c":"a"', b',"c":"b"']
    """
    return np.array(rendered, dtype=object)[np.asarray(codes, dtype=np.intp)].tolist()


def text_pieces(name: str, values: np.ndarray) -> list[bytes]:
    """``,"name":"<text>"`` per value, for columns of a few distinct strings.

    Examples
    --------
    >>> text_pieces("c", np.array(["new", "none", "new"]))
    [b',"c":"new"', b',"c":"none"', b',"c":"new"']
    """
    names, codes = np.unique(np.asarray(values).astype(str), return_inverse=True)
    key = _key(name)
    return coded_pieces([key + orjson.dumps(n) for n in names.tolist()], codes)


def encode_collection(heads: list[bytes], rows: np.ndarray, columns: list[list[bytes]],
                      **members) -> bytes:
    """FeatureCollection bytes of the features ``heads[rows]`` with ``columns`` of pieces.

    ``columns`` hold one piece per row each, written in order after the head's
    ``"h3"`` property; ``members`` (parameters, summary …) are written
    before the features.
    """
    n = len(rows)
    start = orjson.dumps({"type": "FeatureCollection", **members})[:-1] + b',"features":['
    if n == 0:
        return start + b"]}"
    if n == len(heads) and rows[0] == 0 and rows[-1] == n - 1:
        picked = heads  # every row, in order (rows are sorted and distinct)
    else:
        picked = np.array(heads, dtype=object)[rows].tolist()
    width = len(columns) + 2
    parts: list[bytes] = [b"}},"] * (width * n)
    parts[0::width] = picked
    for j, column in enumerate(columns, start=1):
        parts[j::width] = column
    parts[-1] = b"}}"
    return start + b"".join(parts) + b"]}"
