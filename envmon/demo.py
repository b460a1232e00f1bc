"""The demo: the whole system on embedded defaults, ending with a readable summary.

1. a warehouse and the registry (12 air stations, water sections, noise points, 30 enterprises);
2. the services a bureau runs: Mosquitto, the MQTT ingestor and the HJ 212 server, each its own
   process, exactly as staff would start them;
3. data arriving as it does in real life: stations publish over MQTT, enterprises' data loggers
   send HJ 212 over TCP, a laboratory drops a results file into the inbox. The loggers follow a
   scripted scenario on top of their random behaviour: a night-time exceedance, a frozen
   analyser and an outage (config/demo/scenario.yaml);
4. the ingestors land everything in the landing zone; then the real Airflow DAGs run for those
   dates (`dag.test()`, as `airflow dags test`): load, QC, aggregation, AQI, rules, cases,
   the daily report and the month's disclosure tables. Between them, day by day, the grid's
   officers work the night exceedance's case with the commands staff type (`envmon cases
   assign|move`, `envmon alerts escalate`, `envmon cases show`), each at an explicit local time
   inside the data's period: a rectification order with a deadline, the exceedance continuing
   on the three following days, the escalation to the leader and the count of continuing days
   (按日连续处罚; the scenario file's `enforcement:`);
5. a summary: readings, invalid data, AQI by station, alerts and cases naming the enterprise
   and outlet, in local time with whole ids, and each scripted expectation checked.
"""

from __future__ import annotations

import asyncio
import csv
import os
import shlex
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import yaml
from rich.console import Console
from rich.table import Table

from core.errors import EnvmonError
from core.periods import local_minute
from core.registry.config import Registry, load_registry
from core.settings import REPO_ROOT, Settings, get_settings, reset_settings_cache

# A log file or a CI job is not a terminal: keep the tables readable there too.
console = Console(width=None if sys.stdout.isatty() else 140)
SCENARIO_FILE = REPO_ROOT / "config" / "demo" / "scenario.yaml"
# the enforcement story: the day of the order and the three days the exceedance continues
DEFAULT_DAYS = 4


def demo_days(days: int, today: date | None = None) -> list[date]:
    """The last `days` whole local days before today."""
    today = today or datetime.now(get_settings().tz).date()
    return [today - timedelta(days=n) for n in range(days, 0, -1)]


# --------------------------------------------------------------------------- the scenario
@dataclass(frozen=True)
class ScriptedEvent:
    site_id: str
    kind: str  # exceedance | stuck | outage | hourly_mismatch | shutdown (sim.hj212_simulator.EPISODE_KINDS)
    day_offset: int  # 0 = the first demo day
    start_hour: int  # local hour
    hours: int
    parameter: str | None
    factor: float
    expect_rule: str | None  # the rule that must fire and open a case ...
    expect_grid: str | None  # ... in this grid
    expect_no_family: str | None = None  # or: no alert of this rule family at the site in the episode


_SCENARIO_KEYS = ("site_id, kind, start_hour, hours, parameter, factor, day_offset, "
                  "expect.rule_id + expect.grid_id, or expect.no_alert_family")


def load_scenario(path: Path = SCENARIO_FILE) -> list[ScriptedEvent]:
    from sim.hj212_simulator import EPISODE_KINDS

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    events = []
    for i, e in enumerate(data.get("events", [])):
        try:
            expect = e["expect"]
            if not ({"rule_id", "grid_id"} <= set(expect) or "no_alert_family" in expect):
                raise KeyError("expect needs rule_id and grid_id, or no_alert_family")
            if e["kind"] not in EPISODE_KINDS:
                raise ValueError(f"kind {e['kind']!r}; valid: {', '.join(EPISODE_KINDS)}")
            events.append(ScriptedEvent(
                e["site_id"], e["kind"], int(e.get("day_offset", 0)), int(e["start_hour"]),
                int(e["hours"]), e.get("parameter"), float(e.get("factor", 1.5)),
                expect.get("rule_id"), expect.get("grid_id"), expect.get("no_alert_family")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EnvmonError(f"{path}: events[{i}]: {exc!r} (keys: {_SCENARIO_KEYS})") from exc
    return events


# --------------------------------------------------------------------------- the case, as staff work it
@dataclass(frozen=True)
class CaseStep:
    """One command staff type, run after the DAG runs of its day (day_offset) at the local time
    `at` of that day ("HH:MM", given as --at), or with no --at when `at` is None. In `args`,
    {case} is the case's whole id and {date} the step's local date."""

    day_offset: int
    at: str | None
    args: tuple[str, ...]

    def command(self, case_id: str, day: date) -> list[str]:
        """The arguments after `envmon`, as typed."""
        args = [a.replace("{case}", case_id).replace("{date}", day.isoformat()) for a in self.args]
        return args + (["--at", f"{day.isoformat()} {self.at}"] if self.at else [])


@dataclass(frozen=True)
class Enforcement:
    """按日连续处罚: the case of an exceedance at `site_id` (rule family `rule_family`), worked by
    its officers through `steps`; expected in the end: `continuing_days` local days on which the
    exceedance continued after the rectification order, and the case escalated to `escalated_to`."""

    site_id: str
    rule_family: str
    continuing_days: int
    escalated_to: str | None
    steps: tuple[CaseStep, ...]

    def days_needed(self, events: list[ScriptedEvent]) -> int:
        """Days of data the story needs: through its last step and its site's last episode."""
        offsets = [s.day_offset for s in self.steps] + [e.day_offset for e in events if e.site_id == self.site_id]
        return max(offsets, default=0) + 1


_ENFORCEMENT_KEYS = ("site_id, rule_family, expect.continuing_days, expect.escalated_to, "
                     "steps[].day_offset, steps[].at (HH:MM), steps[].args")


def load_enforcement(path: Path = SCENARIO_FILE) -> Enforcement | None:
    """The scenario file's `enforcement:` (None when it has none)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")).get("enforcement")
    if data is None:
        return None
    try:
        steps = []
        for s in data["steps"]:
            at = s.get("at")
            if at is not None:
                datetime.strptime(str(at), "%H:%M")  # refused here, not at the step's turn
            args = s["args"]
            if not isinstance(args, list) or not args:
                raise ValueError(f"args {args!r}: a list of the command's words after `envmon`")
            steps.append(CaseStep(int(s["day_offset"]), None if at is None else str(at), tuple(str(a) for a in args)))
        expect = data["expect"]
        return Enforcement(data["site_id"], data["rule_family"], int(expect["continuing_days"]),
                           expect.get("escalated_to"), tuple(steps))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise EnvmonError(f"{path}: enforcement: {exc!r} (keys: {_ENFORCEMENT_KEYS})") from exc


def plan_runs(day_ends: list[datetime], steps: tuple[CaseStep, ...]) -> list[tuple[str, object]]:
    """The demo's order of work: ("dags", [(dag_id, interval end), ...]) and ("steps", (day_offset,
    [steps])), so that every event lands in time order: the file inbox and the loading, then each
    day's daily run followed by that day's staff commands; the last hour (hourly) after the last
    day's daily run. `day_ends`: the end of each demo day (UTC)."""
    plan: list[tuple[str, object]] = []
    pending: list[tuple[str, datetime]] = [("ingest_files", day_ends[-1]), ("load_landing", day_ends[-1])]
    for i, end in enumerate(day_ends):
        pending.append(("daily", end))
        if i == len(day_ends) - 1:
            pending.append(("hourly", end))
        today = [s for s in steps if s.day_offset == i]
        if today:
            plan.append(("dags", pending))
            plan.append(("steps", (i, today)))
            pending = []
    if pending:
        plan.append(("dags", pending))
    return plan


def find_case(con, site_id: str, rule_family: str) -> str | None:  # type: ignore[no-untyped-def]
    """The whole id of the site's latest case of the family that is not closed or dismissed."""
    row = con.execute(
        """SELECT case_id FROM cases WHERE site_id = ? AND rule_family = ? AND state NOT IN ('closed', 'dismissed')
           ORDER BY opened_at DESC, case_id LIMIT 1""", [site_id, rule_family]).fetchall()
    return row[0][0] if row else None


@dataclass
class EnforcementRun:
    """What the demo did of the enforcement story: the case, each command and its exit code,
    or why it was skipped."""

    case_id: str | None = None
    commands: list[tuple[str, int]] = field(default_factory=list)
    skipped: str | None = None


# --------------------------------------------------------------------------- services
def _child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["ENVMON_HOME"] = str(settings.home)
    return env


def _envmon(*args: str) -> list[str]:
    return [sys.executable, "-m", "envmon", *args]


def _start(cmd: list[str], settings: Settings, log_name: str,
           env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log = open(Path(settings.log_dir) / log_name, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(cmd, env={**_child_env(settings), **(env or {})}, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    """SIGTERM: the ingestors flush, acknowledge what they wrote, and exit."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout_s: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EnvmonError(f"{what} exited with code {proc.returncode} (see the log folder)")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise EnvmonError(f"{what} did not listen on port {port} within {timeout_s:.0f} s")


def _wait_log(settings: Settings, log_name: str, text: str, proc: subprocess.Popen[bytes],
              timeout_s: float = 60) -> None:
    """Until a service has written `text` to its log (e.g. the ingestor's subscription: a message
    published before the first subscription has no session to wait in)."""
    path = Path(settings.log_dir) / log_name
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EnvmonError(f"{log_name.removesuffix('.log')} exited with code {proc.returncode} ({path})")
        if path.exists() and text in path.read_text(encoding="utf-8", errors="replace"):
            return
        time.sleep(0.2)
    raise EnvmonError(f"{path}: no {text!r} within {timeout_s:.0f} s")


def _landed_rows(settings: Settings, source: str, kind: str = "readings") -> int:
    from core.landing import LandingZone

    zone = LandingZone(settings.landing_root)
    return sum(pq.read_metadata(zone.full_path(r)).num_rows for r in zone.list_batches(kind)
               if f"/source={source}/" in r)


def _wait_landed(settings: Settings, source: str, expected: int, timeout_s: float = 180) -> int:
    """Until the ingestor has landed `expected` readings (or nothing more arrives for a while)."""
    deadline = time.monotonic() + timeout_s
    last, still_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = _landed_rows(settings, source)
        if n >= expected:
            return n
        if n != last:
            last, still_since = n, time.monotonic()
        elif time.monotonic() - still_since > 20:
            break
        time.sleep(0.5)
    return max(last, 0)


# --------------------------------------------------------------------------- data sources
def publish_stations(settings: Settings, registry: Registry, port: int, start: datetime, end: datetime) -> int:
    from ingest.mqtt.accounts import ensure_accounts
    from sim.publisher import AccountPublisher, publish_paced
    from sim.station_simulator import SimOptions, StationSimulator

    sim = StationSimulator(registry, SimOptions(seed=7, exceedance_rate=0.0))
    # each station with its own account: the broker takes no anonymous publisher
    accounts = ensure_accounts(settings.home, registry)
    publisher = AccountPublisher("127.0.0.1", port, accounts, client_prefix="envmon-demo")
    publisher.wait_connected()
    readings = 0

    def stream():  # type: ignore[no-untyped-def]
        nonlocal readings
        for m in sim.messages(start, end):
            readings += m.readings
            yield m.topic, m.payload, m.period_start.timestamp()

    try:
        publish_paced(publisher, stream())
    finally:
        publisher.close()
    return readings


def run_loggers(registry: Registry, port: int, start: datetime, end: datetime, days: list[date],
                events: list[ScriptedEvent], tz: ZoneInfo) -> tuple[int, int]:
    from sim.hj212_simulator import Episode, LoggerSimOptions, LoggerSimulator

    episodes = tuple(
        Episode(e.site_id, e.kind,
                datetime(days[e.day_offset].year, days[e.day_offset].month, days[e.day_offset].day,
                         e.start_hour, tzinfo=tz).astimezone(UTC),
                e.hours * 60, e.parameter, e.factor)
        for e in events if e.day_offset < len(days)
    )
    # random episodes off: the demo's exceedances, stuck values and outages are the scripted ones.
    # Each logger keeps its registry habits (minute interval, period label) and sends its running
    # status every 10 minutes, as real loggers do. Daily values (2031) stay off: the no-data rule
    # counts a daily reading as data for each hour of its day, which would hide the scripted outage.
    opts = LoggerSimOptions(seed=11, exceed_rate=0.0, maintenance_rate=0.0, stuck_rate=0.0,
                            outage_rate=0.0, gap_rate=0.002, episodes=episodes, linger_s=0.5,
                            daily=False, running_status_s=600)
    sim = LoggerSimulator(registry, start, end, opts)
    report = asyncio.run(sim.run("127.0.0.1", port))
    return report.readings, report.packets


def drop_lab_file(settings: Settings, registry: Registry, days: list[date]) -> Path:
    """A laboratory's results for the water sections (permanganate index, TP), as a CSV drop."""
    inbox = Path(settings.inbox_dir)
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / f"lab_results_{days[0]:%Y%m%d}.csv"
    tmp = path.with_suffix(".part")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["site_id", "parameter", "period_start", "value", "unit", "flag"])
        for day in days:
            for n, site in enumerate(sorted(s.site_id for s in registry.stations.values() if s.kind == "water")):
                stamp = f"{day.isoformat()}T10:00:00+08:00"
                w.writerow([site, "codmn", stamp, f"{2.4 + 0.3 * n:.1f}", "mg/L", "N"])
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- the demo
def run_demo(home: str | None = None, days: int = DEFAULT_DAYS) -> None:
    if home:
        os.environ["ENVMON_HOME"] = home
        reset_settings_cache()
    settings = get_settings()
    started = time.monotonic()
    console.rule("envmon demo")
    console.print(f"state folder: {settings.home}")
    from envmon.airflow_runner import DagRunResult, ensure_airflow, run_dags
    from envmon.pipeline import day_interval
    from ingest.mqtt.broker import Broker, free_port
    from warehouse.jobs import init_warehouse, load_registry_job

    applied = init_warehouse(settings)
    Path(settings.log_dir).mkdir(parents=True, exist_ok=True)
    console.print(f"[1] warehouse {settings.warehouse_path}: migrations {', '.join(applied) or 'up to date'}")
    registry, _ = load_registry_job(settings)
    console.print(f"    registry: {len(registry.stations)} stations, {len(registry.enterprises)} enterprises, "
                  f"{len(registry.outlets)} outlets, {len(registry.grids)} grids")
    ensure_airflow(settings)  # Airflow's metadata DB and the `warehouse` pool, once
    day_list = demo_days(days)
    start = day_interval(settings, day_list[0])[0]
    end = day_interval(settings, day_list[-1])[1]
    events = load_scenario()
    enforcement = load_enforcement()
    for e in events:
        if e.day_offset >= len(day_list):
            console.print(f"    scenario: {e.kind} at {e.site_id} on day {e.day_offset + 1} skipped "
                          f"(the demo has {len(day_list)} day(s); --days {e.day_offset + 1} or more)")

    with ExitStack() as stack:
        broker = Broker.for_registry(Path(settings.home) / "mosquitto", settings.home, registry).start()
        stack.callback(broker.stop)
        mqtt = _start(_envmon("mqtt", "run", "--host", "127.0.0.1", "--port", str(broker.port)), settings,
                      "mqtt_ingestor.log")
        stack.callback(_stop, mqtt)
        hj_port = free_port()
        # every demo logger connects from this host: allow them all (the default limits one host)
        hj212 = _start(_envmon("hj212", "serve", "--host", "127.0.0.1", "--port", str(hj_port)), settings,
                       "hj212_server.log",
                       {"ENVMON_HJ212_MAX_CONNECTIONS_PER_PEER": str(max(20, 2 * len(registry.outlets)))})
        stack.callback(_stop, hj212)
        _wait_port(hj_port, hj212, "the HJ 212 server")
        _wait_log(settings, "mqtt_ingestor.log", "subscribed to", mqtt)
        console.print(f"[2] services: Mosquitto :{broker.port}, MQTT ingestor (pid {mqtt.pid}), "
                      f"HJ 212 server :{hj_port} (pid {hj212.pid})")

        t = time.monotonic()
        published = publish_stations(settings, registry, broker.port, start, end)
        landed_mqtt = _wait_landed(settings, "mqtt", published)
        console.print(f"[3] stations → MQTT: {published} readings published, {landed_mqtt} landed "
                      f"({time.monotonic() - t:.0f} s)")
        t = time.monotonic()
        sent, packets = run_loggers(registry, hj_port, start, end, day_list, events, settings.tz)
        landed_hj = _wait_landed(settings, "hj212", sent)
        console.print(f"    loggers → HJ 212/TCP: {packets} packets, {sent} readings sent, {landed_hj} landed "
                      f"({time.monotonic() - t:.0f} s)")
        lab = drop_lab_file(settings, registry, day_list)
        console.print(f"    laboratory → inbox: {lab.name}")

    # The DAGs for the demo's dates, as a backfill runs them: the file inbox and loading, each
    # day (its hours are derived and its rules evaluated hour by hour, in order), then the last
    # hour (the real-time page). Between the days, the staff commands of the enforcement story
    # at their local times, so that the case's events stay in time order. The monthly DAG waits
    # for a whole month (`envmon dags run monthly --month YYYY-MM`): a month that has not ended
    # is refused (`envmon publish monthly --allow-partial` publishes one to date, marked
    # provisional).
    t = time.monotonic()
    story = EnforcementRun()
    steps: tuple[CaseStep, ...] = ()
    if enforcement is not None:
        needed = enforcement.days_needed(events)
        if needed > len(day_list):
            story.skipped = (f"the enforcement story (按日连续处罚) at {enforcement.site_id} needs {needed} days of "
                             f"data (--days {needed} or more); this run has {len(day_list)}: skipped")
        else:
            steps = enforcement.steps
    plan = plan_runs([day_interval(settings, day)[1] for day in day_list], steps)
    n_runs = sum(len(item) for kind, item in plan if kind == "dags")  # type: ignore[arg-type]
    console.print(f"[4] Airflow: {n_runs} DAG runs (dag.test, as `airflow dags test`)"
                  + (f", and {len(steps)} commands the grid's officers type, at their local times" if steps else ""))
    if story.skipped:
        console.print(f"    {story.skipped}")

    def show(r: DagRunResult) -> None:
        console.print(f"    {r.dag_id:<13} {dag_interval_text(r.interval_start, r.interval_end, settings.tz)}: "
                      f"{r.state} ({r.seconds:.0f} s, {len(r.task_states)} tasks)")

    results: list[DagRunResult] = []
    for kind, item in plan:
        if kind == "dags":
            results += run_dags(item, settings, on_result=show)  # type: ignore[arg-type]
            continue
        offset, todays = item  # type: ignore[misc]
        work_case(settings, enforcement, story, day_list[offset], todays)  # type: ignore[arg-type]
    failed = [r for r in results if r.state != "success"]
    console.print(f"    {len(results) - len(failed)} succeeded, {len(failed)} failed ({time.monotonic() - t:.0f} s)")
    summary(settings, day_list, events, enforcement, story)
    console.print(f"done in {time.monotonic() - started:.0f} s")
    if failed:
        raise EnvmonError(f"{len(failed)} DAG run(s) failed: {[(r.dag_id, r.task_states) for r in failed]}")


def dag_interval_text(start: str, end: str, tz: ZoneInfo) -> str:
    """A DAG run's data interval in local time with the offset; the end's date only where it
    differs: "2026-12-01 00:00+08:00 → 2026-12-02 00:00+08:00", "2026-12-01 23:00+08:00 → 00:00"."""
    lo, hi = local_minute(datetime.fromisoformat(start), tz), local_minute(datetime.fromisoformat(end), tz)
    return f"{lo} → {hi[11:] if hi[:10] == lo[:10] else hi}"


def work_case(settings: Settings, enforcement: Enforcement, story: EnforcementRun, day: date,
              steps: list[CaseStep]) -> None:
    """The day's commands of the enforcement story, each a real `envmon` process as staff run
    it, printed as typed with its output. The case's id comes from the warehouse (read-only,
    between DAG runs, when no other process writes), so nobody copies ids."""
    from warehouse.db import connect

    if story.skipped:
        return
    console.print(f"    [bold]{day}[/]: the grid's officers work the case (按日连续处罚)")
    if story.case_id is None:
        with connect(settings, write=False, purpose="envmon demo: the case") as con:
            story.case_id = find_case(con, enforcement.site_id, enforcement.rule_family)
        if story.case_id is None:
            story.skipped = (f"no open {enforcement.rule_family} case at {enforcement.site_id} after the DAG runs "
                             f"of {day}: the enforcement story cannot go on")
            console.print(f"    [red]{story.skipped}[/]")
            return
    env = {**_child_env(settings), "COLUMNS": str(max(80, console.width - 6))}
    for step in steps:
        args = step.command(story.case_id, day)
        typed = shlex.join(["envmon", *args])
        console.print(f"    $ {typed}", markup=False, highlight=False, soft_wrap=True)  # one line, to copy
        done = subprocess.run(_envmon(*args), env=env, capture_output=True, text=True, timeout=600)
        lines = (done.stdout + done.stderr).rstrip().splitlines()
        if args[:2] == ["cases", "show"] and "alerts" in (stripped := [line.strip() for line in lines]):
            cut = stripped.index("alerts")
            lines = [*lines[:cut], f"(… its alerts, evidence and the readings around the exceedance: "
                                   f"{len(lines) - cut} more lines)"]
        for line in lines:
            console.print(f"      {line}", markup=False, highlight=False)
        if done.returncode != 0:
            console.print(f"      [red]exit code {done.returncode}[/]")
        story.commands.append((typed, done.returncode))


def _episode_utc(settings: Settings, day_list: list[date], e: ScriptedEvent) -> tuple[datetime, datetime]:
    day = day_list[e.day_offset]
    first = datetime(day.year, day.month, day.day, e.start_hour, tzinfo=settings.tz)
    return first.astimezone(UTC), (first + timedelta(hours=e.hours)).astimezone(UTC)


def _has_table(con, name: str) -> bool:  # type: ignore[no-untyped-def]
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                            [name]).fetchone()[0])


def scenario_checks(con, settings: Settings, day_list: list[date],  # type: ignore[no-untyped-def]
                    events: list[ScriptedEvent]) -> list[tuple[str, bool]]:
    """One line per scripted episode (its alert and case, or the absence of an alert family),
    and for a shut-down, that its hours are shown as not operating."""
    def q(sql: str, **params: object) -> list[tuple]:
        return con.execute(sql, params).fetchall()

    out: list[tuple[str, bool]] = []
    labels = dict(q("SELECT site_id, label_zh FROM v_site_labels"))
    for e in events:
        if e.day_offset >= len(day_list):
            continue
        first, end = _episode_utc(settings, day_list, e)
        window = f"{local_minute(first, settings.tz)[:16]}–{local_minute(end, settings.tz)[11:]}"
        where = f"{labels.get(e.site_id, e.site_id)} ({e.site_id}, {window})"
        if e.expect_rule is not None:
            # the alert of the episode: its exceeded periods overlap the episode's hours
            hit = q("""SELECT a.alert_id, a.case_id, c.grid_id FROM alerts a LEFT JOIN cases c USING (case_id)
                       WHERE a.rule_id = $r AND a.site_id = $s AND a.first_period < $end AND a.last_period >= $first
                       ORDER BY a.first_period""", r=e.expect_rule, s=e.site_id, first=first, end=end)
            ok = bool(hit) and all(g == e.expect_grid for _, _, g in hit)
            got = "; ".join(f"{a} → case {c or '-'} in {g or '-'}" for a, c, g in hit)
            out.append((f"scenario {e.kind} at {where}: expected {e.expect_rule} → case in {e.expect_grid}; "
                        f"got {len(hit)} alert(s){': ' + got if hit else ''}", ok))
        if e.expect_no_family is not None:
            hit = q("""SELECT rule_id, parameter, round(max_value, 1), limit_value FROM alerts
                       WHERE site_id = $s AND rule_family = $f AND first_period < $end
                         AND last_period >= $first ORDER BY first_period""",
                    s=e.site_id, f=e.expect_no_family, first=first, end=end)
            out.append((f"scenario {e.kind} at {where}: expected no {e.expect_no_family} alert; "
                        f"got {len(hit)}{': ' + str(hit) if hit else ''}", not hit))
        if e.kind == "shutdown" and _has_table(con, "outlet_hours"):
            hours = q("""SELECT count(*), count(*) FILTER (WHERE NOT operating),
                               any_value(not_operating_reason) FILTER (WHERE NOT operating)
                        FROM (SELECT DISTINCT period_start, operating, not_operating_reason FROM outlet_hours
                              WHERE site_id = $s AND period_start >= $first AND period_start < $end)""",
                      s=e.site_id, first=first, end=end)
            _, stopped, reason = hours[0]
            out.append((f"shut-down hours at {where}: {stopped} of {e.hours} shown as not operating "
                        f"({reason or '-'})", stopped >= e.hours))
    # loggers with real habits (not 1-minute, or end-labelled) and no scripted episode: their hours
    # must come out right, so no consistency alert (their hourly values agree with their minutes)
    reg = load_registry(settings.config_dir)
    scripted = {e.site_id for e in events}
    for site_id, (_, outlet) in sorted(reg.outlets.items()):
        facts = reg.logger_facts(outlet.logger.mn)
        if site_id in scripted or facts is None or (facts.minute_interval_s, facts.hour_label) == (60, "start"):
            continue
        hit = q("SELECT rule_id FROM alerts WHERE site_id = $s AND rule_kind = 'consistency'", s=site_id)
        valid = q("""SELECT count(DISTINCT period_start) FILTER (WHERE valid), count(DISTINCT period_start)
                     FROM outlet_hours WHERE site_id = $s""", s=site_id)[0] if _has_table(
            con, "outlet_hours") else (0, 0)
        out.append((f"{facts.minute_interval_s // 60}-minute logger with {facts.hour_label}-labelled periods at "
                    f"{labels.get(site_id, site_id)} ({site_id}): {valid[0]} of {valid[1]} hours valid, "
                    f"{len(hit)} consistency alert(s), expected none",
                    not hit and valid[0] > 0))
    return out


def enforcement_checks(con, settings: Settings, day_list: list[date],  # type: ignore[no-untyped-def]
                       events: list[ScriptedEvent], enforcement: Enforcement,
                       story: EnforcementRun) -> list[tuple[str, bool]]:
    """The enforcement story's outcome: every command accepted, the case escalated to the
    expected leader, and the continuing days (按日连续处罚) counted: as many as expected, on the
    days of the site's scripted exceedances after the order's day."""
    from alerts.cases import deadline_text, state_label

    if story.skipped and story.case_id is None:
        return []
    tz = settings.tz
    failed = [typed for typed, code in story.commands if code != 0]
    out = [(f"enforcement: {len(story.commands)} staff command(s) run, "
            + (f"{len(failed)} refused: {'; '.join(failed)}" if failed else "all accepted"), not failed)]
    row = con.execute(
        """SELECT c.case_id, l.label_zh, c.state, c.rectification_ordered_at, c.deadline, c.escalated_to,
                  p.name_zh || ' ' || p.name_en, c.escalated_at
           FROM cases c JOIN v_site_labels l USING (site_id) LEFT JOIN v_people p ON p.person_id = c.escalated_to
           WHERE c.case_id = ?""", [story.case_id]).fetchall()
    if not row:
        return [*out, (f"enforcement: case {story.case_id} not found", False)]
    case_id, label, state, ordered, deadline, leader, leader_name, escalated_at = row[0]
    days = [d for (d,) in con.execute("SELECT local_date FROM case_exceedance_days WHERE case_id = ? ORDER BY 1",
                                      [case_id]).fetchall()]
    order_day = min((s.day_offset for s in enforcement.steps if "rectification_ordered" in s.args), default=0)
    scripted = sorted({day_list[e.day_offset] for e in events if e.site_id == enforcement.site_id
                       and e.kind == "exceedance" and order_day < e.day_offset < len(day_list)})
    out.append((f"enforcement at {label} ({enforcement.site_id}): case {case_id} {state_label(state)}, "
                f"rectification ordered {local_minute(ordered, tz) or '-'}, deadline {deadline_text(deadline, tz) or '-'}; "
                f"escalated to {leader_name or 'nobody'} ({leader or '-'}) at {local_minute(escalated_at, tz) or '-'}, "
                f"expected {enforcement.escalated_to}",
                ordered is not None and leader == enforcement.escalated_to))
    out.append((f"enforcement: the exceedance continued on {len(days)} day(s) after the order "
                f"({', '.join(str(d) for d in days) or 'none'}); expected {enforcement.continuing_days} "
                f"({', '.join(str(d) for d in scripted)})",
                len(days) == enforcement.continuing_days and days == scripted))
    return out


def summary(settings: Settings, day_list: list[date], events: list[ScriptedEvent],
            enforcement: Enforcement | None = None, story: EnforcementRun | None = None) -> None:
    from alerts.cases import state_label
    from warehouse.db import connect

    tz = settings.tz
    last = day_list[-1]
    with connect(settings, write=False, purpose="envmon demo summary") as con:
        def q(sql: str, **params: object) -> list[tuple]:
            return con.execute(sql, params).fetchall()

        console.rule("summary")
        for source, n, sites in q("SELECT source_kind, count(*), count(DISTINCT site_id) FROM readings "
                                  "GROUP BY 1 ORDER BY 1"):
            console.print(f"readings from {source}: {n} ({sites} sites)")
        invalid = q("SELECT effective_verdict, count(*) FROM v_readings_qc WHERE effective_verdict <> 'pass' "
                    "GROUP BY 1 ORDER BY 1")
        console.print("not passed by QC: " + (", ".join(f"{v} {n}" for v, n in invalid) or "none"))
        dead = q("SELECT source_kind, count(*) FROM dead_letters GROUP BY 1 ORDER BY 1")
        console.print("dead letters: " + (", ".join(f"{s} {n}" for s, n in dead) or "none"))

        table = Table(title=f"daily AQI {last} (HJ 633 edition in force)")
        for col in ("site", "站点", "AQI", "level", "category", "primary pollutants", "valid"):
            table.add_column(col)
        for site, name_zh, aqi, level, cat, prim, valid in q(
            """SELECT a.site_id, coalesce(s.name_zh, '全市'), a.aqi, a.level, a.category,
                      a.primary_pollutants, a.valid
               FROM aqi_daily a LEFT JOIN sites s USING (site_id)
               WHERE a.local_date = $d ORDER BY a.scope DESC, a.site_id""", d=last):
            table.add_row(site, name_zh, str(aqi or "—"), str(level or "—"), cat or "—", prim or "—",
                          "yes" if valid else "no")
        console.print(table)

        # enterprises by their registered name and outlet (v_site_labels), times local with the
        # offset, ids whole (no_wrap: a folded id cannot be copied)
        alerts = Table(title=f"alerts (times {tz})")
        alerts.add_column("alert", no_wrap=True)
        alerts.add_column("case", no_wrap=True)
        alerts.add_column("enterprise / outlet · rule", overflow="fold")
        alerts.add_column("state")
        alerts.add_column("first period", no_wrap=True)
        alerts.add_column("max / limit", justify="right")
        for alert_id, case_id, rule, label, param, state, first, vmax, vlim in q(
            """SELECT a.alert_id, coalesce(a.case_id, ''), a.rule_id, l.label_zh, coalesce(a.parameter, ''),
                      a.state, a.first_period, a.max_value, a.limit_value
               FROM alerts a JOIN v_site_labels l USING (site_id)
               ORDER BY a.first_period, a.rule_id, a.site_id"""):
            limit = f"{vmax:.4g} / {vlim:.4g}" if vmax is not None and vlim is not None else (
                f"{vmax:.4g}" if vmax is not None else "")
            alerts.add_row(alert_id, case_id, f"{label}\n{rule} {param}".rstrip(), state,
                           local_minute(first, tz), limit)
        console.print(alerts)

        cases = Table(title=f"inspection cases by grid (times {tz})")
        cases.add_column("case", no_wrap=True)
        cases.add_column("enterprise / outlet · family", overflow="fold")
        cases.add_column("state")
        cases.add_column("grid · officer", overflow="fold", min_width=31)  # "(key_enterprises_responsible)"
        cases.add_column("opened → deadline", no_wrap=True)
        for case_id, label, family, state, grid, officer, leader, opened, deadline in q(
            """SELECT c.case_id, l.label_zh, c.rule_family, c.state, g.name_zh,
                      coalesce(p.name_zh || ' ' || p.name_en || ' (' || c.officer_id || ')', c.officer_id, '(nobody)'),
                      coalesce(e.name_zh || ' ' || e.name_en || ' (' || c.escalated_to || ')', c.escalated_to),
                      c.opened_at, c.deadline
               FROM cases c JOIN grids g USING (grid_id) JOIN v_site_labels l USING (site_id)
               LEFT JOIN v_people p ON p.person_id = c.officer_id
               LEFT JOIN v_people e ON e.person_id = c.escalated_to
               ORDER BY c.grid_id, c.opened_at"""):
            cases.add_row(case_id, f"{label}\n{family}", state_label(state).replace(" ", "\n", 1),
                          f"{grid}\n{officer}" + (f"\nescalated to {leader}" if leader else ""),
                          local_minute(opened, tz) + (f"\n→ {local_minute(deadline, tz)}" if deadline else ""))
        console.print(cases)

        checks = scenario_checks(con, settings, day_list, events)
        if enforcement is not None and story is not None:
            checks += enforcement_checks(con, settings, day_list, events, enforcement, story)
        for line, ok in checks:
            console.print(f"{line}: " + ("[green]as expected[/]" if ok else "[red]NOT as expected[/]"))
        if story is not None and story.skipped:
            console.print(story.skipped)
    site = Path(settings.site_dir)
    console.print(f"published daily air quality report: {site / 'index.html'} "
                  f"(real-time page: {site / 'realtime.html'})")
