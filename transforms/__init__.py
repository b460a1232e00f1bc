"""envmon: transforms."""
