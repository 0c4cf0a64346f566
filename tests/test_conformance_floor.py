"""The conformance floor: pacer's scheduler must keep passing at least as many
Pacemaker 2.1.5 regression tests as it ever has.

Counts are level-1 passes (the Transition Summary lines match the stored
``crm_simulate`` output) over tiers 0-3 and over tiers 5-6, compared with
``tests/conformance_floor.json``. THE FLOOR ONLY EVER RISES: when the scheduler
passes more, raise it (``python bench/conformance.py --raise-floor``); a lower
count is a regression to fix, not a floor to lower.

Environment: PACER_CORPUS (corpus directory), PACER_CONFORMANCE_JOBS (worker
processes, default 2), PACER_CONFORMANCE_TIMEOUT (seconds per test, default 20).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FLOOR_FILE = Path(__file__).with_name("conformance_floor.json")
GROUPS = ("0-3", "5-6")


def _load_conformance():
    spec = importlib.util.spec_from_file_location(
        "pacer_bench_conformance", REPO_ROOT / "bench" / "conformance.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


conformance = _load_conformance()


@pytest.fixture(scope="module")
def results(corpus_dir):
    """One run of tiers 0-3 and 5-6 together (one worker pool), or the import error."""
    try:
        conformance.load_api()
    except ImportError as exc:
        return str(exc)
    tiers = set().union(*(conformance.parse_tiers(g) for g in GROUPS))
    res, api_error = conformance.run_conformance(
        corpus_dir,
        tiers=tiers,
        jobs=int(os.environ.get("PACER_CONFORMANCE_JOBS", conformance.DEFAULT_JOBS)),
        timeout=float(os.environ.get("PACER_CONFORMANCE_TIMEOUT", conformance.DEFAULT_TIMEOUT)),
    )
    assert api_error is None, api_error
    return res


def _floor(group: str) -> int:
    return int(json.loads(FLOOR_FILE.read_text())[group])


def test_floor_file_is_sane():
    floors = json.loads(FLOOR_FILE.read_text())
    for group in GROUPS:
        assert isinstance(floors[group], int) and floors[group] >= 0, group


@pytest.mark.parametrize("group", GROUPS)
def test_conformance_floor(results, group):
    if isinstance(results, str):
        pytest.fail(f"conformance suite cannot run: {results}", pytrace=False)
    tiers = conformance.parse_tiers(group)
    mine = [r for r in results if r.tier in tiers]
    passed = sum(r.pass_l1 for r in mine)
    floor = _floor(group)
    if passed < floor:
        failing = [r for r in mine if not r.pass_l1]
        errors = Counter((r.error or "").split(":")[0] for r in failing if r.error)
        pytest.fail(
            f"tiers {group}: {passed}/{len(mine)} tests pass, below the floor of {floor} "
            f"(a regression). Errors: {dict(errors) or 'none'}. First failures: "
            + ", ".join(r.name for r in failing[:15])
            + ". Details: python bench/conformance.py --tiers "
            + f"{group} --verbose",
            pytrace=False,
        )
    if passed > floor:
        print(f"tiers {group}: {passed} pass > floor {floor}: raise the floor "
              "(bench/conformance.py --raise-floor)")
