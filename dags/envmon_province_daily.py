"""province_daily: the daily run for a province, derivations mapped over region partitions.

Same work as `daily`, but the hourly and daily derivations run as one mapped task per region
(dynamic task mapping): each reads the warehouse read-only and writes its own partition of
Parquet aggregates; one writer task in the `warehouse` pool then replaces those rows. Paused
when created: enable it instead of `daily` where one process per night is not enough.
"""

from airflow.sdk import Asset, CronDataIntervalTimetable, dag, task

from envmon import dag_defaults as d
from envmon import dag_tasks as t


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
    @task
    def partitions(data_interval_start=None, data_interval_end=None):
        from transforms.derive.partitioned import partitions_for

        return [p["region"] for p in partitions_for(None, data_interval_start, data_interval_end)]

    @task  # as many at once as the executor's workers allow (read-only: no pool)
    def aggregate_region(region, data_interval_start=None, data_interval_end=None):
        from transforms.derive.partitioned import compute_partition

        return compute_partition(None, region, data_interval_start, data_interval_end)

    @task(pool=d.WAREHOUSE_POOL, outlets=[Asset(d.AQI_DAILY_URI)])
    def write_aggregates(data_interval_start=None, data_interval_end=None):
        from transforms.derive.partitioned import write_partitions

        return write_partitions(None, data_interval_start, data_interval_end)

    regions = partitions()
    t.load() >> t.qc() >> regions
    written = aggregate_region.expand(region=regions) >> write_aggregates()
    written >> [t.availability(), t.alerts(), t.publish_day()]


province_daily()
