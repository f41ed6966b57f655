"""Hostile checkpoint files built byte by byte: pickle opcodes, zip records, safetensors headers.

The tests of the file readers and the fuzzers build their inputs here, so every reproduction is made by the
code that checks it (nothing binary is committed for a defect), and can be read opcode by opcode.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

# ---------------------------------------------------------------------------------------------
# pickle opcodes (protocol 2, the subset torch.save writes)
# ---------------------------------------------------------------------------------------------
PROTO2, STOP, MARK, EMPTY_DICT, EMPTY_TUPLE, NEWFALSE = b"\x80\x02", b".", b"(", b"}", b")", b"\x89"
TUPLE, TUPLE1, SETITEM, SETITEMS, REDUCE, BUILD, BINPERSID = b"t", b"\x85", b"s", b"u", b"R", b"b", b"Q"


def glob(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def text(value: str) -> bytes:
    raw = value.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def integer(value: int) -> bytes:
    if 0 <= value < 256:
        return b"K" + bytes([value])
    if -(2**31) <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def tup(*items: bytes) -> bytes:
    return MARK + b"".join(items) + TUPLE


def put(index: int) -> bytes:
    return b"q" + bytes([index]) if index < 256 else b"r" + struct.pack("<I", index)


def get(index: int) -> bytes:
    return b"h" + bytes([index]) if index < 256 else b"j" + struct.pack("<I", index)


def storage(key: str, numel: int, storage_type: str = "FloatStorage") -> bytes:
    """A persistent id ``("storage", torch.<type>, key, "cpu", numel)`` and BINPERSID."""
    return tup(text("storage"), glob("torch", storage_type), text(key), text("cpu"), integer(numel)) + BINPERSID


def ordered_dict() -> bytes:
    return glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE


def rebuild(source: bytes, offset: int, size: Sequence[int], stride: Sequence[int]) -> bytes:
    """``torch._utils._rebuild_tensor_v2(source, offset, size, stride, False, OrderedDict())``."""
    return glob("torch._utils", "_rebuild_tensor_v2") + tup(
        source, integer(offset), tup(*map(integer, size)), tup(*map(integer, stride)), NEWFALSE, ordered_dict()
    ) + REDUCE


def state_dict(items: Iterable[tuple[bytes, bytes]]) -> bytes:
    """A pickled state dict ``{key: value}`` from pickled keys and values (OrderedDict + SETITEMS, as torch)."""
    return PROTO2 + ordered_dict() + MARK + b"".join(k + v for k, v in items) + SETITEMS + STOP


# ---------------------------------------------------------------------------------------------
# zip archives, record by record (so any field can be what an attacker wants)
# ---------------------------------------------------------------------------------------------
@dataclass
class Member:
    name: str
    data: bytes  # the bytes as stored (compressed when method is 8)
    method: int = 0
    file_size: int | None = None  # the declared inflated size (default: len(data), for stored members)
    crc: int | None = None
    compress_size: int | None = None  # the declared stored size (default: len(data))
    flags: int = 0
    version: int = 20
    extra: bytes = field(default=b"")


def deflate(raw: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(raw) + c.flush()


def deflated(name: str, raw: bytes) -> Member:
    """An honest deflated member holding ``raw``."""
    return Member(name, deflate(raw), method=8, file_size=len(raw), crc=zlib.crc32(raw))


def zip_bytes(members: Sequence[Member], locator: bytes = b"") -> bytes:
    """A zip archive of ``members`` (local headers, data, central directory, end record)."""
    out, central = bytearray(), bytearray()
    for m in members:
        name = m.name.encode("utf-8")
        size = len(m.data) if m.file_size is None else m.file_size
        crc = zlib.crc32(m.data) if m.crc is None else m.crc
        stored = len(m.data) if m.compress_size is None else m.compress_size
        offset = len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", m.version, m.flags, m.method, 0, 0x21, crc, stored,
                           size, len(name), len(m.extra)) + name + m.extra + m.data
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, m.version, m.flags, m.method, 0, 0x21, crc,
                               stored, size, len(name), len(m.extra), 0, 0, 0, 0, offset) + name + m.extra
    start = len(out)
    out += central + locator
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), start, 0)
    return bytes(out)


def torch_zip(pickle: bytes, storages: dict[str, bytes] | None = None, root: str = "archive",
              **member_options) -> bytes:
    """A ``torch.save``-layout archive: ``<root>/data.pkl``, ``<root>/byteorder``, ``<root>/data/<key>``."""
    members = [Member(f"{root}/data.pkl", pickle), Member(f"{root}/byteorder", b"little")]
    members += [Member(f"{root}/data/{k}", v, **member_options) for k, v in (storages or {}).items()]
    return zip_bytes(members)


@cache
def zeros_deflated(n_mib: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``n_mib`` MiB of zeros (about 1 KB per MiB) and its CRC-32: a zip bomb's payload.

    Each MiB is deflated after a full flush, so its bytes are the same and the stream is built by repetition;
    the CRC is computed honestly (the member is a valid one, it is only large).
    """
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(1 << 20)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    stream = block * n_mib + c.flush()
    crc = 0
    chunk = bytes(1 << 24)
    for _ in range(n_mib // 16):
        crc = zlib.crc32(chunk, crc)
    for _ in range(n_mib % 16):
        crc = zlib.crc32(zeros, crc)
    return stream, crc


# ---------------------------------------------------------------------------------------------
# safetensors files with any header
# ---------------------------------------------------------------------------------------------
def safetensors_bytes(header: dict | bytes, data: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


# ---------------------------------------------------------------------------------------------
# running a load in a fresh interpreter under a memory limit, measuring its peak
# ---------------------------------------------------------------------------------------------
PROBE = r"""
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from roformer_np.weights import load_weights

def status(field):  # kB, of this process's own memory (ru_maxrss would include the parent's peak after fork)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))

base = status("VmRSS")
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # reset VmHWM, the peak resident size, to the current size
try:
    loaded = load_weights(sys.argv[2])
    outcome = "loaded " + ",".join(sorted(loaded))[:200]
except Exception as exc:
    outcome = type(exc).__name__ + ": " + str(exc)
peak = status("VmHWM")
print(json.dumps({"outcome": outcome, "rss_growth_kib": peak - base, "peak_kib": peak}))
"""


def load_in_subprocess(path, limit_bytes: int = 2 * 2**30) -> dict:
    """Load ``path`` with ``load_weights`` in a new interpreter whose address space is capped at ``limit_bytes``.

    Returns ``{"outcome": "<ExceptionType>: message" | "loaded …", "rss_growth_kib": …, "peak_kib": …}``; a
    crash or a MemoryError outside the load shows as a non-JSON answer, which fails the caller's test.
    """
    proc = subprocess.run([sys.executable, "-c", PROBE, str(limit_bytes), str(path)], capture_output=True,
                          text=True, timeout=300, env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                                                       "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, f"the loader process died (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])
