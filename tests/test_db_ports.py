"""Which port an embedded cluster may take (``onemap db up --port auto``)."""

from __future__ import annotations

import socket

from geo.db import ports


def test_a_port_held_by_a_client_connection_is_not_offered():
    # a fresh clone's `--port auto` once chose the port next to a busy one that nobody listened
    # on but an outgoing connection held as its local end: PostgreSQL's bind then failed
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()) as client:
            held = client.getsockname()[1]
            assert not ports.listening(held)  # nobody listens there ...
            assert not ports.bindable(held)  # ... yet no server can bind it
            assert ports.free_port(held) != held
        assert ports.bindable(server.getsockname()[1]) is False  # a listener's port neither


def test_a_free_port_is_offered_as_it_is():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert ports.bindable(port)
    assert ports.free_port(port) == port
