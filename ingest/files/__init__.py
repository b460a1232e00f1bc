"""File ingestion: station exports, lab results and history backfills (CSV, XLSX, JSON lines).

Entry points: `ingest_paths` (explicit files, e.g. a backfill) and `scan_inbox` (the inbox,
called by the CLI and the Airflow DAG). Formats are described by profiles in config/formats/.
"""

from ingest.files.inbox import InboxReport, scan_inbox
from ingest.files.ingest import BadRow, FileIngestor, FileReport, IngestReport, ingest_paths

__all__ = ["BadRow", "FileIngestor", "FileReport", "InboxReport", "IngestReport", "ingest_paths", "scan_inbox"]
