"""load_landing: load new landing batches into the warehouse whenever files land.

Loading is ledger-driven (a batch is never loaded twice), so it needs no data interval; the
hourly DAG loads as well, for the streams (MQTT, HJ 212) that land continuously.
"""

from airflow.sdk import Asset, dag

from envmon import dag_defaults as d
from envmon.dag_tasks import add_tasks
from envmon.pipeline import LANDING_URI


@dag(
    dag_id="load_landing",
    schedule=[Asset(LANDING_URI)],
    start_date=d.START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=d.default_args(),
    tags=["envmon", "load"],
    doc_md=__doc__,
)
def load_landing():
    add_tasks("load_landing")


load_landing()
