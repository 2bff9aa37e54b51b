"""HTTP servers for tests that never write to the test process's stderr.

socketserver prints a handler's exception (a client that hung up mid-request, e.g. a
daemon's webhook retry after its test ended) to sys.stderr from the server's thread. A
test of another module running meanwhile in the same worker captures sys.stderr
(CliRunner) and finds that traceback in its own output. The error is kept instead."""

from __future__ import annotations

import sys
from http.server import HTTPServer, ThreadingHTTPServer
from typing import Any


class _Quiet:
    errors: list[BaseException]

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.__dict__.setdefault("errors", []).append(sys.exc_info()[1])


class QuietThreadingHTTPServer(_Quiet, ThreadingHTTPServer):
    daemon_threads = True


class QuietHTTPServer(_Quiet, HTTPServer):
    pass
