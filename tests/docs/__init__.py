"""Tests of the documentation itself."""
