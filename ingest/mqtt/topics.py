"""The MQTT topic tree (documented in docs/mqtt.md).

envmon/v1/{air|water|noise}/{site_id}   station readings, JSON
envmon/v1/hj212/{mn}                    one raw HJ 212 packet of an enterprise logger
"""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "envmon/v1"
STATION_KINDS = ("air", "water", "noise")
HJ212 = "hj212"
ALL_TOPICS = f"{ROOT}/#"


@dataclass(frozen=True)
class Topic:
    kind: str  # air | water | noise | hj212
    key: str  # site_id, or the logger MN for hj212


class TopicError(ValueError):
    pass


def station_topic(kind: str, site_id: str) -> str:
    return f"{ROOT}/{kind}/{site_id}"


def hj212_topic(mn: str) -> str:
    return f"{ROOT}/{HJ212}/{mn}"


def shared(topic_filter: str, group: str | None) -> str:
    """`$share/<group>/<filter>`: the broker gives each message to one member of the group."""
    return f"$share/{group}/{topic_filter}" if group else topic_filter


def parse_topic(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != ROOT:
        raise TopicError(
            f"topic {topic!r} is not in the tree {ROOT}/{{air|water|noise|hj212}}/{{id}}"
        )
    kind, key = parts[2], parts[3]
    if kind not in (*STATION_KINDS, HJ212):
        raise TopicError(
            f"topic {topic!r}: unknown kind {kind!r}; valid: {', '.join((*STATION_KINDS, HJ212))}"
        )
    if not key:
        raise TopicError(f"topic {topic!r}: empty site id")
    return Topic(kind, key)
