"""ASGI entry for uvicorn: ``uvicorn api.asgi:app``. Builds the app from the environment."""

import logging
import os

from api.app import create_app
from geo.settings_base import renamed_variables


def __getattr__(name: str):
    if name == "app":
        for message in renamed_variables(os.environ):
            logging.getLogger("onemap").warning(message)
        return create_app()
    raise AttributeError(name)
