"""Shared fixtures of the Python package's tests (run from the repository root by
scripts/test.sh: `.venv/bin/python -m pytest python/tests`).

Real data comes from $VPIPE_TEST_DATA, else ../shared/data. Without it, or without torch and the
installed package, every test is skipped saying why; under CI=true that is a failure instead."""

import os
import pathlib
import shutil

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def _missing():
    try:
        import torch  # noqa: F401
        import vpipe  # noqa: F401
    except ImportError as e:
        return f"torch or the vpipe package cannot be imported ({e}); run scripts/setup.sh"
    if _data_dir() is None:
        return "no test data: set VPIPE_TEST_DATA or put shared/ beside the checkout"
    return None


def _data_dir():
    d = pathlib.Path(os.environ.get("VPIPE_TEST_DATA", REPO.parent / "shared" / "data"))
    return d if (d / "mini" / "mini_videos.txt").exists() else None


def pytest_collection_modifyitems(config, items):
    why = _missing()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"CI=true: {why}")
    for item in items:
        item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    """Pipeline files name their data relative to the repository root, as the CLI runs them."""
    monkeypatch.chdir(REPO)


@pytest.fixture
def data() -> pathlib.Path:
    """The real test data folder."""
    return _data_dir()


@pytest.fixture
def vpipe_bin() -> str:
    """The CLI binary `cargo test` / `cargo build` made ($VPIPE_BIN overrides)."""
    b = os.environ.get("VPIPE_BIN", str(REPO / "target" / "debug" / "vpipe"))
    if not os.path.exists(b):
        pytest.fail(f"{b} does not exist: build it first (cargo build)")
    return b


@pytest.fixture
def python_bin() -> str:
    """The venv's Python (with torch and vpipe)."""
    import sys
    return sys.executable


@pytest.fixture
def torchrun() -> str:
    import sys
    t = pathlib.Path(sys.executable).with_name("torchrun")
    return str(t) if t.exists() else shutil.which("torchrun")


def mini_list(data, path, copies=1, extra=()):
    """The mini video list written `copies` times over into `path` (absolute video paths: the
    list's root is then /), plus `extra` lines; returns the path."""
    lines = [l.split() for l in (data / "mini" / "mini_videos.txt").read_text().splitlines() if l.strip()]
    out = [f"{data / 'mini' / 'videos' / p} {label}" for _ in range(copies) for p, label in lines]
    path.write_text("\n".join(out + list(extra)) + "\n")
    return path
