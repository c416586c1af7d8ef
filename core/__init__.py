"""Shared plumbing of every app: errors and their one wire mapping, close codes, the database hop.

The lowest layer (docs/architecture.md): it imports no Parley app.
"""
