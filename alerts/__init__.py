"""envmon: alerts."""
