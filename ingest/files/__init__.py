"""File ingestion: station exports, lab results and history backfills (CSV, XLSX, JSON lines).

Entry points: `ingest.files.ingest.ingest_paths` (explicit files, e.g. a backfill) and
`ingest.files.inbox.scan_inbox` (the inbox, called by the CLI and the Airflow DAG). Formats are
described by profiles in config/formats/. This package file imports nothing, so that a command
that only needs the inbox's defaults (`envmon --help`) does not load polars and pyarrow.
"""
