"""Who acts: the people of the registry (grid officers and bureau staff) and the acting person
of a command.

Every staff action (a case moved, an alert acknowledged, a reading flagged) records a person
of the registry, never free text. The acting person is the one the login (the OS user) maps to
(`os_users:` in config/registry/grids.yaml), or one named explicitly (`--by`, an id or a name)
and checked against the registry; a login mapped to one person cannot act as another, and an
unknown person is refused.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.errors import EnvmonError
from core.registry.config import Registry, load_registry

# The roles and what they may do. Closure (销号) of a grid's case: its leader or a leader up
# the grid tree (alerts.cases checks the grid).
OFFICER_ROLES = ("responsible", "leader", "inspector")
STAFF_ROLES = ("station_staff", "data_reviewer", "administrator")


class UnknownPersonError(EnvmonError):
    """An acting person the registry does not know, or a login acting as someone else."""


@dataclass(frozen=True)
class Person:
    person_id: str
    name_zh: str
    name_en: str
    role: str  # an officer's role (responsible | leader | inspector) or a staff role
    grid_id: str | None  # the officer's grid; None for bureau staff
    phone: str | None = None
    email: str | None = None
    os_users: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """As people know them: Chinese first, English beside ("李艳 Li Yan")."""
        return f"{self.name_zh} {self.name_en}"

    @property
    def is_officer(self) -> bool:
        return self.grid_id is not None

    def __str__(self) -> str:
        return f"{self.name} ({self.person_id})"


class People:
    """The registry's people, found by id, Chinese name or English name."""

    def __init__(self, people: Iterable[Person]) -> None:
        self.by_id: dict[str, Person] = {p.person_id: p for p in people}
        self.by_login: dict[str, Person] = {u: p for p in self.by_id.values() for u in p.os_users}

    @classmethod
    def from_registry(cls, registry: Registry) -> People:
        out = [Person(o.officer_id, o.name_zh, o.name_en, o.role, g.grid_id, o.phone, o.email, tuple(o.os_users))
               for g in registry.grids.values() for o in g.officers]
        out += [Person(m.person_id, m.name_zh, m.name_en, m.role, None, m.phone, m.email, tuple(m.os_users))
                for m in registry.staff.values()]
        return cls(out)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.by_id.values())

    def find(self, text: str, *, what: str = "person") -> Person:
        """The person whose id, Chinese name or English name (any case) is `text`; refused when
        unknown or when the name is shared (then the ids are listed)."""
        key = text.strip()
        if key in self.by_id:
            return self.by_id[key]
        found = [p for p in self.by_id.values()
                 if key == p.name_zh or key.casefold() == p.name_en.casefold() or key == p.name]
        if len(found) == 1:
            return found[0]
        if found:
            raise UnknownPersonError(f"{key!r} names {len(found)} people: "
                                     + ", ".join(str(p) for p in found) + "; give the id")
        raise UnknownPersonError(f"unknown {what} {key!r}: not in the registry (config/registry/grids.yaml; "
                                 "`envmon registry show --kind people` lists them)")

    def for_login(self, login: str) -> Person | None:
        return self.by_login.get(login)


def load_people(config_dir: Path) -> People:
    return People.from_registry(load_registry(config_dir))


def current_login() -> str:
    """The OS user running the command (tests replace it)."""
    return getpass.getuser()


def acting_person(people: People, explicit: str | None, login: str | None = None) -> Person:
    """The person a command acts as: `explicit` (id or name) checked against the registry, else
    the one the login maps to. A login mapped to a person acts as that person only."""
    login = current_login() if login is None else login
    mapped = people.for_login(login)
    if explicit is None or not explicit.strip():
        if mapped is None:
            raise UnknownPersonError(
                f"who is acting? the login {login!r} is not mapped to anyone in the registry "
                "(os_users: in config/registry/grids.yaml); give --by with your id or name")
        return mapped
    person = people.find(explicit)
    if mapped is not None and person.person_id != mapped.person_id:
        raise UnknownPersonError(f"the login {login!r} is {mapped}; it cannot act as {person}")
    return person
