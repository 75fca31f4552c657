"""Command-line entry points; each module has `main(argv=None)` so tests can call it."""
