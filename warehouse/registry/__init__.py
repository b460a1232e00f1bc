"""The registry: configuration models, validation and storage in the warehouse."""
