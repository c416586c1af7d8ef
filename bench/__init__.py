"""Parley's benchmark tool: `python -m bench --help`."""
