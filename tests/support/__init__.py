"""Helpers the test suite runs beside the code under test (servers, fronts)."""
