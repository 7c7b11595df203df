"""What the loopback fakes of SMS providers share: a server in a daemon thread, recorded texts, injected failures."""

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.request import ProxyHandler, Request, build_opener

# No proxy: callbacks and pushes go to servers on this machine.
OPENER = build_opener(ProxyHandler({}))
#: Where a fake in a process of its own hands over (GET) or forgets (DELETE) what it recorded.
RECORDED = "/_fake/messages"


class LoopbackFake:
    """A provider's API on 127.0.0.1 that records what it accepts and fails on demand.

    Subclasses set `thread_name` and `failures` (kind -> answer), and start() by serve(their handler).
    """

    thread_name = "fake"
    failures = {}

    def __init__(self):
        self.timeout_sleep = 3.0
        self.requests_seen = 0
        self._changed = threading.Condition()
        self._messages = []
        self._next_failures = []
        self._failures_for = {}
        self._stopping = threading.Event()
        self._server = None

    def serve(self, handler):
        """Serve on a free loopback port in a daemon thread and return its base URL."""
        self._stopping.clear()
        self._server = Server(("127.0.0.1", 0), handler)
        self._server.fake = self
        # A short poll interval keeps stop() quick.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         name=self.thread_name, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self):
        """Stop serving and wake any request sleeping in an injected timeout."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        """Start serving for the duration of a with block."""
        return self.start()

    def __exit__(self, *exc_info):
        """Stop serving."""
        self.stop()

    @property
    def messages(self):
        """Return a snapshot of the accepted messages, oldest first."""
        with self._changed:
            return list(self._messages)

    def messages_to(self, number):
        """Return the accepted messages addressed to number (as the provider got it)."""
        return [message for message in self.messages if message["to"] == number]

    def wait_for(self, predicate, timeout=2.0):
        """Return the first message matching predicate, waiting up to timeout seconds for it."""
        def match():
            return next((m for m in self._messages if predicate(m)), None)

        with self._changed:
            found = self._changed.wait_for(match, timeout)
        if found is None:
            raise AssertionError(f"no matching message within {timeout}s; got {self.messages!r}")
        return found

    def clear(self):
        """Forget messages, the request count and all injected failures."""
        with self._changed:
            self._messages.clear()
            self._next_failures.clear()
            self._failures_for.clear()
            self.requests_seen = 0

    def fail_next(self, kind, times=1):
        """Make the next `times` sends fail with kind (see `failures`)."""
        kind = self._checked_kind(kind)
        with self._changed:
            self._next_failures.extend([kind] * times)

    def fail_for(self, number, kind):
        """Make every send to number (as the provider gets it) fail with kind until clear()."""
        kind = self._checked_kind(kind)
        with self._changed:
            self._failures_for[number] = kind

    def _checked_kind(self, kind):
        """Normalise a failure kind (429 or "429") and reject unknown ones early."""
        kind = str(kind)
        if kind not in self.failures:
            raise ValueError(f"unknown failure kind {kind!r}; choose from {sorted(self.failures)}")
        return kind

    def _injected_failure(self, to):
        """Consume and return the failure kind for this send, if any; a queued one goes first."""
        with self._changed:
            if self._next_failures:
                return self._next_failures.pop(0)
            return self._failures_for.get(to)

    def _count_request(self):
        """Count one API request, whatever its outcome."""
        with self._changed:
            self.requests_seen += 1

    def _record(self, message):
        """Store an accepted send and wake anyone in wait_for."""
        with self._changed:
            self._messages.append(message)
            self._changed.notify_all()
        return message


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # stop() must not wait for a handler sleeping in an injected timeout.
    block_on_close = False
    # Benchmarks open hundreds of connections a second from several processes.
    request_queue_size = 512

    def handle_error(self, request, client_address):
        """Ignore clients that hang up (e.g. after their timeout); report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    # Keep-alive lets the SDKs' sessions reuse connections.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; Nagle plus delayed ACK would stall each reply.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        """Stay silent: tests and benchmarks read their own output."""

    def answer_recorded(self):
        """Answer GET/DELETE of RECORDED for a RemoteFake; False for any other request."""
        if self.path != RECORDED:
            return False
        fake = self.server.fake
        if self.command == "DELETE":
            fake.clear()
        body = json.dumps(fake.messages if self.command == "GET" else {}, ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return True


class RemoteFake:
    """A fake run as `python <script>` in a process of its own (its own GIL, like the real API).

    The script serves with serve_until_stdin_closes; its attributes (the URL and credentials the
    app is configured with) are read from its first line, and `messages`/`clear` work as on the
    fake itself.
    """

    def __init__(self, script):
        self.script = script

    def __enter__(self):
        self._process = subprocess.Popen([sys.executable, str(self.script)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)
        self.attributes = json.loads(self._process.stdout.readline())
        self.__dict__.update(self.attributes)
        return self

    def __exit__(self, *exc_info):
        self._process.stdin.close()
        self._process.wait(timeout=10)

    @property
    def messages(self):
        with OPENER.open(f"{self.url}{RECORDED}", timeout=30) as response:
            return json.loads(response.read())

    def clear(self):
        OPENER.open(Request(f"{self.url}{RECORDED}", method="DELETE"), timeout=30).close()


def serve_until_stdin_closes(fake, url, *names):
    """Run `fake` until standard input closes, after printing for RemoteFake its base URL (the
    attribute `url` names) and the other attributes a client needs."""
    with fake:
        print(json.dumps({"url": getattr(fake, url)} | {name: getattr(fake, name) for name in names}), flush=True)
        sys.stdin.read()
