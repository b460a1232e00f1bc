"""daily: after local midnight, the day's aggregates, AQI, noise, water, emissions,
availability and the daily air quality report.

The hours of the day are derived again first, so data that arrived late is counted.
"""

from airflow.sdk import Asset, CronDataIntervalTimetable, dag, task

from envmon import dag_defaults as d


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
    @task(pool=d.WAREHOUSE_POOL)
    def load():
        from envmon.pipeline import load_and_validate

        return load_and_validate()

    @task(pool=d.WAREHOUSE_POOL)
    def qc(data_interval_start=None, data_interval_end=None):
        from envmon.pipeline import qc_interval

        return qc_interval(data_interval_start, data_interval_end)

    @task(pool=d.WAREHOUSE_POOL)
    def aggregate_hours(data_interval_start=None, data_interval_end=None):
        from envmon.pipeline import derive_hours

        return derive_hours(data_interval_start, data_interval_end)

    @task(pool=d.WAREHOUSE_POOL, outlets=[Asset(d.AQI_DAILY_URI)])
    def aggregate_day(data_interval_start=None, data_interval_end=None):
        from envmon.pipeline import derive_days

        return derive_days(data_interval_start, data_interval_end)

    @task(pool=d.WAREHOUSE_POOL)
    def availability(data_interval_start=None, data_interval_end=None):
        from envmon.pipeline import availability

        return availability(data_interval_start, data_interval_end)

    @task(pool=d.WAREHOUSE_POOL)
    def alerts(data_interval_start=None, data_interval_end=None):
        from envmon.pipeline import evaluate_alerts

        return evaluate_alerts(data_interval_start, data_interval_end)

    @task
    def publish(data_interval_start=None, data_interval_end=None):
        from envmon.pipeline import publish_day

        return publish_day(data_interval_start, data_interval_end)

    hours = load() >> qc() >> aggregate_hours()
    day = hours >> aggregate_day()
    day >> availability()
    day >> alerts()
    day >> publish()


daily()
