"""Shared test fixtures: paths to the bundled real Windows dumps."""
import os

import pytest

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
TRIAGE_X64 = os.path.join(DATA, "windows-triage", "triage_x64.dmp")
TRIAGE_ARM64 = os.path.join(DATA, "windows-triage", "triage_arm64.dmp")


@pytest.fixture
def triage_x64():
    return TRIAGE_X64


@pytest.fixture
def triage_arm64():
    return TRIAGE_ARM64
