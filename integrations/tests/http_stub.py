"""A real HTTP server on 127.0.0.1 for the forwarding tests: it records every
request and answers what the test tells it to (``answer`` takes a request
and returns (status, headers, body)); ``hold`` makes it hang until released,
like a platform that accepted the connection and never answers."""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Stub:
    url: str
    requests: list[Request] = field(default_factory=list)
    answer: object = None
    release: threading.Event = field(default_factory=threading.Event)
    holding: bool = False
    arrived: threading.Event = field(default_factory=threading.Event)

    def hold(self) -> None:
        self.release.clear()
        self.holding = True

    def let_go(self) -> None:
        self.holding = False
        self.release.set()

    def to(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path.split("?")[0] == path]


def _handler(stub: Stub):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            request = Request("POST", self.path, {k: v for k, v in self.headers.items()}, self.rfile.read(length))
            stub.requests.append(request)
            stub.arrived.set()
            if stub.holding:
                stub.release.wait(timeout=30)
            status, headers, body = stub.answer(request) if stub.answer else (200, {}, b"{}")
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def start() -> tuple[Stub, ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)
    stub = Stub(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(stub)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return stub, server


def stop(stub: Stub, server: ThreadingHTTPServer) -> None:
    stub.let_go()
    server.shutdown()
    server.server_close()
