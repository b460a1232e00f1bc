"""The staff console (issue 21): a server-rendered web application for station staff, grid
officers and leaders, on the same functions the CLI and the DAGs call (alerts.cases,
alerts.queries). `create_app` (envmon.web.app) builds it; `envmon web serve` runs it;
`envmon users …` manages its accounts. Design and concurrency with the warehouse:
docs/console.md."""
