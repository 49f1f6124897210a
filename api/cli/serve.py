"""``onemap serve``."""

from __future__ import annotations

import typer


def command(
    host: str = typer.Option("127.0.0.1", help="address to bind; non-loopback needs API keys"),
    port: int = typer.Option(8000, help="port"),
    workers: int = typer.Option(1, help="uvicorn worker processes"),
) -> None:
    """Serve the API and the map page."""
    import os

    import uvicorn

    os.environ["ONEMAP_API_HOST"] = host
    os.environ["ONEMAP_API_PORT"] = str(port)
    from api.startup import check_can_listen
    from geo.settings import DatabaseSettings

    check_can_listen(host, DatabaseSettings())
    uvicorn.run("api.asgi:app", factory=False, host=host, port=port, workers=workers,
                log_level="info", proxy_headers=False)
