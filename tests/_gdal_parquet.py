"""GDAL reading (Geo)Parquet where no GDAL here has the Parquet driver.

Debian 12's GDAL (3.6.2) and the GDAL inside the pyogrio wheel (3.12) are both built
without Arrow, so neither has the ``Parquet`` driver. The pyogrio wheel's GDAL does have
the ``ADBC`` driver (Arrow Database Connectivity), which opens ``.parquet`` files through
DuckDB and itself interprets the file's GeoParquet ``geo`` metadata: geometry columns
(WKB), their CRS (PROJJSON), geometry types and bbox. It is built without the ADBC driver
manager, so the application hands it the DuckDB driver with
``GDALSetAdbcLoadDriverOverride``; the DuckDB wheel exports ``duckdb_adbc_init``. The
DuckDB ``spatial`` extension is not loaded (it would need a download): the geometry is
GDAL's reading of the GeoParquet metadata, not DuckDB's.

``ogrinfo`` below is GDAL's own ogrinfo (``GDALVectorInfo``, the library form of the
utility) on that driver. From the shell::

    python -m tests._gdal_parquet -ro -al -so cells.parquet
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys

_LOAD = ctypes.CFUNCTYPE(ctypes.c_uint8, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
                         ctypes.c_void_p, ctypes.c_void_p)
_STATE: dict = {}
GDAL_OF_VECTOR_READONLY = 0x04


def gdal() -> ctypes.CDLL:
    """pyogrio's libgdal with DuckDB registered as its ADBC driver (once per process)."""
    if "gdal" in _STATE:
        return _STATE["gdal"]
    import _duckdb  # the DuckDB wheel's extension module: it exports duckdb_adbc_init
    import pyogrio

    libs = glob.glob(os.path.join(os.path.dirname(pyogrio.__file__), os.pardir,
                                  "pyogrio.libs", "libgdal*.so*"))
    if len(libs) != 1:
        raise RuntimeError(f"expected one libgdal in the pyogrio wheel, found {libs}")
    lib = ctypes.CDLL(libs[0])
    init = ctypes.CDLL(_duckdb.__file__).duckdb_adbc_init
    init.restype, init.argtypes = ctypes.c_uint8, [ctypes.c_int, ctypes.c_void_p,
                                                   ctypes.c_void_p]

    @_LOAD
    def load(_name, _entrypoint, version, driver, error):
        return init(version, driver, error)

    lib.GDALSetAdbcLoadDriverOverride.argtypes = [_LOAD]
    lib.GDALSetAdbcLoadDriverOverride(load)
    lib.CPLSetConfigOption.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.CPLSetConfigOption(b"OGR_ADBC_AUTO_LOAD_DUCKDB_SPATIAL", b"OFF")
    lib.GDALAllRegister()
    lib.GDALVersionInfo.restype = ctypes.c_char_p
    lib.GDALOpenEx.restype = ctypes.c_void_p
    lib.GDALOpenEx.argtypes = [ctypes.c_char_p, ctypes.c_uint, ctypes.c_void_p,
                               ctypes.c_void_p, ctypes.c_void_p]
    lib.GDALVectorInfoOptionsNew.restype = ctypes.c_void_p
    lib.GDALVectorInfoOptionsNew.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_void_p]
    lib.GDALVectorInfo.restype = ctypes.c_void_p
    lib.GDALVectorInfo.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.GDALVectorInfoOptionsFree.argtypes = [ctypes.c_void_p]
    lib.GDALClose.argtypes = [ctypes.c_void_p]
    lib.VSIFree.argtypes = [ctypes.c_void_p]
    lib.CPLGetLastErrorMsg.restype = ctypes.c_char_p
    _STATE.update(gdal=lib, load=load)  # the callback must outlive every open
    return lib


def version() -> str:
    """GDAL's release name, e.g. ``3.12.4``."""
    return gdal().GDALVersionInfo(b"RELEASE_NAME").decode()


def ogrinfo(path: str, *args: str) -> tuple[int, str]:
    """(exit code, output) of GDAL's ogrinfo ``args`` on the Parquet file at ``path``."""
    lib = gdal()
    ds = lib.GDALOpenEx(f"ADBC:{os.fspath(path)}".encode(), GDAL_OF_VECTOR_READONLY,
                        None, None, None)
    if not ds:
        return 1, f"ogrinfo: cannot open {path}: {lib.CPLGetLastErrorMsg().decode()}"
    argv = (ctypes.c_char_p * (len(args) + 1))(*[a.encode() for a in args], None)
    opts = lib.GDALVectorInfoOptionsNew(argv, None)
    try:
        out = lib.GDALVectorInfo(ds, opts)
        if not out:
            return 1, f"ogrinfo: {lib.CPLGetLastErrorMsg().decode()}"
        text = ctypes.string_at(out).decode()
        lib.VSIFree(out)
        return 0, text
    finally:
        lib.GDALVectorInfoOptionsFree(opts)
        lib.GDALClose(ds)


def info(path: str) -> str:
    """``ogrinfo -ro -al -so`` of ``path`` read by the ADBC driver; AssertionError otherwise."""
    code, text = ogrinfo(path, "-ro", "-al", "-so")
    assert code == 0, text
    assert "using driver `ADBC' successful" in text, text
    return text


def read_dataframe(path: str):
    """The file's features as GDAL reads them (pyogrio on the same ADBC driver)."""
    import pyogrio

    gdal()
    return pyogrio.read_dataframe(f"ADBC:{os.fspath(path)}")


def main(argv: list[str]) -> int:
    """``python -m tests._gdal_parquet [ogrinfo options] FILE.parquet``."""
    if not argv or argv[-1].startswith("-"):
        print("usage: python -m tests._gdal_parquet [ogrinfo options] FILE.parquet",
              file=sys.stderr)
        return 2
    code, text = ogrinfo(argv[-1], *argv[:-1])
    print(text, file=sys.stderr if code else sys.stdout, end="" if text.endswith("\n") else "\n")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
