"""Publishing: the daily air quality report website and the monthly disclosure tables.

`publish.jobs` holds the functions the DAGs and `envmon publish` call. They read the
warehouse read-only, render with autoescaping templates (names from configuration are
untrusted), and write every file atomically under one output root, whose names are validated so
nothing lands outside it. Outputs depend only on the warehouse's data, never on the clock, so
publishing twice gives identical bytes.
"""
