"""Decode and validate one station message (JSON) against the registry and the reading contract.

A message-level problem (bad JSON, unknown site, bad time, too many values...) rejects the whole
message; a value-level problem (unknown parameter, wrong type, unconvertible unit...) rejects
only that value and the others land. A message makes at most ONE dead letter, naming the topic
and every reason, with the payload exactly as received (once).

What a reading may be (time window, finite numbers, flag vocabulary) is core/contract.py's
`ReadingContract`, the one definition every ingestor applies; this module only adds what is
particular to the MQTT JSON payload.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from core.contract import ReadingContract, normalise_flag, reading_flags
from core.registry.config import Registry
from ingest.hj212.auth import MASK_NOTE, mask_passwords
from ingest.mqtt.batch import Batch, ReadingRows, dead_letter_id
from ingest.mqtt.topics import Topic
from ingest.site_units import SiteUnits, convert_value

# The data flags a value may carry: the contract's vocabulary (core/reading_flags.csv). The
# fast path's type takes only these; anything else goes to the slow path, which asks the contract.
FLAGS = frozenset(reading_flags())
MESSAGE_FIELDS = ("site", "period_start", "interval_s", "values")
VALUE_FIELDS = ("value", "unit", "flag", "min", "max")
_MESSAGE_FIELDS = frozenset(MESSAGE_FIELDS)
_TIME_CACHE_SIZE = 4096  # distinct period_start texts remembered (stations share period starts)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
REASONS_LISTED = 20  # a dead letter lists this many value problems, then counts the rest


class Reject(Exception):  # a control-flow signal carrying the reason
    """The whole message is rejected with this reason."""


@dataclass(frozen=True)
class SiteSpec:
    site_id: str
    kind: str
    units: dict[str, str]  # parameter -> the unit the site reports it in


def _type_name(v: Any) -> str:
    return (
        "null"
        if v is None
        else {bool: "boolean", str: "string", list: "array", dict: "object"}.get(
            type(v), type(v).__name__
        )
    )


def _number(v: Any) -> bool:
    return type(v) is int or type(v) is float


_fast_json = msgspec.json.Decoder()
_INTERVALS = frozenset([0, *(d for d in range(1, 86401) if 86400 % d == 0)])  # see _interval


class _Value(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A value object as the fast path takes it (a float field also takes JSON integers)."""

    value: float | None = None
    flag: Literal[tuple(sorted(FLAGS))] | None = None  # type: ignore[valid-type]
    unit: str | msgspec.UnsetType = msgspec.UNSET
    min: float | None = None
    max: float | None = None


class _Message(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    period_start: str
    interval_s: int
    values: dict[str, float | _Value | None]
    site: str | msgspec.UnsetType = msgspec.UNSET


_typed_json = msgspec.json.Decoder(_Message)


def loads(payload: bytes) -> Any:
    """JSON as the standard library reads it, at msgspec's speed.

    msgspec decodes well-formed UTF-8 JSON; anything it refuses (malformed, NaN, 1e400, a BOM
    or UTF-16) goes to json.loads, whose result or error message is then the answer.
    """
    try:
        return _fast_json.decode(payload)
    except msgspec.DecodeError:
        return json.loads(payload)


class StationDecoder:
    """Turns station messages into readings and dead letters. Built once per registry."""

    def __init__(
        self,
        registry: Registry,
        contract: ReadingContract,
        *,
        max_values: int,  # the settings mqtt_max_values
    ):
        self.registry = registry
        self.contract = contract
        self.max_values = max_values
        # The contract's time window in epoch microseconds, for the per-message comparison; its
        # wording of a refusal is the contract's own (time_problem).
        self.earliest_us = (contract.earliest - _EPOCH) // _ONE_US
        self.max_future_us = contract.max_future // _ONE_US
        self.sites = {
            site_id: SiteSpec(
                site_id,
                st.kind,
                {m.parameter: registry.site_unit(site_id, m.parameter) for m in st.parameters},
            )
            for site_id, st in registry.stations.items()
        }
        self.units = SiteUnits(registry)  # a value in another unit: ingest/site_units.py
        self._starts: dict[str, int] = {}  # period_start text -> epoch us, for valid texts

    def decode(
        self, topic_str: str, topic: Topic, payload: bytes, batch: Batch, now_us: int | None = None
    ) -> int:
        """Append the message's good readings to batch.mqtt and, if anything was refused, ONE
        dead letter with all the reasons to batch.dead_letters; returns the readings appended."""
        now_us = now_us if now_us is not None else time.time_ns() // 1000
        n = self._accept(topic_str, topic, payload, batch.mqtt, now_us)
        if n is not None:
            return n
        problems: list[str] = []
        try:
            n = self._decode(topic_str, topic, payload, batch.mqtt, problems, now_us)
        except Reject as exc:
            dead_letter(batch.dead_letters, topic_str, str(exc), payload, now_us)
            return 0
        if problems:
            dead_letter(batch.dead_letters, topic_str, join_reasons(problems, n), payload, now_us)
        return n

    def _accept(
        self, topic_str: str, topic: Topic, payload: bytes, out: ReadingRows, now_us: int
    ) -> int | None:
        """The fast path: take a message that is valid in every respect, or return None.

        msgspec decodes and type-checks the message in one C call (_Message); what it cannot
        check (site, period start, interval, parameters, units) is checked here. Anything
        unusual - a problem, a unit conversion - returns None and goes to _decode, the one
        place that words reasons, so both paths accept and reject exactly the same.
        """
        try:
            msg = _typed_json.decode(payload)
        except msgspec.MsgspecError:
            return None
        if msg.site is not msgspec.UNSET and msg.site != topic.key:
            return None
        spec = self.sites.get(topic.key)
        if (
            spec is None
            or spec.kind != topic.kind
            or not msg.values
            or len(msg.values) > self.max_values
        ):
            return None
        start_us = self._starts.get(msg.period_start)
        interval = msg.interval_s
        if start_us is None or start_us > now_us + self.max_future_us or interval not in _INTERVALS:
            return None  # an unseen period start is parsed (and remembered) by _decode
        units = spec.units
        values = []
        for param, item in msg.values.items():
            unit = units.get(param)
            if unit is None:
                return None
            if type(item) is _Value:
                if item.unit is not msgspec.UNSET:
                    return None
                values.append((param, item.value, item.min, item.max, unit, item.flag, None))
            else:
                values.append((param, item, None, None, unit, None, None))
        out.add(spec.site_id, start_us, interval, now_us, topic_str, values)
        return len(values)

    def _decode(
        self,
        topic_str: str,
        topic: Topic,
        payload: bytes,
        out: ReadingRows,
        problems: list[str],
        now_us: int,
    ) -> int:
        try:
            msg = loads(payload)
        except (UnicodeDecodeError, ValueError) as exc:
            raise Reject(f"invalid JSON: {exc}") from None
        if type(msg) is not dict:
            raise Reject(
                f"payload is a JSON {_type_name(msg)}, expected an object with fields "
                f"{', '.join(MESSAGE_FIELDS)}"
            )
        if not _MESSAGE_FIELDS.issuperset(msg):
            unknown = [k for k in msg if k not in _MESSAGE_FIELDS]
            raise Reject(
                f"unknown field(s) {', '.join(map(_short, unknown[:5]))}"
                f"{f' and {len(unknown) - 5} more' if len(unknown) > 5 else ''}; "
                f"valid fields: {', '.join(MESSAGE_FIELDS)}"
            )
        spec = self._site(topic, msg)
        start_us = self._period_start(msg, now_us)
        interval = self._interval(msg)
        values = msg.get("values")
        if type(values) is not dict or not values:
            raise Reject(
                f"field 'values': expected a non-empty object of parameter -> value, got {_type_name(values)}"
            )
        if len(values) > self.max_values:
            raise Reject(
                f"field 'values': {len(values)} values in one message, more than the "
                f"{self.max_values} allowed (setting mqtt_max_values); nothing of it was taken"
            )

        taken = []
        for param, item in values.items():
            value_or_problem = self._value(spec, param, item)
            if type(value_or_problem) is str:
                problems.append(f"parameter {_short(param)}: {value_or_problem}")
            else:
                taken.append(value_or_problem)
        out.add(spec.site_id, start_us, interval, now_us, topic_str, taken)
        return len(taken)

    def _site(self, topic: Topic, msg: dict[str, Any]) -> SiteSpec:
        site = msg.get("site", topic.key)
        if not isinstance(site, str):
            raise Reject(f"field 'site': expected a string, got {_type_name(site)}")
        if site != topic.key:
            raise Reject(
                f"field 'site': {_short(site)} does not match the topic's site {_short(topic.key)}"
            )
        spec = self.sites.get(site)
        if spec is None:
            kind = (
                "an outlet, whose data comes as HJ 212"
                if site in self.registry.outlets
                else "not in the registry"
            )
            raise Reject(f"unknown site {_short(site)}: {kind}")
        if spec.kind != topic.kind:
            raise Reject(
                f"site {site!r} is a {spec.kind} site but was published under the {topic.kind!r} topic"
            )
        return spec

    def _period_start(self, msg: dict[str, Any], now_us: int) -> int:
        raw = msg.get("period_start")
        if type(raw) is not str:
            raise Reject(
                f"field 'period_start': expected an ISO 8601 string with offset, got {_type_name(raw)}"
            )
        us = self._starts.get(raw)
        if us is None:
            us = self._parse_period_start(raw)
        if us < self.earliest_us or us > now_us + self.max_future_us:
            # The contract words the refusal (and is the judge at the boundary).
            problem = self.contract.time_problem(_EPOCH + us * _ONE_US, _EPOCH + now_us * _ONE_US)
            if problem is not None:
                raise Reject(f"{problem} (sent as {_short(raw)})")
        if raw not in self._starts:
            if len(self._starts) >= _TIME_CACHE_SIZE:
                self._starts.clear()  # bounded: memory stays flat over a long run
            self._starts[raw] = us
        return us

    @staticmethod
    def _parse_period_start(raw: str) -> int:
        try:
            dt = datetime.fromisoformat(raw)
        except ValueError:
            raise Reject(f"field 'period_start': {_short(raw)} is not an ISO 8601 time") from None
        if dt.tzinfo is None or dt.utcoffset() is None:
            raise Reject(
                f"field 'period_start': {_short(raw)} has no UTC offset (write e.g. +08:00)"
            )
        return (dt - _EPOCH) // _ONE_US

    @staticmethod
    def _interval(msg: dict[str, Any]) -> int:
        iv = msg.get("interval_s")
        if type(iv) is not int:
            raise Reject(
                f"field 'interval_s': expected an integer number of seconds, got {_type_name(iv)}"
            )
        if not (iv == 0 or (0 < iv <= 86400 and 86400 % iv == 0)):
            raise Reject(
                f"field 'interval_s': {iv} is not 0 (real-time) or a divisor of a day in seconds"
            )
        return iv

    def _value(self, spec: SiteSpec, param: str, item: Any) -> tuple[Any, ...] | str:
        """One value as a ReadingRows value tuple, or the reason it cannot be taken."""
        site_unit = spec.units.get(param)
        if site_unit is None:
            if param not in self.registry.parameters:
                return "unknown parameter"
            return (
                f"not measured at site {spec.site_id!r} (measured: {', '.join(sorted(spec.units))})"
            )
        vmin = vmax = None
        flag = None
        unit = site_unit
        if isinstance(item, dict):
            unknown = [k for k in item if k not in VALUE_FIELDS]
            if unknown:
                return f"unknown field(s) {', '.join(map(_short, unknown[:5]))}; valid fields: {', '.join(VALUE_FIELDS)}"
            value = item.get("value")
            unit = item.get("unit", site_unit)
            flag = normalise_flag(item.get("flag"))
            vmin, vmax = item.get("min"), item.get("max")
            if not isinstance(unit, str):
                return f"field 'unit': expected a string, got {_type_name(unit)}"
            problem = self.contract.flag_problem(flag)
            if problem is not None:
                return problem
        else:
            value = item
        numbers: list[float | None] = []
        for name, v in (("value", value), ("min", vmin), ("max", vmax)):
            if v is not None and _number(v):
                try:
                    v = float(v)
                except OverflowError:  # a JSON integer beyond any float
                    v = math.inf
            problem = self.contract.value_problem(name, v if _number(v) or v is None else _Shown(v))
            if problem is not None:
                return problem
            numbers.append(v)
        original = value
        value, vmin, vmax = numbers
        extra = None
        if unit != site_unit:
            if unit not in self.registry.units:
                return f"unknown unit {_short(unit)}"
            factor = self.units.factor(unit, site_unit)
            if factor is None:
                return f"unit {_short(unit)} cannot be converted to the site unit {site_unit!r}"
            extra = json.dumps(
                {"original_unit": unit, "original_value": original}, separators=(",", ":")
            )
            value, vmin, vmax = (convert_value(v, factor) for v in (value, vmin, vmax))
        return (param, value, vmin, vmax, site_unit, flag, extra)


_ONE_US = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - _EPOCH
_SHOWN_CHARS = 80  # how much of a sender's text a reason quotes


class _Shown:
    """A non-number as a reason shows it: its JSON type and a bounded excerpt of its text."""

    def __init__(self, v: Any):
        self.v = v

    def __repr__(self) -> str:
        return f"{_type_name(self.v)} {_short(self.v)}"


def _short(v: Any) -> str:
    """repr of a sender's value, cut to a bounded length (a reason must not grow with the input)."""
    text = repr(v)
    return (
        text if len(text) <= _SHOWN_CHARS else f"{text[: _SHOWN_CHARS - 12]}... ({len(text)} chars)"
    )


def join_reasons(problems: list[str], taken: int) -> str:
    """One dead letter's reason: every problem of the message (the first REASONS_LISTED, then a count)."""
    head = f"{len(problems)} value(s) refused, {taken} taken: "
    listed = problems[:REASONS_LISTED]
    more = len(problems) - len(listed)
    return head + "; ".join(listed) + (f"; and {more} more" if more else "")


def dead_letter(
    dead: list[dict[str, Any]],
    origin: str,
    reason: str,
    payload: bytes,
    now_us: int,
    keep: int | None = None,
) -> None:
    """One dead letter for one message, keeping its first `keep` bytes (all when None).

    Any HJ 212 password in the payload (PW=, NewPW=) is masked, with what else the masking
    covers (ingest/hj212/auth.py `mask_passwords`), whatever the topic or the reason: the raw
    bytes of a dead letter never hold a password, and the reason says they were masked. Its id
    is the message's as stored (the topic and the whole payload, masked), not the reason's: a
    redelivered message collapses onto its dead letter even when a reason names the time it
    was checked, and the id is no hash of a password (which anyone reading dead letters could
    brute-force from the masked bytes beside it)."""
    masked = payload
    if b"PW=" in payload:
        masked, hit = mask_passwords(payload)
        if hit:
            reason = f"{reason} {MASK_NOTE}"
    dead.append(
        {
            "dead_letter_id": dead_letter_id(origin, "", masked),
            "origin": origin,
            "reason": reason,
            "raw": masked if keep is None or len(masked) <= keep else masked[:keep],
            "received_at": datetime.fromtimestamp(now_us / 1e6, UTC),
        }
    )
