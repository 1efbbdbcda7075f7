"""Zip archives of ``.npy`` arrays (and one JSON text), written and read defensively.

Shared by the parameter files and the graph file format. Reading trusts nothing in the
file: member names must match a fixed pattern (no absolute or ``..`` paths; nothing is
ever written where a file says), each ``.npy`` header is parsed before any data is read
(no object dtype, so no pickle; the declared size must fit the member's real size, so a
huge declared shape allocates nothing), and arrays are stored uncompressed, so no member
can expand beyond the bytes the file really holds and every failure is a ``FileFormatError`` that
names the file and the member.

>>> import io, numpy as np
>>> from graphc.npy_archive import ArchiveReader, write_archive
>>> buf = io.BytesIO()
>>> write_archive(buf, {"w.npy": np.arange(3)})
>>> with ArchiveReader(buf, "demo", lambda name: name.endswith(".npy")) as reader:
...     reader.array("w.npy")
array([0, 1, 2])
"""
from __future__ import annotations

import io
import os
import zipfile
from typing import Callable

import numpy as np

from .errors import FileFormatError

_ARRAY_KINDS = "biuf"        # bool, integers, floats: no objects, strings or void records
MAX_TEXT_BYTES = 64 << 20    # a graph description larger than this is refused
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}


def write_archive(target, members: dict) -> None:
    """Write ``members`` (name -> ndarray or str) as one zip to ``target`` (path or file).

    Arrays are written as ``.npy`` with ``allow_pickle=False``: an object array is refused.
    The zip is written in full to memory first, so a failure leaves no half-written file.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, value in members.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible bytes
            info.compress_type = zipfile.ZIP_DEFLATED
            if isinstance(value, str):
                zf.writestr(info, value.encode("utf-8"))
            else:
                info.compress_type = zipfile.ZIP_STORED  # see ArchiveReader.array
                data = io.BytesIO()
                np.lib.format.write_array(data, np.asarray(value), allow_pickle=False)
                zf.writestr(info, data.getvalue())
    if isinstance(target, (str, os.PathLike)):
        with open(target, "wb") as f:
            f.write(buf.getvalue())
    else:
        target.write(buf.getvalue())


class ArchiveReader:
    """Validated read access to a zip written by ``write_archive``.

    ``allowed(name)`` says which member names may appear; any other name (including
    absolute paths, ``..`` parts and duplicates) makes the whole file invalid.
    """

    def __init__(self, source, label: str, allowed: Callable[[str], bool]):
        self.label = label
        try:
            self.zip = zipfile.ZipFile(source)
            names = self.zip.namelist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as e:
            raise FileFormatError(f"{label}: not a readable zip archive ({e})") from None
        unexpected = [n for n in names if not allowed(n)]
        if len(names) != len(set(names)) or unexpected:
            self.zip.close()
            if unexpected:
                raise FileFormatError(f"{label}: unexpected member {unexpected[0]!r} in the "
                                      f"archive (only the graphc members are allowed; "
                                      f"absolute or '..' paths are refused)")
            raise FileFormatError(f"{label}: the archive lists a member twice (tampered)")
        self.names = set(names)
        fp = self.zip.fp
        assert fp is not None  # open for reading until close()
        self.archive_bytes = fp.seek(0, io.SEEK_END)

    def __enter__(self) -> "ArchiveReader":
        return self

    def __exit__(self, *exc) -> None:
        self.zip.close()

    def _read(self, name: str, limit: int) -> bytes:
        if name not in self.names:
            raise FileFormatError(f"{self.label}: member {name!r} is missing")
        info = self.zip.getinfo(name)
        if info.file_size > limit:
            raise FileFormatError(f"{self.label}: member {name!r} declares {info.file_size} "
                                  f"bytes, more than the {limit} allowed")
        try:
            with self.zip.open(info) as f:
                data = f.read(limit + 1)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError) as e:
            raise FileFormatError(f"{self.label}: member {name!r} is corrupt ({e})") from None
        if len(data) != info.file_size:
            raise FileFormatError(f"{self.label}: member {name!r} has {len(data)} bytes, its "
                                  f"entry says {info.file_size} (tampered)")
        return data

    def text(self, name: str) -> str:
        try:
            return self._read(name, MAX_TEXT_BYTES).decode("utf-8")
        except UnicodeDecodeError:
            raise FileFormatError(f"{self.label}: member {name!r} is not UTF-8 text") from None

    def array(self, name: str) -> np.ndarray:
        """The array in member ``name``; its header is checked before its data is read."""
        if name not in self.names:
            raise FileFormatError(f"{self.label}: member {name!r} is missing")
        info = self.zip.getinfo(name)
        # arrays are stored uncompressed, so the bytes read are bytes present in the file:
        # a compressed member could expand to any size it declares (a decompression bomb)
        if info.compress_type != zipfile.ZIP_STORED or info.file_size > self.archive_bytes:
            raise FileFormatError(f"{self.label}: array member {name!r} is compressed or "
                                  f"declares more bytes than the file holds; arrays are read "
                                  f"only from uncompressed members (np.savez, not "
                                  f"np.savez_compressed)")
        size = info.file_size
        data = self._read(name, size)
        f = io.BytesIO(data)
        try:
            version = np.lib.format.read_magic(f)
            read_header = _HEADER_READERS.get(version)
            if read_header is None:
                raise ValueError(f".npy format version {version} is not read here")
            shape, fortran, dtype = read_header(f)  # a literal, parsed without evaluating code
        except (ValueError, SyntaxError, TypeError, EOFError) as e:
            raise FileFormatError(f"{self.label}: {name!r} has no valid .npy header "
                                  f"({e})") from None
        if dtype.hasobject or dtype.kind not in _ARRAY_KINDS or dtype.fields is not None:
            raise FileFormatError(f"{self.label}: {name!r} holds dtype {dtype}; only bool, "
                                  f"integer and float arrays are read (never pickled objects)")
        count = 1
        for d in shape:
            count *= d
        if count * dtype.itemsize != size - f.tell():
            raise FileFormatError(f"{self.label}: {name!r} declares shape {shape} "
                                  f"({count * dtype.itemsize} bytes) but holds "
                                  f"{size - f.tell()} bytes of data")
        array = np.frombuffer(data, dtype=dtype, count=count, offset=f.tell())
        array = array.reshape(shape, order="F" if fortran else "C")
        return np.array(array, dtype=dtype.newbyteorder("="), copy=True)  # own, writable
