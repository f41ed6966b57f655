"""Property-based fuzzing of the file readers (hypothesis): mutated seeds must load honestly or be refused.

For each area — safetensors, pytorch_model.bin, config.json, vocab.txt — a committed seed
(tests/fuzz/corpus/<area>, real ``torch.save`` / ``save_file`` outputs) is mutated: bytes flipped, inserted,
deleted or overwritten with boundary values, JSON values replaced by hostile ones (deep nesting, huge or
negative numbers, wrong types), and for archives a member mutated and the zip re-packed with valid CRCs.
:mod:`targets` then checks the contract (only CheckpointError / ValueError, every tensor element from the
file, memory bounded by the file's size). ``ROFORMER_FUZZ_EXAMPLES`` sets the examples per area (CI's fuzz
leg runs more, with a random seed; the ordinary suite runs a derandomised few).
"""

from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import targets  # noqa: E402

EXAMPLES = int(os.environ.get("ROFORMER_FUZZ_EXAMPLES", "60"))
RANDOM = "ROFORMER_FUZZ_EXAMPLES" in os.environ  # a fuzzing run explores; the ordinary suite is reproducible
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
                suppress_health_check=list(HealthCheck))

BOUNDARY = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff" * 4, b"\xff" * 8, struct.pack("<Q", 2**63),
            struct.pack("<Q", 2**64 - 1), struct.pack("<I", 2**31), struct.pack("<i", -1), b"9" * 25, b"-1",
            b"1e400", b"[" * 200, b"{", b'"', b"\\", b"\xc3", b"\xed\xa0\x80", b"\n", b"\r\n", b" " * 9]


@st.composite
def mutated_bytes(draw, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(out)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "overwrite", "truncate", "duplicate"]))
        payload = draw(st.sampled_from(BOUNDARY) | st.binary(min_size=1, max_size=16))
        if kind == "flip" and pos < len(out):
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            out[pos:pos] = payload
        elif kind == "delete":
            del out[pos : pos + draw(st.integers(1, 64))]
        elif kind == "overwrite":
            out[pos : pos + len(payload)] = payload
        elif kind == "truncate":
            del out[pos:]
        elif kind == "duplicate":
            out[pos:pos] = out[pos : pos + draw(st.integers(1, 256))]
    return bytes(out)


@st.composite
def mutated_json(draw, value) -> bytes:
    """The JSON text of ``value`` with one node (at any depth) replaced by a hostile value or a deep nesting."""
    path = draw(st.sampled_from(targets.json_paths(value)))
    new = draw(st.sampled_from([*targets.HOSTILE_JSON, targets.DEEP]))
    return targets.replace_json(value, path, new, draw(st.integers(1, 70) | st.integers(60, 100_000)))


def _safetensors_header_mutation(draw, data: bytes) -> bytes:
    header, section = targets.split_safetensors(data)
    if draw(st.booleans()):
        return targets.join_safetensors(draw(mutated_json(json.loads(header))), section)
    return targets.join_safetensors(draw(mutated_bytes(header)), section)  # the length prefix kept consistent


@st.composite
def fuzzed(draw, area: str) -> bytes:
    seed = draw(st.sampled_from(targets.seeds(area)))
    choice = draw(st.integers(0, 2))
    if area == "torch" and choice:
        members = targets.unpack_zip(seed)
        name = draw(st.sampled_from(sorted(members, key=lambda n: (not n.endswith("data.pkl"), n))[:1] * 3
                                    + sorted(members)))
        members[name] = draw(mutated_bytes(members[name]))
        return targets.repack_zip(members)
    if area == "safetensors" and choice:
        return _safetensors_header_mutation(draw, seed)
    if area == "config" and choice:
        return draw(mutated_json(json.loads(seed)))
    return draw(mutated_bytes(seed))


@pytest.mark.parametrize("area", targets.AREAS)
def test_seeds_load_and_pass_the_oracle(area) -> None:
    """Every committed seed is a real file that loads (so mutations start from what real tools write)."""
    for data in targets.seeds(area):
        targets.TARGETS[area](data)


@pytest.mark.parametrize("area", targets.AREAS)
@FUZZ
@given(data=st.data())
def test_fuzz(area, data) -> None:
    targets.TARGETS[area](data.draw(fuzzed(area), label=f"{area} file"))
