"""ASGI entry for uvicorn: ``uvicorn api.asgi:app``. Builds the app from the environment."""

from api.app import create_app


def __getattr__(name: str):
    if name == "app":
        return create_app()
    raise AttributeError(name)
