"""`province_daily` on a real Airflow deployment: LocalExecutor, several workers, one machine.

What `dag.test()` (envmon.airflow_runner) cannot show: the mapped `aggregate_region` tasks
running at the same time in separate LocalExecutor worker processes. This bench

1. generates a small province-day (bench/province_data.py via bench/province.py `prepare`:
   registry YAML, landing batches, warehouse with the registry loaded);
2. sets up a throw-away Airflow home: LocalExecutor with `parallelism = --workers` (the
   executor forks that many worker processes), a metadata DB (SQLite, or a PostgreSQL
   cluster started for the run with `--metadata-db postgres`), the `warehouse` pool;
3. starts `airflow api-server` (on a free loopback port: the workers' tasks talk to its
   execution API), `airflow dag-processor` and `airflow scheduler`;
4. unpauses `province_daily` and triggers it through the REST API for the generated local
   day, with the data interval and logical date the scheduler would give that day's run;
5. waits for the run, prints every task instance (start, end, duration, host, pid), the
   most `aggregate_region` instances that ran at once (from their start/end, and as seen
   in the process table), and the wall time;
6. stops every component (also on failure or Ctrl-C) and checks that none is left;
7. compares the warehouse tables the run wrote with the unpartitioned derivations
   (`derive_hours` + `derive_days`) of the same day, row by row.

Nothing listens on other than 127.0.0.1; everything goes in a temporary directory, removed
at the end unless --keep or --workdir.

Usage:  .venv/bin/python bench/province_executor.py                 (0.05, 3 workers)
        .venv/bin/python bench/province_executor.py --workers 2 --metadata-db postgres
            (PostgreSQL from Debian's packages; its drivers: pip install -e '.[executor]')
        .venv/bin/python bench/province_executor.py --set workers__min_heartbeat_interval=1
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.province import home_env, prepare  # noqa: E402
from bench.province_data import TZ, ProvinceShape, day_bounds  # noqa: E402

DAG_ID = "province_daily"
MAPPED_TASK = "aggregate_region"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
TERMINAL_RUN_STATES = {"success", "failed"}
WORKER_TITLE = "airflow worker -- LocalExecutor: "  # + the task instance's id while busy
STOP_GRACE_S = 60.0


class BenchError(RuntimeError):
    pass


def free_port() -> int:
    """A free loopback port (the OS picks it; free again by the time a server binds it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- processes we start
class Components:
    """The long-running processes this bench started. Each gets its own session (process
    group), so that stopping it also reaches the processes it forked (executor workers,
    task supervisors and tasks), and nothing else."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.names: list[str] = []  # every component started, kept after stop() (for the logs)
        self.groups: list[int] = []  # every process group started, kept after stop()

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        with open(self.log_dir / f"{name}.log", "w", encoding="utf-8") as log:
            proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        self.procs.append((name, proc))
        self.names.append(name)
        self.groups.append(proc.pid)
        return proc

    def left_running(self) -> int:
        """Processes still alive in any group this bench started (0 after a clean stop)."""
        return sum(_group_members(pgid) for pgid in self.groups)

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, chars: int = 3000) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace")[-chars:] if path.exists() else ""

    def stop(self) -> list[str]:
        """Stop in reverse start order (the scheduler first: it ends its executor's workers);
        SIGTERM to each component, then to what is left of its group, SIGKILL as a last resort.
        Returns one line per component."""
        report = []
        for name, proc in reversed(self.procs):
            how = "exited before"
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_GRACE_S)
                    how = "stopped (SIGTERM)"
                except subprocess.TimeoutExpired:
                    how = "killed after SIGTERM timed out"
            leftovers = _stop_group(proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            report.append(f"{name} (pid {proc.pid}): {how}, exit {proc.returncode}"
                          + (f"; {leftovers} leftover process(es) of its group ended" if leftovers else ""))  # fmt: skip
        self.procs.clear()
        return report


def _group_members(pgid: int) -> int:
    return sum(1 for _, _, group, state, _ in _processes() if group == pgid and state != "Z")


def _stop_group(pgid: int) -> int:
    """End whatever is left in a component's process group; how many were left."""
    left = _group_members(pgid)
    for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        if not _group_members(pgid):
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and _group_members(pgid):
            time.sleep(0.1)
    return left


# ---------------------------------------------------------------- metadata DB
class Postgres:
    """A throw-away PostgreSQL cluster on a loopback port, owned by an unprivileged user
    (the server refuses to run as root), removed at the end."""

    def __init__(self, port: int) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version_key)
        pg_ctl = bins[-1] if bins else shutil.which("pg_ctl")
        if not pg_ctl:
            raise BenchError("PostgreSQL is not installed: apt-get install postgresql")
        self.bindir = Path(pg_ctl).parent
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="envmon-pg-"))
        self.data = self.root / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_user, str(self.bindir / tool), *args],
                              capture_output=True, text=True, cwd=self.root)  # fmt: skip
        if done.returncode != 0:
            raise BenchError(f"{tool} {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")

    def start(self) -> str:
        self._run("initdb", "-D", str(self.data), "-U", "airflow", "--auth=trust", "-E", "UTF8",
                  "--no-instructions")  # fmt: skip
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "server.log"),
                  "-w", "start")  # fmt: skip
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "airflow", "airflow")
        return f"postgresql+psycopg2://airflow@127.0.0.1:{self.port}/airflow"

    def stop(self) -> str:
        if (self.data / "postmaster.pid").exists():  # also when interrupted half-way through start()
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        return f"postgres (port {self.port}): stopped, cluster removed"


def _version_key(path: str) -> tuple[int, ...]:
    part = Path(path).parent.parent.name
    return tuple(int(x) for x in part.split(".") if x.isdigit())


# ---------------------------------------------------------------- Airflow
def airflow_env(base: dict[str, str], airflow_home: Path, db_url: str, port: int, workers: int,
                extra: list[str]) -> dict[str, str]:  # fmt: skip
    """Every component's environment: the envmon home the tasks work on, and the deployment;
    `extra` are SECTION__KEY=VALUE settings given with --set."""
    env = {k: v for k, v in base.items() if not k.startswith("AIRFLOW")}  # nothing inherited
    url = f"http://127.0.0.1:{port}"
    env.update({
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), base.get("PYTHONPATH", "")) if p),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(workers),  # the LocalExecutor forks this many workers
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": env.get("ENVMON_TZ", TZ),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        # the scheduler signs the tasks' tokens, the api-server checks them: one shared secret
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        # only our triggered run: unpausing must not add a scheduled run of the latest whole day
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # a failed task retries after 5 s, not 30 s: a bench should fail fast
        "ENVMON_RETRY_DELAY_S": base.get("ENVMON_RETRY_DELAY_S", "5"),
    })  # fmt: skip
    if db_url.startswith("postgresql+psycopg2"):
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = db_url.replace("+psycopg2", "+asyncpg")
    for setting in extra:
        key, _, value = setting.partition("=")
        env[f"AIRFLOW__{key.upper()}"] = value
    return env


def airflow_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"`airflow {' '.join(args)}` failed:\n{done.stderr[-3000:]}")
    return done.stdout


class Api:
    """The REST API of the api-server (SimpleAuthManager, every user admin: a token for free)."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.token = ""

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def wait_ready(self, components: Components, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            components.check_alive()
            try:
                self.token = self.call("GET", "/auth/token")["access_token"]
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise BenchError(f"the api-server did not answer within {timeout_s:.0f} s") from None
                time.sleep(1)

    def wait_dag(self, components: Components, timeout_s: float) -> None:
        """Until the dag-processor has parsed and stored the DAG."""
        deadline = time.monotonic() + timeout_s
        while True:
            components.check_alive()
            try:
                self.call("GET", f"/api/v2/dags/{DAG_ID}")
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 404 or time.monotonic() > deadline:
                    raise BenchError(f"{DAG_ID} not parsed within {timeout_s:.0f} s: {exc}") from None
                time.sleep(2)


def trigger(api: Api, day: date) -> dict:
    """Trigger the run of local day `day` as the scheduler would have made it: data interval
    [local midnight, next local midnight), logical date = interval start, run after its end.
    (`airflow dags trigger --logical-date` would infer the interval from *now*, not the date.)"""
    start, end = day_bounds(day)
    body = {
        "dag_run_id": f"envmon_bench__{day.isoformat()}",
        "logical_date": start.isoformat(),
        "data_interval_start": start.isoformat(),
        "data_interval_end": end.isoformat(),
        "run_after": end.isoformat(),
        "conf": {},
        "note": "bench/province_executor.py",
    }
    return api.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", body)


def wait_run(api: Api, components: Components, run_id: str, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    quoted = urllib.parse.quote(run_id, safe="")
    last = None
    while True:
        components.check_alive()
        run = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{quoted}")
        if run["state"] in TERMINAL_RUN_STATES:
            return run
        if time.monotonic() > deadline:
            raise BenchError(f"run {run_id} still {run['state']} after {timeout_s:.0f} s")
        states = _state_counts(task_instances(api, run_id))
        if states != last:
            print(f"  [{time.strftime('%H:%M:%S')}] run {run['state']}; tasks {states}", flush=True)
            last = states
        time.sleep(2)


def task_instances(api: Api, run_id: str) -> list[dict]:
    quoted = urllib.parse.quote(run_id, safe="")
    out = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{quoted}/taskInstances?limit=1000")
    return sorted(out["task_instances"], key=lambda t: (t.get("start_date") or "~", t["task_id"], t["map_index"]))


def partition_seconds(api: Api, run_id: str, mapped: list[dict]) -> float | None:
    """Seconds spent in `compute_partition` itself over all regions (its return value says);
    the rest of a task's duration is start-up: fork, DAG file parse, imports, API calls."""
    quoted = urllib.parse.quote(run_id, safe="")
    total = 0.0
    for ti in mapped:
        path = (f"/api/v2/dags/{DAG_ID}/dagRuns/{quoted}/taskInstances/{MAPPED_TASK}"
                f"/xcomEntries/return_value?map_index={ti['map_index']}")  # fmt: skip
        try:
            value = api.call("GET", path)["value"]
        except urllib.error.HTTPError:
            return None
        value = json.loads(value) if isinstance(value, str) else value
        total += float(value["seconds"])
    return total


def _state_counts(tis: list[dict]) -> str:
    counts: dict[str, int] = {}
    for ti in tis:
        counts[str(ti["state"])] = counts.get(str(ti["state"]), 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


class WorkerSampler(threading.Thread):
    """Reads the process table while the run goes on: which LocalExecutor worker (a child of
    the scheduler) is busy with which task instance (a busy worker's title ends with the task
    instance's id). An account of concurrency independent of the times Airflow records."""

    def __init__(self, scheduler_pid: int, interval_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.scheduler_pid = scheduler_pid
        self.interval_s = interval_s
        self.samples: list[dict[int, str]] = []  # worker pid -> task instance id, per sample
        self.workers: set[int] = set()  # every worker pid seen, idle or busy
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval_s):
            busy = {}
            for pid, ppid, _, _, title in _processes():
                if ppid != self.scheduler_pid or not title.startswith(WORKER_TITLE):
                    continue
                self.workers.add(pid)
                if "<idle>" not in title:
                    busy[pid] = title.removeprefix(WORKER_TITLE).strip()
            self.samples.append(busy)

    def peak(self, ti_ids: set[str]) -> tuple[int, set[int]]:
        """Most workers busy at once with the given task instances, and which workers ran them."""
        peak, pids = 0, set()
        for busy in self.samples:
            mine = {pid for pid, ti in busy.items() if ti in ti_ids}
            peak = max(peak, len(mine))
            pids |= mine
        return peak, pids


def _processes() -> list[tuple[int, int, int, str, str]]:
    """(pid, parent pid, process group, state, title) of every process, from /proc."""
    out = []
    for proc in glob.glob("/proc/[0-9]*"):
        try:
            stat = Path(proc, "stat").read_text().rsplit(")", 1)[1].split()
            title = Path(proc, "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        out.append((int(proc[6:]), int(stat[1]), int(stat[2]), stat[0], title))
    return out


# ---------------------------------------------------------------- figures
def _ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """Most intervals open at one instant (an end and a start at the same instant do not overlap)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals],
                    key=lambda ev: (ev[0], ev[1]))  # fmt: skip
    peak = now = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def print_tasks(tis: list[dict], origin: datetime) -> None:
    def rel(text: str | None) -> str:
        t = _ts(text)
        return f"{(t - origin).total_seconds():7.1f}" if t else f"{'-':>7}"

    print(f"\n  task instances (start/end in s after the run started at {origin:%Y-%m-%d %H:%M:%S} UTC)")
    print(f"  {'task_id':<18} {'map':>4} {'state':<15} {'try':>3} {'start':>7} {'end':>7} {'secs':>6}  host / pid")
    for ti in tis:
        dur = f"{ti['duration']:6.1f}" if ti.get("duration") is not None else f"{'-':>6}"
        print(f"  {ti['task_id']:<18} {ti['map_index']:>4} {ti['state']!s:<15} {ti.get('try_number', 0):>3} "
              f"{rel(ti.get('start_date'))} {rel(ti.get('end_date'))} {dur}  "
              f"{ti.get('hostname') or '-'} / {ti.get('pid') or '-'}")  # fmt: skip


def failure_reasons(airflow_home: Path, run_id: str, tis: list[dict]) -> list[str]:
    """The exception of each failed task instance's last try, from its log (JSON lines)."""
    out = []
    for ti in tis:
        if ti["state"] != "failed":
            continue
        mapped = f"map_index={ti['map_index']}/" if ti["map_index"] >= 0 else ""
        log = (airflow_home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={ti['task_id']}"
               / f"{mapped}attempt={ti['try_number']}.log")  # fmt: skip
        reason = "no log"
        with contextlib.suppress(OSError):
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
                with contextlib.suppress(ValueError, AttributeError):
                    for err in json.loads(line).get("error_detail") or []:
                        where = err["frames"][-1] if err.get("frames") else {}
                        reason = (f"{err['exc_type']}: {err['exc_value']} "
                                  f"({Path(where.get('filename', '?')).name}:{where.get('lineno', '?')})")  # fmt: skip
        out.append(f"{ti['task_id']}[{ti['map_index']}] try {ti['try_number']}: {reason}")
    return out


def compare_with_unpartitioned(env: dict[str, str], day: date, snap: Path) -> dict:
    """Snapshot the tables the Airflow run wrote, run the unpartitioned derivations of the same
    day over them (replacing the day's rows), and compare row by row."""
    snap.mkdir(parents=True, exist_ok=True)
    code = (
        "import json, sys, time, datetime as dt\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from bench.province_data import day_bounds\n"
        "from envmon import pipeline\n"
        "from bench.province_compare import compare_tables, snapshot_tables\n"
        f"s, e = day_bounds(dt.date.fromisoformat({day.isoformat()!r}))\n"
        f"rows = snapshot_tables(None, {str(snap)!r})\n"
        "t0 = time.perf_counter(); pipeline.derive_hours(s, e); pipeline.derive_days(s, e)\n"
        "secs = time.perf_counter() - t0\n"
        f"print(json.dumps({{'rows': rows, 'unpartitioned_s': secs, 'tables': compare_tables(None, {str(snap)!r})}}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise BenchError(f"comparison failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


# ---------------------------------------------------------------- the deployment
class Deployment:
    """Metadata DB, Airflow home and the three components, for one envmon home. `stop()` stops
    them all, the DB last; calling it again does nothing."""

    def __init__(self, workdir: Path, envmon_env: dict[str, str], a: argparse.Namespace) -> None:
        self.workdir, self.envmon_env, self.args = workdir, envmon_env, a
        self.airflow_home = workdir / "airflow"
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        self.components = Components(self.airflow_home)
        self.postgres = Postgres(free_port()) if a.metadata_db == "postgres" else None
        self.port = free_port()
        self.api = Api(f"http://127.0.0.1:{self.port}")
        self.sampler: WorkerSampler | None = None
        self.stopped: list[str] = []

    def start(self) -> None:
        t0 = time.perf_counter()
        a = self.args
        db_url = self.postgres.start() if self.postgres else f"sqlite:///{self.airflow_home / 'airflow.db'}"
        self.env = airflow_env(self.envmon_env, self.airflow_home, db_url, self.port, a.workers, a.set)
        airflow_cli(self.env, "db", "migrate")
        airflow_cli(self.env, "pools", "set", "warehouse", "1", "envmon warehouse: one DuckDB writer")
        print(f"  metadata DB migrated, pool `warehouse` (1 slot): {time.perf_counter() - t0:.1f} s", flush=True)
        t0 = time.perf_counter()
        start = self.components.start
        start("api-server", [AIRFLOW, "api-server", "-H", "127.0.0.1", "-p", str(self.port)], self.env)
        start("dag-processor", [AIRFLOW, "dag-processor"], self.env)
        # --skip-serve-logs: the log server would listen on 0.0.0.0:8793; the logs are local files
        scheduler = start("scheduler", [AIRFLOW, "scheduler", "--skip-serve-logs"], self.env)
        self.sampler = WorkerSampler(scheduler.pid)
        self.sampler.start()
        self.api.wait_ready(self.components, 180)
        self.api.wait_dag(self.components, 300)
        print(f"  components up, {DAG_ID} parsed: {time.perf_counter() - t0:.1f} s", flush=True)

    def stop(self) -> list[str]:
        """What was stopped by this call, one line each (also kept in `self.stopped`)."""
        if self.sampler is not None:
            self.sampler.stopped.set()
        lines = self.components.stop()
        if self.postgres is not None:
            lines.append(self.postgres.stop())
            self.postgres = None
        self.stopped += lines
        return lines


def run_day(dep: Deployment, day: date, timeout_s: float) -> tuple[dict, list[dict], float | None]:
    """Unpause, trigger the day's run, wait for it: the run, its task instances, and the seconds
    spent in compute_partition (None unless the run succeeded)."""
    dep.api.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    run = trigger(dep.api, day)
    run_id = run["dag_run_id"]
    print(f"  triggered {run_id}: data interval {run['data_interval_start']} .. {run['data_interval_end']}, "
          f"logical date {run['logical_date']}", flush=True)  # fmt: skip
    run = wait_run(dep.api, dep.components, run_id, timeout_s)
    tis = task_instances(dep.api, run_id)
    mapped = [t for t in tis if t["task_id"] == MAPPED_TASK]
    compute_s = partition_seconds(dep.api, run_id, mapped) if run["state"] == "success" else None
    return run, tis, compute_s


def report_run(dep: Deployment, run: dict, tis: list[dict], compute_s: float | None) -> int:
    """Print the task instances and the figures; the most mapped instances that ran at once."""
    origin = _ts(run["start_date"]) or _ts(run["queued_at"])
    assert origin is not None
    run_s = ((_ts(run["end_date"]) or origin) - origin).total_seconds()
    print(f"\n  run state: {run['state']}   (wall time of the run: {run_s:.1f} s)")
    print_tasks(tis, origin)
    mapped = [t for t in tis if t["task_id"] == MAPPED_TASK]
    spans = [(s, e) for t in mapped if (s := _ts(t.get("start_date"))) and (e := _ts(t.get("end_date")))]
    peak = max_overlap(spans)
    if spans:
        mapped_s = (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds()
        busy = sum(t.get("duration") or 0 for t in mapped)
        print(f"\n  {MAPPED_TASK}: {len(mapped)} mapped instances in {mapped_s:.1f} s "
              f"(their durations add up to {busy:.1f} s: {busy / max(mapped_s, 1e-9):.2f} running on average)")  # fmt: skip
        if compute_s is not None:
            print(f"  ... of which compute_partition itself {compute_s:.1f} s; the rest is task start-up")
    print(f"  max {MAPPED_TASK} instances running at the same time (start/end overlap): {peak}")
    if dep.sampler is not None:
        seen, workers = dep.sampler.peak({t["id"] for t in mapped})
        task_pids = {t["pid"] for t in mapped if t.get("pid")}
        print(f"  ... as seen in the process table: {seen} LocalExecutor workers busy with it at once; "
              f"it ran in workers {sorted(workers)} (of {len(dep.sampler.workers)} forked by the scheduler), "
              f"as {len(task_pids)} task processes")  # fmt: skip
    return peak


def report_comparison(cmp: dict) -> bool:
    same = all(r["identical"] for r in cmp["tables"].values())
    print(f"\n  warehouse tables vs the unpartitioned derive_hours + derive_days "
          f"({cmp['unpartitioned_s']:.1f} s in one process): identical = {same}")  # fmt: skip
    for table, r in cmp["tables"].items():
        print(f"    {table:<16} {r['rows']:>8,} rows  identical={r['identical']}  only Airflow run "
              f"{r['only_snapshot']}, only unpartitioned {r['only_now']}, differing {r['differing']}, "
              f"floats not bitwise {r['float_not_bitwise']} (max rel {r['max_rel_diff']:.1e})")  # fmt: skip
    return same


# ---------------------------------------------------------------- main
def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fraction", type=float, default=0.05, help="fraction of the 1x province")
    ap.add_argument("--regions", type=int, default=16, help="region grids = mapped task instances")
    ap.add_argument("--workers", type=int, default=3, help="LocalExecutor parallelism (worker processes)")
    ap.add_argument("--day", type=date.fromisoformat, default=date(2026, 3, 10))
    ap.add_argument("--metadata-db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the run")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION__KEY=VALUE",
                    help="an Airflow setting for every component, e.g. workers__min_heartbeat_interval=1")  # fmt: skip
    ap.add_argument("--workdir", type=Path, default=None, help="where the homes go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (homes, Airflow logs)")
    a = ap.parse_args()
    if a.workers < 2:
        ap.error("--workers must be at least 2 to show concurrent mapped tasks")
    if any("__" not in s.partition("=")[0] or "=" not in s for s in a.set):
        ap.error("--set takes SECTION__KEY=VALUE, e.g. workers__min_heartbeat_interval=1")
    if a.metadata_db == "postgres":
        missing = [m for m in ("psycopg2", "asyncpg") if importlib.util.find_spec(m) is None]
        if missing:
            ap.error(f"--metadata-db postgres needs {', '.join(missing)}: pip install -e '.[executor]'")
    return a


def main() -> int:
    a = parse_args()
    # clean up on Ctrl-C and on `kill`, also when started with SIGINT ignored (`cmd &` in a script)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="envmon-executor-"))
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / "home"
    dep: Deployment | None = None
    started = time.perf_counter()
    try:
        shape = ProvinceShape.of(1.0, a.fraction, a.regions)
        print(f"== {DAG_ID} on the LocalExecutor, {a.workers} workers, {a.metadata_db} metadata DB"
              "")  # fmt: skip
        print(f"  {shape}; day {a.day}; work dir {workdir}", flush=True)
        prep = prepare(home, shape, a.day)
        print(f"  generated {prep['readings']:,} readings in {prep['batches']:,} landing batches "
              f"({prep['generate_s']} s); warehouse + registry {prep['setup_s']} s", flush=True)  # fmt: skip
        envmon_env = home_env(home)

        dep = Deployment(workdir, envmon_env, a)
        dep.start()
        run, tis, compute_s = run_day(dep, a.day, a.timeout)
        dep.stop()  # the figures come from the API's answers; the comparison writes the warehouse
        peak = report_run(dep, run, tis, compute_s)
        print(f"  wall time of the whole bench so far: {time.perf_counter() - started:.1f} s")
        print("\n  components:")
        for line in dep.stopped:
            print(f"    {line}")
        print(f"    processes left running: {dep.components.left_running()}")

        if run["state"] != "success":
            print("\n  the run failed:")
            reasons = failure_reasons(dep.airflow_home, run["dag_run_id"], tis)
            for line in reasons:
                print(f"    {line}")
            return 1
        same = report_comparison(compare_with_unpartitioned(envmon_env, a.day, workdir / "snapshot"))
        if peak < 2:
            print(f"\n  NOT SHOWN: the mapped tasks never ran at the same time (peak {peak})")
        return 0 if same and peak >= 2 else 1
    except KeyboardInterrupt:
        print("\n  interrupted: stopping the components", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"\n  ERROR: {exc}", file=sys.stderr)
        if dep is not None:
            for name in dep.components.names:
                print(f"\n  --- last lines of {name}.log ---\n{dep.components.tail(name)}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        if dep is not None and (lines := dep.stop()):
            for line in lines:
                print(f"  {line}", file=sys.stderr)
            print(f"  processes left running: {dep.components.left_running()}", file=sys.stderr)
        if a.keep or a.workdir is not None:
            print(f"  kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)


if __name__ == "__main__":
    sys.exit(main())
