"""envmon: warehouse."""
