"""hourly: after each local hour, load, QC, aggregate the hour, real-time AQI, rules, page.

The data interval is the hour; every task works on it, so a re-run or a backfill of an hour
gives the same rows, alerts and cases as the run on time.
"""

from airflow.sdk import CronDataIntervalTimetable, dag, task

from envmon import dag_defaults as d


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
    @task(pool=d.WAREHOUSE_POOL)
    def load():
        from envmon.pipeline import load_and_validate

        return load_and_validate()

    @task(pool=d.WAREHOUSE_POOL)
    def qc(data_interval_start=None, data_interval_end=None):
        from envmon.pipeline import qc_interval

        return qc_interval(data_interval_start, data_interval_end)

    @task(pool=d.WAREHOUSE_POOL)
    def aggregate(data_interval_start=None, data_interval_end=None):
        from envmon.pipeline import derive_hours

        return derive_hours(data_interval_start, data_interval_end)

    @task(pool=d.WAREHOUSE_POOL)
    def alerts(data_interval_start=None, data_interval_end=None):
        from envmon.pipeline import evaluate_alerts

        return evaluate_alerts(data_interval_start, data_interval_end)

    @task
    def publish(data_interval_start=None, data_interval_end=None):
        from envmon.pipeline import publish_realtime

        return publish_realtime(data_interval_start, data_interval_end)

    load() >> qc() >> aggregate() >> alerts() >> publish()


hourly()
