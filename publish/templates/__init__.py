"""Page templates and the inline stylesheet (package data)."""
