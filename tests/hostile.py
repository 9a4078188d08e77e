"""A hostile vendor on loopback: a server whose answers a test writes (redirects, echoed secrets, dropped
bodies), and which records every request it receives, credentials included, so a test can count them."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        """Everything a credential could ride in."""
        return f"{self.path}\n{self.headers}\n{self.body.decode('utf-8', 'replace')}"


Answer = Callable[[BaseHTTPRequestHandler], None]


class HostileServer:
    """`route(prefix, answer)`: requests whose path starts with `prefix` get `answer(handler)`; others 404."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.routes: dict[str, Answer] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def route(self, prefix: str, answer: Answer) -> None:
        self.routes[prefix] = answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                self._dispatch()

            def do_POST(self) -> None:
                self._dispatch()

            def _dispatch(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                matches = [p for p in server.routes if self.path.startswith(p)]
                if not matches:
                    respond(404, b"not here")(self)
                    return
                server.routes[max(matches, key=len)](self)

        return Handler


def respond(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def redirect(location: Callable[[str], str], status: int = 307) -> Answer:
    """A redirect to `location(request path)`."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        respond(status, headers={"Location": location(handler.path)})(handler)

    return answer


def drop(handler: BaseHTTPRequestHandler) -> None:
    """Close the connection without an answer."""
    handler.close_connection = True
    handler.connection.shutdown(socket.SHUT_RDWR)


@contextmanager
def hostile_server() -> Iterator[HostileServer]:
    server = HostileServer()
    thread = threading.Thread(target=server._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server._server.shutdown()
        server._server.server_close()
