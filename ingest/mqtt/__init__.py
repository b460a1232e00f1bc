"""MQTT ingestion of station readings (topic and payload contract in docs/mqtt.md)."""
