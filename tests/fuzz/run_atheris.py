"""Coverage-guided fuzzing of the file readers with atheris (libFuzzer), for a bounded time and memory.

    pip install atheris        # or: pip install ".[fuzz]"
    python tests/fuzz/run_atheris.py torch --seconds 40
    python tests/fuzz/run_atheris.py all --seconds 30     # every area in turn

Areas: ``safetensors``, ``torch`` (pytorch_model.bin), ``config`` (config.json), ``vocab`` (vocab.txt). Each
run starts from the committed seeds in ``tests/fuzz/corpus/<area>`` (new inputs go to a scratch directory,
never into the repository) and runs the target of :mod:`targets` under an address-space limit. The torch
target mutates the members of the archive and re-packs it with valid CRCs (a plain byte mutation of a zip
almost only tests the CRC check). The run fails — exit status 1 — on any finding: an exception other than
CheckpointError / ValueError, a crash, a timeout, or memory beyond the limit; the input that did it is saved
and its path printed, so that it can become a regression test.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
AREAS = ("safetensors", "torch", "config", "vocab")


def _child(area: str, libfuzzer_args: list[str]) -> None:
    """Inside the limited process: instrument the readers, then hand over to libFuzzer (which exits)."""
    import atheris

    sys.path.insert(0, str(HERE))
    # jsonio's scan is NumPy comparisons, whose result arrays atheris' comparison hooks keep alive (~3 KB per
    # input: a libFuzzer out-of-memory after ~10^5 inputs that no plain run shows); it is covered by hypothesis
    with atheris.instrument_imports(include=["roformer_np", "zipfile", "targets"], exclude=["roformer_np.jsonio"]):
        # the readers are imported lazily by the package: import them here so that they are instrumented
        import targets

        import roformer_np.pickle_vm  # noqa: F401
        import roformer_np.tokenizer  # noqa: F401
        import roformer_np.tokenizer_fast  # noqa: F401
        import roformer_np.torch_pickle  # noqa: F401

    target = targets.TARGETS[area]
    os.environ.setdefault("ROFORMER_FUZZ_TRACEMALLOC", "0")  # the address-space limit bounds memory here

    def one_input(data: bytes) -> None:
        target(data)

    mutator = {"torch": _torch_mutator, "safetensors": _safetensors_mutator, "config": _json_mutator}.get(area)
    if mutator is not None:
        mutator = _with(mutator, atheris, targets)
    atheris.Setup([sys.argv[0], *libfuzzer_args], one_input, custom_mutator=mutator)
    atheris.Fuzz()


def _with(mutator, atheris, targets):
    import random

    def mutate(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        out = mutator(data, rng, atheris, targets)
        return out if out is not None and len(out) <= max_size else atheris.Mutate(data, max_size)

    return mutate


def _torch_mutator(data, rng, atheris, targets):
    """Mutate one member (data.pkl mostly) and re-pack the archive with valid CRCs."""
    members = targets.unpack_zip(data)
    if not members or rng.random() < 0.1:
        return None
    names = sorted(members)
    pickles = [n for n in names if n.endswith("data.pkl")]
    name = pickles[0] if pickles and rng.random() < 0.7 else rng.choice(names)
    members[name] = atheris.Mutate(members[name], len(members[name]) + 64)
    return targets.repack_zip(members)


def _safetensors_mutator(data, rng, atheris, targets):
    """Mutate the header (as JSON or as bytes) or the data section, keeping the length prefix consistent."""
    parts = targets.split_safetensors(data)
    if parts is None or rng.random() < 0.1:
        return None
    header, section = parts
    roll = rng.random()
    if roll < 0.4:
        header = targets.random_json_mutation(header, rng) or header
    elif roll < 0.85:
        header = atheris.Mutate(header, len(header) + 64)
    else:
        section = atheris.Mutate(section, len(section) + 64)
    return targets.join_safetensors(header, section)


def _json_mutator(data, rng, atheris, targets):
    return targets.random_json_mutation(data, rng) if rng.random() < 0.4 else None


def run(area: str, seconds: int, rss_mb: int, address_space_gb: float, artifacts: Path) -> dict:
    """Fuzz one area in a child process; returns its statistics (runs, coverage, peak RSS, outcome)."""
    earlier = {p.name for p in artifacts.glob(f"{area}-*")}
    work = Path(tempfile.mkdtemp(prefix=f"roformer-fuzz-{area}-"))
    args = [f"-max_total_time={seconds}", f"-rss_limit_mb={rss_mb}", "-timeout=20", "-max_len=65536",
            f"-artifact_prefix={artifacts}/{area}-", "-print_final_stats=1", str(work), str(HERE / "corpus" / area)]
    limit = int(address_space_gb * 2**30)

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, "ROFORMER_FUZZ_TMP": str(work.parent), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, __file__, "--child", area, "--", *args], capture_output=True, text=True,
                          env=env, preexec_fn=limits, timeout=seconds + 300)
    elapsed = time.monotonic() - started
    log = proc.stderr
    stats = {k: int(v) for k, v in re.findall(r"stat::(\w+):\s+(\d+)", log)}
    # only what this run wrote: a finding left in the directory by an earlier run is not this run's
    crashes = sorted(p.name for p in artifacts.glob(f"{area}-*") if p.name not in earlier)
    return {"area": area, "exit": proc.returncode, "seconds": round(elapsed, 1),
            "runs": stats.get("number_of_executed_units", 0), "peak_rss_mb": stats.get("peak_rss_mb", 0),
            "coverage": _last(r"cov: (\d+)", log), "corpus": len(list(work.iterdir())), "artifacts": crashes,
            "log": log}


def _last(pattern: str, text: str) -> int:
    found = re.findall(pattern, text)
    return int(found[-1]) if found else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child(argv[1], argv[3:])
        return 0  # not reached: libFuzzer exits
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("area", choices=(*AREAS, "all"))
    parser.add_argument("--seconds", type=int, default=40, help="fuzzing time per area (default 40)")
    parser.add_argument("--rss-mb", type=int, default=1536, help="libFuzzer's RSS limit (default 1536)")
    parser.add_argument("--address-space-gb", type=float, default=4.0, help="RLIMIT_AS of the fuzzing process")
    parser.add_argument("--artifacts", type=Path, default=Path(tempfile.gettempdir()) / "roformer-fuzz-findings")
    args = parser.parse_args(argv)
    args.artifacts.mkdir(parents=True, exist_ok=True)
    failed = False
    for area in AREAS if args.area == "all" else (args.area,):
        result = run(area, args.seconds, args.rss_mb, args.address_space_gb, args.artifacts)
        ok = result["exit"] == 0 and not result["artifacts"]
        print(f"atheris {area}: {result['runs']} inputs in {result['seconds']} s, coverage {result['coverage']}, "
              f"corpus {result['corpus']} new, peak RSS {result['peak_rss_mb']} MB: "
              + ("0 findings" if ok else f"FINDING (exit {result['exit']}) {result['artifacts']}"), flush=True)
        if not ok:
            failed = True
            print(result["log"][-6000:], file=sys.stderr)
            for name in result["artifacts"]:
                print(f"reproduce: python -c \"import sys; sys.path.insert(0, 'tests/fuzz'); import targets; "
                      f"targets.TARGETS['{area}'](open('{args.artifacts / name}', 'rb').read())\"", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
