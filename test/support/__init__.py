"""Helpers shared by the test suites (importable as `support`: pyproject adds test/ to sys.path)."""
