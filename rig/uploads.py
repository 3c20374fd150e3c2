"""Servers on loopback a pile uploads to in the tests: an HTTP server that keeps every PUT and
POST body, and an FTP server (pyftpdlib) writing into a folder; `HttpServer` is also what the
update tests' releases are served from (rig/releases.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from rig.broker import free_port


class HttpServer:
    """A ThreadingHTTPServer on a free loopback port, in a thread of its own."""

    def __init__(self, handler: Callable[..., BaseHTTPRequestHandler]):
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HttpUploads(HttpServer):
    def __init__(self, status: int = 201):
        self.received: list[tuple[str, str, bytes]] = []  # (method, path, body)
        self.status = status
        uploads = self

        class Handler(BaseHTTPRequestHandler):
            def _keep(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                uploads.received.append((self.command, self.path, body))
                self.send_response(uploads.status)
                self.end_headers()

            do_PUT = do_POST = _keep

            def log_message(self, *_: object) -> None:
                pass

        super().__init__(Handler)


class FtpUploads:
    """An FTP server with one user, `pile`/`ftp-pass`, whose home is `folder`."""

    def __init__(self, folder: Path):
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import ThreadedFTPServer

        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        authorizer = DummyAuthorizer()
        authorizer.add_user("pile", "ftp-pass", str(folder), perm="elradfmw")
        handler = type("Handler", (FTPHandler,), {"authorizer": authorizer})
        self.server = ThreadedFTPServer(("127.0.0.1", free_port()), handler)
        self.url = f"ftp://pile:ftp-pass@127.0.0.1:{self.server.address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.close_all()
