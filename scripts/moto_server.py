"""moto's DynamoDB emulator, serving one request at a time, optionally kept on disk.

moto cancels a DynamoDB transaction by restoring a copy of each table taken when the
transaction started. With requests served on parallel threads (moto_server's default), a
cancelled transaction can therefore wipe out writes that other requests committed meanwhile,
which real DynamoDB never does: its transactions are serializable. Serving requests one at a
time gives the emulator the same isolation, so concurrency tests test our code, not moto's.

With a STATE_FILE, the tables survive restarts (moto keeps them in memory only): they are
loaded from it at start, written to it within a second of any change and once more when the
emulator stops. A file this version of moto cannot read is set aside (STATE_FILE.unreadable)
and the emulator starts empty.

usage: python scripts/moto_server.py HOST PORT [STATE_FILE]
"""

import os
import pickle
import signal
import sys
import threading
import time

from werkzeug.serving import run_simple

from moto.dynamodb.models import dynamodb_backends
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

# DynamoDB operations that change nothing: they leave the saved state as it is.
READS = ("Get", "BatchGet", "TransactGet", "Query", "Scan", "Describe", "List")


class Persisted:
    """The emulator's tables, saved to a file after changes (a WSGI wrapper around moto)."""

    def __init__(self, app, path):
        self.app, self.path = app, path
        self.lock = threading.Lock()
        self.dirty = False
        self.stopping = False
        self.load()
        threading.Thread(target=self.save_changes, daemon=True).start()

    def __call__(self, environ, start_response):
        operation = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
        with self.lock:
            # The whole answer is built under the lock, so a save never sees half a request.
            body = list(self.app(environ, start_response))
            if operation and not operation.startswith(READS):
                self.dirty = True
        if self.stopping:
            self.stop()
        return body

    def stop(self, *_signal):
        """Saves and exits; a stop that arrives in the middle of a request waits for its end."""
        self.stopping = True
        # The lock is held by the saver for a moment, or by this very thread mid-request: then
        # the request finishes first and calls this again.
        if self.lock.acquire(timeout=2):
            self.lock.release()
            self.save()
            os._exit(0)

    def load(self):
        if not os.path.exists(self.path):
            return
        try:
            with open(self.path, "rb") as file:
                saved = pickle.load(file)
            for (account, region), tables in saved.items():
                dynamodb_backends[account][region].tables = tables
            print(f"moto: {sum(len(t) for t in saved.values())} tables loaded from {self.path}", flush=True)
        except Exception as err:  # noqa: BLE001 - any unreadable file: start empty, keep it
            os.replace(self.path, self.path + ".unreadable")
            print(f"moto: could not read {self.path} ({err}); set aside, starting empty", flush=True)

    def save(self):
        with self.lock:
            if not self.dirty:
                return
            snapshot = {
                (account, region): backend.tables
                for account, regions in dynamodb_backends.items()
                for region, backend in regions.items()
                if backend.tables
            }
            data = pickle.dumps(snapshot)
            self.dirty = False
        partial = self.path + ".partial"
        with open(partial, "wb") as file:
            file.write(data)
        os.replace(partial, self.path)

    def save_changes(self):
        while True:
            time.sleep(1)
            self.save()


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    if len(sys.argv) > 3:
        app = Persisted(app, sys.argv[3])
        signal.signal(signal.SIGTERM, app.stop)
        signal.signal(signal.SIGINT, app.stop)
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
