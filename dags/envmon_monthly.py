"""monthly: on the 1st, the month's statistics and indices, data transmission efficiency,
the monthly rules and the public disclosure tables."""

from airflow.sdk import CronDataIntervalTimetable, dag

from envmon import dag_defaults as d
from envmon.dag_tasks import add_tasks


@dag(
    dag_id="monthly",
    schedule=CronDataIntervalTimetable("0 2 1 * *", timezone=d.TIMEZONE),
    start_date=d.START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=d.default_args(timeout_min=120),
    tags=["envmon", "monthly"],
    doc_md=__doc__,
)
def monthly():
    add_tasks("monthly")


monthly()
