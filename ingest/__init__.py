"""envmon: ingest."""
