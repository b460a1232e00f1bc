"""core.registry.config: every problem of the registry in one pass (not in rounds), duplicates
naming both places, and permit limits without a basis refused (issue #20)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from _registry_helpers import edit

from core.errors import ConfigError
from core.registry.config import check_registry, load_registry


def problems_of(config_dir: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_registry(config_dir)
    return str(err.value)


def test_the_demo_registry_has_no_problem() -> None:
    check = check_registry(Path(__file__).resolve().parents[3] / "config")
    assert check.problems == [] and check.registry is not None


def test_a_shape_error_and_a_cross_reference_error_in_two_files_come_in_one_pass(config_dir: Path) -> None:
    stations = edit(config_dir, "stations.yaml", lambda d: d["stations"][0].update(colour="red"))
    ents = edit(config_dir, "enterprises.yaml", lambda d: d["enterprises"][1].update(grid_id="atlantis"))
    msg = problems_of(config_dir)
    assert f"{stations}: stations[0]" in msg and "'colour'" in msg
    assert f"{ents}: enterprises[1].grid_id: unknown grid 'atlantis'" in msg


def test_bad_yaml_in_one_file_and_problems_in_others_come_in_one_pass(config_dir: Path) -> None:
    units = config_dir / "registry" / "units.yaml"
    units.write_text(units.read_text(encoding="utf-8") + "\n  - [unclosed\n", encoding="utf-8")
    stations = edit(config_dir, "stations.yaml", lambda d: d["stations"][2].pop("name_zh"))
    grids = edit(config_dir, "grids.yaml", lambda d: d["grids"][1].update(parent_id="nowhere"))
    check = check_registry(config_dir)
    text = "\n".join(check.problems)
    assert check.registry is None
    assert f"{units}: not valid YAML" in text
    assert f"{stations}: stations[2].name_zh: missing required field" in text
    assert f"{grids}: grids[1].parent_id: unknown grid 'nowhere'" in text
    # units.yaml unread: no unit is reported unknown because of it
    assert "unknown unit" not in text


def test_a_missing_file_and_a_problem_elsewhere_come_in_one_pass(config_dir: Path) -> None:
    (config_dir / "registry" / "units.yaml").unlink()
    stations = edit(config_dir, "stations.yaml", lambda d: d["stations"][3].update(grid_id="atlantis"))
    text = "\n".join(check_registry(config_dir).problems)
    assert "units.yaml: missing" in text
    assert f"{stations}: stations[3].grid_id: unknown grid 'atlantis'" in text


def test_an_invalid_grid_is_reported_once_not_again_as_unknown_where_it_is_used(config_dir: Path) -> None:
    grids = edit(config_dir, "grids.yaml", lambda d: d["grids"][1].update(level="galaxy"))
    problems = check_registry(config_dir).problems
    assert [p for p in problems if p.startswith(f"{grids}: grids[1].level")]
    assert not [p for p in problems if "unknown grid" in p], problems


def test_problems_are_one_per_line_and_counted(config_dir: Path) -> None:
    edit(config_dir, "stations.yaml", lambda d: (d["stations"][0].update(grid_id="nowhere"),
                                                 d["stations"][1].pop("name_en")))
    problems = check_registry(config_dir).problems
    assert len(problems) == 2 and all("\n" not in p for p in problems)


def test_a_station_and_an_outlet_with_one_site_id_name_both_files_and_places(config_dir: Path) -> None:
    station_id = yaml.safe_load((config_dir / "registry" / "stations.yaml").read_text(encoding="utf-8"))[
        "stations"][4]["site_id"]
    ents = edit(config_dir, "enterprises.yaml",
                lambda d: d["enterprises"][2]["outlets"][0].update(site_id=station_id))
    stations = config_dir / "registry" / "stations.yaml"
    msg = problems_of(config_dir)
    assert (f"{ents}: enterprises[2].outlets[0].site_id: duplicate site id {station_id!r} "
            f"(also {stations}: stations[4].site_id)") in msg


def test_two_enterprises_with_one_id_in_two_files_name_both(config_dir: Path) -> None:
    main = config_dir / "registry" / "enterprises.yaml"
    first = yaml.safe_load(main.read_text(encoding="utf-8"))["enterprises"][0]

    def copy(enterprise_id: str, n: int) -> dict[str, Any]:
        outlet = {**first["outlets"][0], "site_id": f"copy_outlet_{n}", "logger": {"mn": f"COPY-MN-{n}", "password": "1"}}
        return {**first, "enterprise_id": enterprise_id, "outlets": [outlet]}

    extra = config_dir / "registry" / "enterprises.extra.yaml"
    extra.write_text(yaml.safe_dump({"enterprises": [copy("other", 1), copy(first["enterprise_id"], 2)]},
                                    allow_unicode=True), encoding="utf-8")
    msg = problems_of(config_dir)
    assert (f"{extra}: enterprises[1].enterprise_id: duplicate id {first['enterprise_id']!r} "
            f"(also {main}: enterprises[0].enterprise_id)") in msg


def test_two_outlets_with_one_logger_name_both_places(config_dir: Path) -> None:
    def change(d: Any) -> None:
        d["enterprises"][3]["outlets"][0]["logger"]["mn"] = d["enterprises"][0]["outlets"][0]["logger"]["mn"]
    ents = edit(config_dir, "enterprises.yaml", change)
    msg = problems_of(config_dir)
    assert f"{ents}: enterprises[3].outlets[0].logger.mn" in msg and "enterprises[0].outlets[0].logger.mn" in msg


@pytest.mark.parametrize("basis", ["", "   "])
def test_a_permit_limit_with_an_empty_basis_is_refused_naming_enterprise_outlet_and_parameter(
    config_dir: Path, basis: str
) -> None:
    def change(d: Any) -> None:
        d["enterprises"][0]["outlets"][0]["permit_limits"][1]["basis"] = basis
    path = edit(config_dir, "enterprises.yaml", change)
    src = yaml.safe_load(path.read_text(encoding="utf-8"))["enterprises"][0]
    limit = src["outlets"][0]["permit_limits"][1]
    msg = problems_of(config_dir)
    line = next(ln for ln in msg.splitlines() if ln.startswith(f"{path}: enterprises[0].outlets[0].permit_limits[1].basis"))
    assert f"enterprise {src['enterprise_id']!r}" in line and f"outlet {src['outlets'][0]['site_id']!r}" in line
    assert f"{limit['parameter']} {limit['statistic']}" in line and "empty" in line


def test_a_permitted_quantity_with_an_empty_basis_is_refused(config_dir: Path) -> None:
    def change(d: Any) -> None:
        d["enterprises"][0]["outlets"][0]["permitted_quantities"][0]["basis"] = ""
    path = edit(config_dir, "enterprises.yaml", change)
    assert f"{path}: enterprises[0].outlets[0].permitted_quantities[0].basis" in problems_of(config_dir)


def test_a_permit_limit_with_a_basis_loads(config_dir: Path) -> None:
    reg = load_registry(config_dir)
    assert all(lim.basis.strip() for _, o in reg.outlets.values() for lim in o.permit_limits)


def test_nmhc_is_a_parameter_with_its_hj212_code_and_a_coating_outlet_reports_it() -> None:
    """Non-methane hydrocarbons (非甲烷总烃): HJ 212-2017 Table B.2 a24088, mg/m3
    (/work/shared/reference/hj212.md; ingest/hj212/codes.csv maps a24088 to nmhc)."""
    reg = load_registry(Path(__file__).resolve().parents[3] / "config")
    nmhc = reg.parameters["nmhc"]
    assert (nmhc.hj212_2017_code, nmhc.unit, nmhc.name_zh) == ("a24088", "mg/m3", "非甲烷总烃")
    reporting = [(e, o) for e, o in reg.outlets.values() if any(m.parameter == "nmhc" for m in o.parameters)]
    assert reporting and all(any(lim.parameter == "nmhc" and lim.basis for lim in o.permit_limits)
                             for _, o in reporting)


def test_problems_after_an_invalid_item_name_the_items_own_positions(config_dir: Path) -> None:
    """stations[1] and enterprises[0] fail their own checks; stations[3]'s and enterprises[2]'s
    wrong grids are still named by their places in the files."""
    stations = edit(config_dir, "stations.yaml", lambda d: (d["stations"][1].pop("name_en"),
                                                            d["stations"][3].update(grid_id="nowhere")))
    ents = edit(config_dir, "enterprises.yaml", lambda d: (d["enterprises"][0].pop("name_zh"),
                                                           d["enterprises"][2].update(grid_id="atlantis")))
    problems = check_registry(config_dir).problems
    assert f"{stations}: stations[1].name_en: missing required field" in problems
    assert [p for p in problems if p.startswith(f"{stations}: stations[3].grid_id: unknown grid 'nowhere'")]
    assert f"{ents}: enterprises[0].name_zh: missing required field" in problems
    assert [p for p in problems if p.startswith(f"{ents}: enterprises[2].grid_id: unknown grid 'atlantis'")]
    assert len(problems) == 4, problems


def test_an_empty_file_is_a_problem_not_an_empty_registry(config_dir: Path) -> None:
    (config_dir / "registry" / "units.yaml").write_text("# nothing yet\n", encoding="utf-8")
    check = check_registry(config_dir)
    assert check.registry is None
    assert f"{config_dir / 'registry' / 'units.yaml'}: (top level): empty; the file holds `units:`, a list" in check.problems
