"""A site whose every path is scripted by a test: what each path answers (status, body,
headers), after how long (or never: the connection is accepted and left hanging), over
plain HTTP or HTTPS with a certificate of tests/site/tls.py. Paths not scripted answer
404. The scenario transcripts (tests/test_scenarios.py) describe sites this way."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float | None = 0.0  # seconds before answering; None: never

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> Answer:
        """From a scenario's `site:` entry: status, body, pad (bytes of filler added to
        the body), headers, delay (seconds, or `never`)."""
        body = str(spec.get("body", "")).encode("utf-8") + b"x" * int(spec.get("pad", 0))
        delay = spec.get("delay", 0)
        return cls(status=int(spec.get("status", 200)), body=body,
                   headers={str(k): str(v) for k, v in (spec.get("headers") or {}).items()},
                   delay=None if delay == "never" else float(delay))


class ScriptedSite:
    def __init__(self, answers: Mapping[str, Answer], tls: tuple[Path, Path] | None = None):
        self.answers = dict(answers)
        self.hits: dict[str, int] = {}
        self.stopping = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                site.hits[path] = site.hits.get(path, 0) + 1
                answer = site.answers.get(path, Answer(404, b"not here"))
                if answer.delay is None:
                    site.stopping.wait()  # accepted, never answered
                    return
                if answer.delay and site.stopping.wait(answer.delay):
                    return
                self.send_response(answer.status)
                headers = {"Content-Type": "text/html; charset=utf-8", **answer.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> ScriptedSite:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
