"""Runs one file of events/ against the running local stack with `cargo lambda invoke`, after
making it runnable there (see scripts/invoke, which calls this).

The files hold placeholders no stack accepts: a bearer token, the token endpoint's Basic
credentials, and the user `u1s2e3r4i5d6`. This fills in a fresh token and the stack's seeded
app, and stands a real user in for `u1s2e3r4i5d6`: a sample user created through the API just
before (the previous one deleted), with the password the verify event sends, and linked to the
identity the identity events read. Before `create-user`, a user left with its username or
email by an earlier run is deleted, so that every event answers the status events/README.md
lists, however often it runs. The function is the one template.yaml routes the event's route
to; a stream event (events/streams/) goes to the webhook deliveries.

usage: python scripts/invoke_event.py STATE_DIR EVENT [cargo lambda invoke options...]
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from local_gateway import load_routes, route_for  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVENTS = os.path.join(REPO, "events")
PLACEHOLDER_USER = "u1s2e3r4i5d6"
API_INDICATOR = "https://default.logto.app/api"


def read_pairs(path):
    with open(path, encoding="utf-8") as file:
        return dict(line.strip().split("=", 1) for line in file if "=" in line)


class Stack:
    def __init__(self, state_dir):
        try:
            ports = read_pairs(os.path.join(state_dir, "ports"))
            credentials = read_pairs(os.path.join(state_dir, "credentials"))
        except FileNotFoundError:
            sys.exit(f"No local stack is running with its state in {state_dir}: start scripts/stack first.")
        self.state_dir = state_dir
        self.base = f"http://127.0.0.1:{ports['STACK_PORT']}"
        self.watch_port = ports["WATCH_PORT"]
        self.client_id, self.client_secret = credentials["client_id"], credentials["client_secret"]
        self.basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = urllib.parse.urlencode(
            {"grant_type": "client_credentials", "resource": API_INDICATOR, "scope": "all"}
        ).encode()
        token = self.call("POST", "/oidc/token", form, {"authorization": f"Basic {self.basic}"})
        self.token = token["access_token"]

    def call(self, method, path, body=None, headers=None, allow=()):
        """The JSON answer of one request through the stack (None for an empty one)."""
        request = urllib.request.Request(self.base + path, data=body, method=method)
        if isinstance(body, bytes) and body.startswith(b"{"):
            request.add_header("content-type", "application/json")
        for name, value in (headers or {"authorization": f"Bearer {getattr(self, 'token', '')}"}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                text = reply.read()
        except urllib.error.HTTPError as err:
            if err.code in allow:
                return None
            sys.exit(f"{method} {path} answered {err.code}: {err.read().decode(errors='replace')}")
        return json.loads(text) if text else None

    def json(self, method, path, document, allow=()):
        return self.call(method, path, json.dumps(document).encode(), allow=allow)

    def delete_users_holding(self, field, value):
        query = urllib.parse.urlencode({f"search.{field}": value, f"mode.{field}": "exact"})
        for user in self.call("GET", f"/api/users?{query}") or []:
            self.call("DELETE", f"/api/users/{user['id']}", allow=(404,))

    def sample_user(self, with_identity):
        """A fresh user to stand in for the placeholder; the previous one is deleted."""
        record = os.path.join(self.state_dir, "sample-user")
        if os.path.exists(record):
            with open(record, encoding="utf-8") as file:
                self.call("DELETE", f"/api/users/{file.read().strip()}", allow=(404,))
        verify = load("verify-password")
        password = json.loads(verify["body"])["password"]
        user = self.json("POST", "/api/users", {"username": f"sample_{os.urandom(4).hex()}", "password": password})
        with open(record, "w", encoding="utf-8") as file:
            file.write(user["id"])
        if with_identity:
            link = load("put-identity")
            target = link["rawPath"].rsplit("/", 1)[1]
            self.json("PUT", f"/api/users/{user['id']}/identities/{target}", json.loads(link["body"]))
        return user["id"]


def event_path(name):
    """events/NAME.json, or events/streams/NAME.json for a stream event."""
    for folder in (EVENTS, os.path.join(EVENTS, "streams")):
        path = os.path.join(folder, f"{name}.json")
        if os.path.exists(path):
            return path
    return None


def load(name):
    with open(event_path(name), encoding="utf-8") as file:
        return json.load(file)


def function_for(route_key):
    method, path = route_key.split(" ", 1)
    routes, default = load_routes(os.path.join(REPO, "template.yaml"))
    route, _ = route_for(routes, method, path)
    return route.function if route else default


def main():
    state_dir, name, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    name = os.path.basename(name).removesuffix(".json")
    if event_path(name) is None:
        names = os.listdir(EVENTS) + os.listdir(os.path.join(EVENTS, "streams"))
        sys.exit(f"No event events/{name}.json; the events are: "
                 + ", ".join(sorted(f[:-5] for f in names if f.endswith(".json"))))
    event = load(name)
    stack = Stack(state_dir)
    text = json.dumps(event)
    if name == "create-user":
        body = json.loads(event["body"])
        stack.delete_users_holding("username", body["username"])
        stack.delete_users_holding("primaryEmail", body["primaryEmail"])
    stream = "Records" in event
    if PLACEHOLDER_USER in text:
        identity_event = not stream and "/identities/" in event["rawPath"] \
            and event["requestContext"]["http"]["method"] != "PUT"
        text = text.replace(PLACEHOLDER_USER, stack.sample_user(with_identity=identity_event))
    if stream:
        # Made now: a hook gets only the changes made once it exists.
        text = text.replace("1795788000000", str(int(time.time() * 1000)))
    text = text.replace("REPLACE_WITH_ACCESS_TOKEN", stack.token)
    text = text.replace("REPLACE_WITH_BASE64_CLIENT_ID_AND_SECRET", stack.basic)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        file.write(text)
    try:
        # A stream event goes to the webhook deliveries, as the logs table's stream does.
        function = "hook-deliveries" if stream else function_for(event["routeKey"])
        command = ["cargo", "lambda", "invoke", function, "--data-file", file.name,
                   "--invoke-address", "127.0.0.1", "--invoke-port", stack.watch_port, *extra]
        sys.exit(subprocess.call(command, cwd=REPO))
    finally:
        os.unlink(file.name)


if __name__ == "__main__":
    main()
