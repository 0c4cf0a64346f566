"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def corpus_path() -> Path:
    """Pacemaker's regression corpus: $PACER_CORPUS, else ../shared/pacemaker-corpus."""
    env = os.environ.get("PACER_CORPUS")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "pacemaker-corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The corpus directory, or skip the test when it is absent."""
    path = corpus_path()
    if not (path / "tests.json").is_file():
        pytest.skip(
            f"Pacemaker corpus suite skipped: the corpus is absent (no {path}/tests.json; "
            "set PACER_CORPUS or put shared/pacemaker-corpus beside the repository)"
        )
    return path
