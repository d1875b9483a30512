"""Code the tests share (paths, builders of synthetic dumps and scenarios); fixtures live in conftest.py."""
