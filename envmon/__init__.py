"""envmon: envmon."""
