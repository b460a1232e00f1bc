"""monthly: on the 1st, the month's statistics and indices, data transmission efficiency,
the monthly rules and the public disclosure tables."""

from airflow.sdk import CronDataIntervalTimetable, dag, task

from envmon import dag_defaults as d


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
    @task(pool=d.WAREHOUSE_POOL)
    def aggregate_month(data_interval_start=None):
        from envmon.pipeline import derive_month

        return derive_month(data_interval_start)

    @task(pool=d.WAREHOUSE_POOL)
    def transmission_efficiency(data_interval_start=None):
        from envmon.pipeline import transmission_efficiency

        return transmission_efficiency(data_interval_start)

    @task(pool=d.WAREHOUSE_POOL)
    def alerts(data_interval_start=None, data_interval_end=None):
        from envmon.pipeline import evaluate_alerts

        return evaluate_alerts(data_interval_start, data_interval_end)

    @task
    def publish(data_interval_start=None):
        from envmon.pipeline import publish_month

        return publish_month(data_interval_start)

    stats = aggregate_month()
    eff = transmission_efficiency()
    [stats, eff] >> alerts() >> publish()


monthly()
