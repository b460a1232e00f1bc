"""Which grid and officer a site's alerts and cases go to.

A site's special grid (key monitored enterprise, drinking-water source) takes precedence over
its territorial grid. The responsible officer is the grid's; a grid without one hands over to
its parent grid. Escalation goes to the nearest leader up the grid tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class Route:
    grid_id: str
    officer_id: str | None
    routed_by: (
        str  # special_grid | territorial_grid, + '/parent_grid' when an ancestor's officer took it
    )


class Router:
    """Routing over one read of sites, grids and officers: an evaluation routes many alerts while
    the registry cannot change (it holds the writer lock)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.grids: dict[str, tuple[str | None, bool]] = {
            g: (parent, special)
            for g, parent, special in con.execute(
                "SELECT grid_id, parent_id, special FROM grids"
            ).fetchall()
        }
        self.sites = {
            s: (g, sg)
            for s, g, sg in con.execute(
                "SELECT site_id, grid_id, special_grid_id FROM sites"
            ).fetchall()
        }
        self.first_officer: dict[tuple[str, str], str] = {}
        for officer_id, grid_id, role in con.execute(
            "SELECT officer_id, grid_id, role FROM officers ORDER BY officer_id"
        ).fetchall():
            self.first_officer.setdefault((grid_id, role), officer_id)

    def officer_up_tree(self, grid_id: str, role: str) -> tuple[str | None, bool]:
        """The first officer of `role` in the grid or, failing that, up its parents; and
        whether an ancestor's officer it is."""
        current: str | None = grid_id
        seen: set[str] = set()
        while current is not None and current not in seen:
            seen.add(current)
            officer = self.first_officer.get((current, role))
            if officer is not None:
                return officer, current != grid_id
            current = self.grids.get(current, (None, False))[0]
        return None, False

    def route(self, site_id: str) -> Route:
        if site_id not in self.sites:
            raise KeyError(f"unknown site {site_id!r}")
        grid_id, special_grid_id = self.sites[site_id]
        if special_grid_id and special_grid_id in self.grids:
            target, how = special_grid_id, "special_grid"
        else:
            target, how = grid_id, "territorial_grid"
        officer, from_parent = self.officer_up_tree(target, "responsible")
        return Route(target, officer, how + ("/parent_grid" if from_parent else ""))

    def leader(self, grid_id: str) -> str | None:
        return self.officer_up_tree(grid_id, "leader")[0]


def leader_of(con: duckdb.DuckDBPyConnection, grid_id: str) -> str | None:
    """The nearest leader up the grid tree from `grid_id`, if any."""
    return Router(con).leader(grid_id)
