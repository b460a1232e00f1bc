"""maintenance: nightly landing-zone compaction, retention, and a warehouse checkpoint."""

from airflow.sdk import CronDataIntervalTimetable, dag

from envmon import dag_defaults as d
from envmon.dag_tasks import add_tasks


@dag(
    dag_id="maintenance",
    schedule=CronDataIntervalTimetable("30 4 * * *", timezone=d.TIMEZONE),
    start_date=d.START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=d.default_args(retries=2, timeout_min=60),
    tags=["envmon", "maintenance"],
    doc_md=__doc__,
)
def maintenance():
    add_tasks("maintenance")


maintenance()
