"""ingest_files: every few minutes, scan the file inbox into the landing zone.

Files are taken as they come (the inbox is the interval's input); each accepted file's
batches update the landing Asset, which starts `load_landing`.
"""

from airflow.sdk import dag

from envmon import dag_defaults as d
from envmon.dag_tasks import add_tasks


@dag(
    dag_id="ingest_files",
    schedule="*/5 * * * *",
    start_date=d.START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=d.default_args(retries=2, timeout_min=20),
    tags=["envmon", "ingest"],
    doc_md=__doc__,
)
def ingest_files():
    add_tasks("ingest_files")


ingest_files()
