"""hourly: after each local hour, load, QC, aggregate the hour, real-time AQI, rules, page.

The data interval is the hour; every task works on it, so a re-run or a backfill of an hour
gives the same rows, alerts and cases as the run on time.
"""

from airflow.sdk import CronDataIntervalTimetable, dag

from envmon import dag_defaults as d
from envmon.dag_tasks import add_tasks


@dag(
    dag_id="hourly",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone=d.TIMEZONE),
    start_date=d.START_DATE,
    catchup=False,
    max_active_runs=1,  # alert lifecycle and hysteresis follow the hours in order
    default_args=d.default_args(timeout_min=20),
    tags=["envmon", "hourly"],
    doc_md=__doc__,
)
def hourly():
    add_tasks("hourly")


hourly()
