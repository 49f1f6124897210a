"""Pydantic models of what the routes answer, one module per router concern.

They make ``/openapi.json`` describe every JSON body. Most routes send bytes built
by orjson (byte-for-byte stable, no second validation on large answers) and name
their model through :func:`documented`; small answers built in the router are
validated by ``response_model``.
"""
