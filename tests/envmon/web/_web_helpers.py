"""The staff console's test warehouse: the registry, one exceedance case of 华能北京热电厂's
stack (grid key_enterprises, opened 2025-03-03 10:00 local), one case of the Dongcheng grid, and
an account per role. Built once per session, copied into each test's home."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from _alerts_helpers import add_aggregates, hours, local
from fastapi.testclient import TestClient

from core.settings import Settings, load_settings
from envmon.web.app import create_app
from envmon.web.config import WebConfig

OUTLET = "huaneng_gaobeidian_da001"  # 华能北京热电厂 燃煤机组烟囱1号
OTHER_CASE = "C20250303-dongcheng"
# username -> (person_id, password); every password is unique so a file can be searched for it
ACCOUNTS = {
    "hujun": ("key_enterprises_inspector", "Hu-Jun pass 9f3c1e"),  # officer of the case's grid
    "xuming": ("key_enterprises_leader", "Xu-Ming pass 7a2b4d"),  # its leader
    "zhangping": ("dongcheng_leader", "Zhang-Ping pass 5e6f70"),  # a leader of another grid
    "liyan": ("city_responsible", "Li-Yan pass 0c1d2e"),  # the city above both
    "zhaolei": ("station_tech_zhao", "Zhao-Lei pass 3a4b5c"),  # station staff
    "zhouhao": ("admin_zhou", "Zhou-Hao pass 6d7e8f"),  # administrator
    "sunfang": ("data_reviewer_sun", "Sun-Fang pass 1a2b3c"),  # viewer
}
ROLES = {"sunfang": "viewer"}
START = local(2025, 3, 4, 9)  # the console's clock at the start of a test
_NOT_COPIED = shutil.ignore_patterns("*.lock", "*.lock.*")


def build_case_home(template: Settings, home: Path) -> tuple[Settings, str]:
    from alerts.jobs import evaluate_rules
    from core.identity import load_people
    from envmon.web.users import add_user
    from warehouse.db import connect, transaction

    shutil.copytree(template.home, home, ignore=_NOT_COPIED, dirs_exist_ok=True)
    settings = load_settings({"ENVMON_HOME": str(home)})
    add_aggregates(settings, OUTLET, "so2", "hour_avg_o2", [(local(2025, 3, 3, 9), 75.0)]
                   + [(t, 40.0) for t in hours(local(2025, 3, 3, 10), 2)])
    evaluate_rules(settings, local(2025, 3, 3, 9), local(2025, 3, 3, 12))
    people = load_people(settings.config_dir)
    with connect(settings) as con, transaction(con):
        ((case_id,),) = con.execute("SELECT case_id FROM cases").fetchall()
        site = con.execute("SELECT site_id FROM sites WHERE kind = 'air' ORDER BY site_id LIMIT 1").fetchall()[0][0]
        opened = local(2025, 3, 3, 11)
        con.execute(
            "INSERT INTO cases (case_id, site_id, rule_family, grid_id, officer_id, state, title, opened_at) "
            "VALUES (?, ?, 'aqi', 'dongcheng', 'dongcheng_responsible', 'assigned', '东城区 AQI 超标', ?)",
            [OTHER_CASE, site, opened],
        )
        con.execute("INSERT INTO case_events VALUES (?, 1, ?, 'system', 'opened', NULL, 'open', 'test case')",
                    [OTHER_CASE, opened])
        for username, (person_id, password) in ACCOUNTS.items():
            add_user(con, username, people.find(person_id), password, role=ROLES.get(username), by="test",
                     at=local(2025, 3, 1, 9))
    return settings, case_id


def install(case_home: Settings, settings: Settings) -> Settings:
    shutil.copytree(case_home.home, settings.home, ignore=_NOT_COPIED, dirs_exist_ok=True)
    return settings


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def client(settings: Settings, clock: Clock, **web: object) -> TestClient:
    config = WebConfig(**{"read_timeout_s": 0.3, "write_timeout_s": 0.5, **web})  # type: ignore[arg-type]
    return TestClient(create_app(settings, web=config, clock=clock), follow_redirects=False)


_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')
_ACTION = re.compile(r'name="action_id" value="([^"]+)"')


def csrf_of(html: str) -> str:
    return _TOKEN.search(html).group(1)  # type: ignore[union-attr]


def action_of(html: str) -> str:
    return _ACTION.search(html).group(1)  # type: ignore[union-attr]


def login(c: TestClient, username: str, password: str | None = None, next_url: str = "/") -> object:
    page = c.get("/login")
    assert page.status_code == 200
    return c.post("/login", data={"username": username, "password": password or ACCOUNTS[username][1],
                                  "csrf": csrf_of(page.text), "next": next_url})


def signed_in(settings: Settings, clock: Clock, username: str, **web: object) -> TestClient:
    c = client(settings, clock, **web)
    r = login(c, username)
    assert r.status_code == 303, r.text
    return c


def session_csrf(c: TestClient, path: str = "/cases") -> str:
    r = c.get(path)
    assert r.status_code == 200, r.text
    return csrf_of(r.text)
