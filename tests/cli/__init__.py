"""Tests of the command line acting as a named member of staff."""
