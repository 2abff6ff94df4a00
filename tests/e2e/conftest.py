"""Shared pytest fixtures for the end-to-end tests (keep generic; tests add their own)."""

import os
import pathlib

import pytest


@pytest.fixture(scope="session")
def build_dir():
    """The meson build directory holding the binaries under test (env PLEXD_BUILD)."""
    path = pathlib.Path(os.environ.get("PLEXD_BUILD", "/work/main/build-test"))
    if not path.is_dir():
        pytest.skip(f"build directory {path} does not exist (set PLEXD_BUILD)")
    return path


@pytest.fixture(scope="session")
def plexd_bin(build_dir):
    """Path of the plexd executable in the build directory."""
    path = build_dir / "src" / "plexd" / "plexd"
    if not path.is_file():
        pytest.skip(f"{path} not built")
    return path


@pytest.fixture(scope="session")
def plexcp_bin(build_dir):
    """Path of the plexcp (control plane) executable in the build directory."""
    path = build_dir / "src" / "plexcp" / "plexcp"
    if not path.is_file():
        pytest.skip(f"{path} not built")
    return path
