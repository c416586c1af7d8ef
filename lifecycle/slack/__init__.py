"""Importing a Slack workspace export (reader.py: the zip, checked; importer.py: the rows)."""
