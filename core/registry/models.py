"""The registry's configuration files, as pydantic models (shape and per-field checks).

Cross-references (a site's grid, a parameter's unit, duplicate ids, a permit limit's basis)
are checked in `core.registry.config`, which sees all files at once.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from core.registry.credit_code import credit_code_problem
from core.strict import StrictModel, TimeZoneName

SiteKind = Literal["air", "water", "noise"]
GridLevel = Literal[
    "city", "county", "district", "park", "township", "street", "key_enterprise", "drinking_water"
]
SPECIAL_GRID_LEVELS = ("key_enterprise", "drinking_water")
OfficerRole = Literal["responsible", "leader", "inspector"]
# bureau staff who are not grid officers: station technicians (运维), data reviewers (数据审核),
# administrators (系统管理员)
StaffRole = Literal["station_staff", "data_reviewer", "administrator"]
Domain = Literal["air", "water", "noise", "flue_gas", "waste_water", "meteo"]
NoiseZone = Literal["0", "1", "2", "3", "4a", "4b"]
# ambient points (GB 3096-2008) or industrial-enterprise boundary points (GB 12348-2008)
NoiseStandard = Literal["GB3096-2008", "GB12348-2008"]
DEFAULT_NOISE_STANDARD = "GB3096-2008"
SuddenNoise = Literal["frequent", "sporadic"]  # GB 12348 night-time 频发 / 偶发 noise
WaterClass = Literal["I", "II", "III", "IV", "V"]
Statistic = Literal["hour_avg", "hour_avg_o2", "day_avg", "day_avg_o2", "instant"]
QuantityPeriod = Literal["year", "month", "day"]

Id = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", min_length=1, max_length=64)


class Unit(StrictModel):
    unit: str
    quantity: str
    to_base: float = Field(gt=0)
    name_zh: str


class UnitsFile(StrictModel):
    units: list[Unit]


class Parameter(StrictModel):
    parameter: str = Id
    name_en: str
    name_zh: str
    domain: Domain
    unit: str
    hj212_2017_code: str | None = None
    hj212_2005_code: str | None = None
    min_possible: float | None = None
    max_possible: float | None = None
    decimals: int | None = Field(default=None, ge=0, le=6)


class ParametersFile(StrictModel):
    parameters: list[Parameter]


class Officer(StrictModel):
    officer_id: str = Id
    name_zh: str
    name_en: str
    role: OfficerRole
    phone: str | None = None
    email: str | None = None
    # the login names (OS user; later the console's) this person acts under (core.identity)
    os_users: list[str] = []


class StaffMember(StrictModel):
    """A member of the bureau's staff who is not a grid officer: recorded as the actor of QC
    reviews, alert acknowledgements and silences."""

    person_id: str = Id
    name_zh: str
    name_en: str
    role: StaffRole
    phone: str | None = None
    email: str | None = None
    os_users: list[str] = []


class Grid(StrictModel):
    grid_id: str = Id
    name_zh: str
    name_en: str
    level: GridLevel
    parent_id: str | None = None
    officers: list[Officer] = []


class GridsFile(StrictModel):
    grids: list[Grid]
    staff: list[StaffMember] = []


class MeasuredParameter(StrictModel):
    parameter: str
    interval_s: int = Field(default=3600, ge=0)
    unit: str | None = None  # the site's unit when it differs from the parameter's default


class Station(StrictModel):
    site_id: str = Id
    kind: SiteKind
    name_zh: str
    name_en: str
    grid_id: str
    special_grid_id: str | None = None
    timezone: TimeZoneName | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    commissioned_on: date | None = None
    decommissioned_on: date | None = None
    noise_zone: NoiseZone | None = None  # boundary points: the zone outside the boundary
    # a boundary point (厂界噪声监测点): its enterprise, GB 12348-2008, measured indoors (limits
    # -10 dB(A)), and the kind of night-time sudden noise its night Lmax is judged by
    enterprise_id: str | None = None
    noise_standard: NoiseStandard | None = None  # None: GB3096-2008 for a noise point
    noise_indoor: bool = False
    night_sudden_noise: SuddenNoise | None = None
    water_target_class: WaterClass | None = None
    waterbody: Literal["river", "lake"] | None = None
    air_zone_class: Literal["1", "2"] | None = None
    in_city_assessment: bool | None = None
    parameters: list[MeasuredParameter]


class StationsFile(StrictModel):
    stations: list[Station]


class PermitLimit(StrictModel):
    parameter: str
    statistic: Statistic
    limit: float = Field(gt=0)
    unit: str
    basis: str
    valid_from: date
    valid_to: date | None = None


class PermittedQuantity(StrictModel):
    parameter: str
    period: QuantityPeriod
    quantity_kg: float = Field(gt=0)
    basis: str
    valid_from: date
    valid_to: date | None = None


HourLabel = Literal["start", "end"]
ProtocolEdition = Literal["HJ212-2017", "HJ212-2005"]


# what `envmon registry enrol` writes for a logger password it does not know: refused at load
PASSWORD_PLACEHOLDER = "CHANGE-ME"
# the id prefix of an enterprise `envmon registry enrol` writes for a logger seen in traffic,
# with placeholder names (待核实企业 <MN>) until staff correct them
ENROLLED_ID_PREFIX = "enrolled_"


class Logger(StrictModel):
    mn: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1)
    protocol_edition: ProtocolEdition = "HJ212-2017"
    # minute-data (CN 2051) interval in seconds and the label of minute/hourly/daily data
    # (start or end of the period); None = the edition's default (core/registry/logger_defaults.csv)
    minute_interval_s: int | None = None  # checked against minute_intervals.csv
    hour_label: HourLabel | None = None

    @field_validator("password")
    @classmethod
    def _real_password(cls, value: str) -> str:
        # a masked password (dead letters keep PW=******) or enrol's placeholder is not one: a
        # logger sending PW=****** must never match it (review I8)
        if value.strip("*") == "":
            raise ValueError(
                f"{value!r} is a masked password (dead letters keep none), not the logger's "
                "password: set the real one"
            )
        if value.strip().upper().startswith(PASSWORD_PLACEHOLDER):
            raise ValueError(
                f"{value!r} is the placeholder `envmon registry enrol` writes for a password it "
                "does not know: set the logger's real password (or enrol again with --traffic FILE)"
            )
        return value


class Outlet(StrictModel):
    site_id: str = Id
    name_zh: str
    name_en: str
    outlet_type: Literal["flue_gas", "waste_water"]
    reference_o2_pct: float | None = Field(default=None, ge=0, lt=21)
    emission_standard: str | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    commissioned_on: date | None = None
    logger: Logger
    parameters: list[MeasuredParameter]
    permit_limits: list[PermitLimit] = []
    permitted_quantities: list[PermittedQuantity] = []


class Enterprise(StrictModel):
    enterprise_id: str = Id
    name_zh: str
    name_en: str
    grid_id: str
    special_grid_id: str | None = None
    industry: str
    key_monitored: bool = False
    credit_code: str | None = None  # 统一社会信用代码, checked against GB 32100-2015
    address: str | None = None  # registered address (注册地址), as on the business licence
    outlets: list[Outlet]

    @field_validator("credit_code", mode="before")
    @classmethod
    def _credit_code_is_text(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(f"{value!r} was read as a number: quote the code ('...') in the YAML")
        return value

    @model_validator(mode="after")
    def _credit_code_is_well_formed(self) -> Enterprise:
        problem = None if self.credit_code is None else credit_code_problem(self.credit_code)
        if problem:  # named with the enterprise: the file's reader sees which one is wrong
            raise ValueError(f"enterprise {self.enterprise_id!r}: credit_code {problem}")
        return self


class EnterprisesFile(StrictModel):
    enterprises: list[Enterprise]


# Registry file name -> the model of its content. Every file is required.
REGISTRY_FILES: dict[str, type[StrictModel]] = {
    "units.yaml": UnitsFile,
    "parameters.yaml": ParametersFile,
    "grids.yaml": GridsFile,
    "stations.yaml": StationsFile,
    "enterprises.yaml": EnterprisesFile,
}
