"""Webhooks end to end on a running local stack (run by tests/stack/checks.sh): a receiver on
127.0.0.1 gets one user's life as Logto's four events, in order, each signed with its hook's
key; a hook for one event gets only that event; a disabled hook gets nothing; a receiver that
answers 500 is retried and then dead-lettered (to the SQS queue on moto) while the others get
everything at once; each hook's recent-logs shows every attempt.

The stack's stream poller (scripts/stream_poller.py) reads moto's stream of the logs table and
invokes the hook-deliveries function, as Lambda's event-source mapping does on AWS.

usage: python tests/stack/webhooks.py BASE_URL TOKEN MOTO_URL
"""

import hashlib
import hmac
import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

BASE, TOKEN, MOTO = sys.argv[1:4]
received = {}
lock = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with lock:
            received.setdefault(self.path, []).append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(500 if self.path == "/failing" else 200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def api(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method,
                                     headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        text = reply.read()
        return json.loads(text) if text else None


def wait_for(what, check, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.5)
    sys.exit(f"webhooks: timed out waiting for {what}; received: "
             + json.dumps({path: len(got) for path, got in received.items()}))


def events(path):
    with lock:
        return [json.loads(body)["event"] for _, body in received.get(path, [])]


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    every = ["User.Created", "User.Data.Updated", "User.SuspensionStatus.Updated", "User.Deleted"]
    hooks = {
        "all": api("POST", "/api/hooks", {"name": "all", "events": every, "config": {"url": f"{url}/all"}}),
        "deleted": api("POST", "/api/hooks", {"events": ["User.Deleted"], "config": {"url": f"{url}/deleted"}}),
        "disabled": api("POST", "/api/hooks", {"events": every, "config": {"url": f"{url}/disabled"},
                                               "enabled": False}),
        "failing": api("POST", "/api/hooks", {"events": ["User.Created"], "config": {"url": f"{url}/failing"}}),
    }
    try:
        user = api("POST", "/api/users", {"username": f"hooked_{int(time.time() * 1000)}", "password": "pw"})
        user_id = user["id"]
        api("PATCH", f"/api/users/{user_id}", {"name": "Hooked"})
        api("PATCH", f"/api/users/{user_id}/is-suspended", {"isSuspended": True})
        api("DELETE", f"/api/users/{user_id}")
        # The first delivery builds the function: allow for a compile.
        wait_for("four deliveries to the hook for every event", lambda: len(events("/all")) >= 4, 600)
        assert events("/all") == every, events("/all")
        key = hooks["all"]["signingKey"].encode()
        for headers, body in received["/all"]:
            expected = hmac.new(key, body, hashlib.sha256).hexdigest()
            assert headers["logto-signature-sha-256"] == expected, "signature"
            assert headers["content-type"] == "application/json"
            document = json.loads(body)
            assert document["hookId"] == hooks["all"]["id"]
            assert headers["webhook-id"] == document["deliveryId"], "the change's id"
            assert document["data"]["id"] == user_id
            assert "passwordDigest" not in document["data"]
            for field in ("createdAt", "path", "method", "status", "params", "matchedRoute", "userAgent", "ip"):
                assert field in document, field
        print(f"webhooks: {len(received['/all'])} signed deliveries, in order: {', '.join(events('/all'))}")
        wait_for("the deletion hook", lambda: events("/deleted") == ["User.Deleted"], 60)
        print("webhooks: the hook for User.Deleted got only User.Deleted")

        sqs = boto3.client("sqs", endpoint_url=MOTO, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")

        def dead_lettered():
            try:
                queue = sqs.get_queue_url(QueueName="users-api-hook-deliveries-dlq")["QueueUrl"]
            except sqs.exceptions.QueueDoesNotExist:
                return False
            attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
            return int(attributes["Attributes"]["ApproximateNumberOfMessages"]) > 0
        wait_for("the failing hook's batch in the dead-letter queue", dead_lettered, 180)
        attempts = len(received.get("/failing", []))
        print(f"webhooks: the endpoint answering 500 was tried {attempts} times, then dead-lettered")
        assert attempts >= 2, attempts
        assert events("/disabled") == [], "a disabled hook gets nothing"
        print("webhooks: the disabled hook got nothing")

        recent = api("GET", f"/api/hooks/{hooks['all']['id']}/recent-logs")
        assert [e["key"] for e in recent] == [f"TriggerHook.{e}" for e in reversed(every)], recent
        assert all(e["payload"]["result"] == "Success" for e in recent)
        failed = api("GET", f"/api/hooks/{hooks['failing']['id']}/recent-logs")
        assert len(failed) == attempts and all(e["payload"]["result"] == "Error" for e in failed), failed
        print(f"webhooks: recent-logs shows every attempt ({len(recent)} delivered, {len(failed)} refused)")
    finally:
        for hook in hooks.values():
            api("DELETE", f"/api/hooks/{hook['id']}")


if __name__ == "__main__":
    main()
