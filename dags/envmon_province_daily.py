"""province_daily: the daily run for a province, derivations mapped over region partitions.

Same work as `daily`, but the hourly and daily derivations run as one mapped task per region
(dynamic task mapping): each reads the warehouse read-only and writes its own partition of
Parquet aggregates; one writer task in the `warehouse` pool then replaces those rows. Paused
when created: enable it instead of `daily` where one process per night is not enough.
"""

from airflow.sdk import CronDataIntervalTimetable, dag

from envmon import dag_defaults as d
from envmon.dag_tasks import add_tasks


@dag(
    dag_id="province_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=d.TIMEZONE),
    start_date=d.START_DATE,
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,
    default_args=d.default_args(timeout_min=60),
    tags=["envmon", "daily", "province"],
    doc_md=__doc__,
)
def province_daily():
    add_tasks("province_daily")


province_daily()
