"""moto's DynamoDB emulator, serving one request at a time.

moto cancels a DynamoDB transaction by restoring a copy of each table taken when the
transaction started. With requests served on parallel threads (moto_server's default), a
cancelled transaction can therefore wipe out writes that other requests committed meanwhile,
which real DynamoDB never does: its transactions are serializable. Serving requests one at a
time gives the emulator the same isolation, so concurrency tests test our code, not moto's.

usage: python scripts/moto_server.py HOST PORT
"""

import sys

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
