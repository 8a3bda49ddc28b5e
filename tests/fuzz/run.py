"""Run one fuzz target (or all of them at once) under atheris, coverage-guided.

Usage::

    python -m tests.fuzz.run pdf_checks -max_total_time=120      # one target for two minutes (make fuzz)
    python -m tests.fuzz.run all -max_total_time=5               # every target, the first byte choosing (make test)
    python -m tests.fuzz.run pdf_checks crash-1a2b...            # replay one input (libFuzzer runs files given)

Options starting with ``-`` go to libFuzzer (``-timeout`` per input in seconds: a hang; ``-rss_limit_mb``: a memory
blow-up). The seed corpus (tests/fuzz/corpus/<target>) and the regressions are read, never written: new inputs go
to a temporary directory, and a finding is written to ``FUZZ_ARTIFACTS`` (default tests/fuzz/findings/).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

from tests.fuzz.targets import FUZZ, MAX_INPUT, TARGETS, Harness, corpus

DEFAULT_OPTIONS = ["-timeout=10", "-rss_limit_mb=2048", f"-max_len={MAX_INPUT}"]


def _build(names: list[str]) -> dict[str, Harness]:
    instrument = sorted({package for name in names for package in TARGETS[name].instrument})
    if os.environ.get("FUZZ_INSTRUMENT") == "ours":
        # The bounded run of the test suite: coverage of our own code only, so that setting up takes seconds.
        instrument = [p for p in instrument if p.split(".")[0] in ("seal_service", "verifier")]
    with atheris.instrument_imports(include=instrument):
        return {name: TARGETS[name].build() for name in names}


def main(argv: list[str]) -> None:
    """Set atheris up for the target named in ``argv[1]`` and fuzz until libFuzzer's options stop it."""
    if len(argv) < 2 or (argv[1] not in TARGETS and argv[1] != "all"):
        sys.exit(f"usage: python -m tests.fuzz.run TARGET|all [libFuzzer options]; targets: {', '.join(TARGETS)}")
    name, rest = argv[1], argv[2:]
    names = list(TARGETS) if name == "all" else [name]
    harnesses = _build(names)
    work = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    findings = Path(os.environ.get("FUZZ_ARTIFACTS", FUZZ / "findings"))
    findings.mkdir(parents=True, exist_ok=True)
    files = [arg for arg in rest if not arg.startswith("-")]
    options = [arg for arg in rest if arg.startswith("-")]
    if name == "all":
        # One process for the bounded run of the suite: the first byte picks the target.
        seeds = work / "seeds"
        seeds.mkdir()
        for index, target in enumerate(names):
            for path in corpus(target):
                (seeds / f"{target}-{path.name}").write_bytes(bytes([index]) + path.read_bytes())
        table = [harnesses[n] for n in names]

        def one_input(data: bytes) -> None:
            if data:
                table[data[0] % len(table)](data[1 : MAX_INPUT + 1])

        dirs = [str(work / "new"), str(seeds)]
    else:
        harness = harnesses[name]

        def one_input(data: bytes) -> None:
            harness(data[:MAX_INPUT])

        dirs = [str(work / "new")] + [str(d) for d in {p.parent for p in corpus(name)}]
    (work / "new").mkdir(exist_ok=True)
    libfuzzer = [argv[0], *DEFAULT_OPTIONS, f"-artifact_prefix={findings}/{name}-", *options]
    libfuzzer += files or dirs
    try:
        atheris.Setup(libfuzzer, one_input)
        atheris.Fuzz()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv)
