"""The log counters end to end on a running local stack (run by tests/stack/checks.sh): the
stack's poller reads moto's stream of the logs table and invokes the log-counts function, as
Lambda's event-source mapping does on AWS. Once counting has begun, a user's entries move their
counter, a removal (as TTL makes one) moves it back, and GET /api/logs reports the entries.

usage: python tests/stack/log_counts.py BASE_URL TOKEN MOTO_URL
"""

import json
import sys
import time
import urllib.request

import boto3

BASE, TOKEN, MOTO = sys.argv[1:4]
TABLE = "users-api-logs"
dynamodb = boto3.client("dynamodb", endpoint_url=MOTO, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def call(method, path, body=None):
    request = urllib.request.Request(BASE + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"authorization": f"Bearer {TOKEN}",
                                              "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read() or "null"), reply.headers


def item(id):
    return dynamodb.get_item(TableName=TABLE, Key={"id": {"S": id}}, ConsistentRead=True).get("Item")


def wait_for(what, check, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(0.5)
    raise SystemExit(f"log counts: timed out waiting for {what}")


def counter(user):
    found = item(f"count#user#{user}")
    return int(found["n"]["N"]) if found else 0


# Earlier checks wrote entries: the first batch fixes when counting began (the stream's start).
start = wait_for("counting to begin", lambda: item("count#since"))
print(f"log counts: counting began at {start['since']['N']} ms; older entries to count: "
      f"{not start['legacyCounted']['BOOL']}")
assert start["legacyCounted"]["BOOL"], "a stack's tables are as new as their stream"

user, _ = call("POST", "/api/users", {"username": f"counted_{int(time.time())}"})
for name in ("One", "Two"):
    call("PATCH", f"/api/users/{user['id']}", {"name": name})
wait_for("three entries counted", lambda: True if counter(user["id"]) == 3 else None)
entries, headers = call("GET", f"/api/logs?userId={user['id']}")
assert headers["total-number"] == "3" and len(entries) == 3, (headers["total-number"], entries)

dynamodb.delete_item(TableName=TABLE, Key={"id": {"S": entries[0]["id"]}})
wait_for("the removal subtracted", lambda: True if counter(user["id"]) == 2 else None)
print("log counts: 3 entries counted from moto's stream, a removal subtracted")
