"""The jupyter-blocks test suite (a package: modules import helpers from tests.utils)."""
