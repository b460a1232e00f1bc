"""`envmon web serve`: the staff console (envmon.web; docs/console.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from core.settings import get_settings

web_app = typer.Typer(help="The staff console (a web application): serve it.", no_args_is_help=True)


@web_app.command("serve")
def web_serve(
    host: Annotated[str | None, typer.Option("--host", help="address to bind (default: web_host, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option("--port", help="port (default: web_port)")] = None,
) -> None:
    """Serve the staff console (uvicorn). It binds 127.0.0.1 unless told otherwise: put it behind
    an HTTPS reverse proxy and set web_base_url to the https:// address people open."""
    import uvicorn

    from envmon.web.app import create_app
    from envmon.web.config import WebConfig

    settings = get_settings()
    web = WebConfig.from_settings(settings, host=host, port=port)
    typer.echo(f"envmon staff console 工作台: {web.public_url}/ (listening on {web.host}:{web.port}); "
               "accounts: envmon users add USERNAME --person ID")
    uvicorn.run(create_app(settings, web=web), host=web.host, port=web.port, proxy_headers=True,
                forwarded_allow_ips="127.0.0.1", log_level="info", server_header=False)


def register(app: typer.Typer) -> None:
    app.add_typer(web_app, name="web")
