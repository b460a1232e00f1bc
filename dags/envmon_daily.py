"""daily: after local midnight, the day's aggregates, AQI, noise, water, emissions,
availability and the daily air quality report.

The hours of the day are derived again first, so data that arrived late is counted.
"""

from airflow.sdk import CronDataIntervalTimetable, dag

from envmon import dag_defaults as d
from envmon.dag_tasks import add_tasks


@dag(
    dag_id="daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=d.TIMEZONE),
    start_date=d.START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=d.default_args(timeout_min=60),
    tags=["envmon", "daily"],
    doc_md=__doc__,
)
def daily():
    add_tasks("daily")


daily()
