"""The local stack's API Gateway: HTTP in, one payload-2.0 event per request to the function
template.yaml routes it to, the function's answer back out.

`cargo lambda watch` can serve HTTP itself, but not as API Gateway does: it answers its own
500 to a JSON or text body that is not UTF-8 (API Gateway base64-encodes it), its own 404
listing every binary in the workspace for a path no route names (API Gateway sends it to the
`$default` route's function), and it writes its own name as the caller's user agent and
`$default` as every route key. So the stack puts this in front: it reads the routes from
template.yaml itself (the one table, on AWS and here), builds the event as an HTTP API does,
and invokes the function through the watcher's Lambda invoke API, which passes events as they
are.

What it does as API Gateway HTTP APIs do (payload format 2.0):
  - routes: the most specific template route whose method (or ANY) and path match, path
    parameters one segment each; anything else to the `$default` route's function;
  - the event: `routeKey`, raw path and query, headers lower-cased with repeated ones joined by
    commas, `cookies` apart, `queryStringParameters`, `pathParameters`, the request context (a
    request id, source IP and user agent of the client, the time); the body as text when its
    content type is textual and it is UTF-8, else base64 with `isBase64Encoded`;
  - limits and failures: a body over 10 MB is 413, a function error 500 and no answer within
    30 s 503, each with API Gateway's `{"message": ...}` body;
  - the answer: status, headers, cookies and body (base64-decoded when marked) of the
    function's response, plus an `apigw-requestid` header.
Not emulated: CORS preflights (the template answers them only when origins are configured),
throttling, custom domains, TLS.

usage: python scripts/local_gateway.py HOST PORT WATCHER_URL TEMPLATE
"""

import base64
import json
import os
import re
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

MAX_BODY = 10 * 1024 * 1024
INTEGRATION_TIMEOUT = 30
TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml")


class _AnyTag(yaml.SafeLoader):
    """CloudFormation's short tags (!Ref, !Sub, ...) read as their plain values: only the
    routes matter here."""


def _untagged(loader, _suffix, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)


_AnyTag.add_multi_constructor("!", _untagged)


class Route:
    def __init__(self, method, path, function):
        self.method, self.path, self.function = method, path, function
        self.key = f"{method} {path}"
        segments = path.strip("/").split("/")
        self.static_segments = sum(1 for s in segments if not s.startswith("{"))
        pattern = "".join(
            f"/(?P<{s[1:-1]}>[^/]+)" if s.startswith("{") else "/" + re.escape(s) for s in segments
        )
        self.regex = re.compile(f"^{pattern}$")

    def match(self, method, path):
        if self.method not in ("ANY", method):
            return None
        found = self.regex.match(path)
        return None if found is None else found.groupdict()


def load_routes(template_path):
    """Every HttpApi event of every function in the template, and the `$default` function."""
    with open(template_path, encoding="utf-8") as file:
        template = yaml.load(file, Loader=_AnyTag)
    routes, default = [], None
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        function = resource["Metadata"]["BuildProperties"]["Binary"]
        for event in (resource["Properties"].get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            properties = event["Properties"]
            if properties["Path"] == "$default":
                default = function
            else:
                routes.append(Route(properties.get("Method", "ANY").upper(), properties["Path"], function))
    # API Gateway prefers the route with the most static segments, then a named method over ANY.
    routes.sort(key=lambda r: (-r.static_segments, r.method == "ANY"))
    return routes, default


def route_for(routes, method, path):
    """The route API Gateway picks for `method path` and its path parameters, or (None, None)
    for the `$default` route."""
    for route in routes:
        parameters = route.match(method, path)
        if parameters is not None:
            return route, parameters
    return None, None


def request_id():
    return base64.b64encode(secrets.token_bytes(10)).decode().rstrip("=")


class Gateway(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "local-api-gateway"
    sys_version = ""
    routes: list = []
    default_function = None
    watcher_url = ""

    def log_message(self, *_args):
        # The functions' own access lines say what happened; nothing to add.
        pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def read_body(self):
        """The request body (sent whole or in chunks), or None when it is over MAX_BODY."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass  # trailers
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
                if len(body) > MAX_BODY:
                    return None
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def do_any(self):
        body = self.read_body()
        if body is None:
            self.close_connection = True
            return self.answer(413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}')
        parsed = urllib.parse.urlsplit(self.path)
        raw_path = parsed.path or "/"
        # Path parameters and routing see the decoded path, as API Gateway's do.
        path = urllib.parse.unquote(raw_path)
        route, parameters = route_for(self.routes, self.command, path)
        function = route.function if route else self.default_function
        if function is None:
            return self.answer(404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
        event, rid = self.event(raw_path, parsed.query, route, parameters, body)
        try:
            answer = self.invoke(function, event)
        except TimeoutError:
            return self.answer(503, {"content-type": "application/json"}, b'{"message":"Service Unavailable"}', rid)
        if answer is None:
            return self.answer(500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}', rid)
        headers = {k.lower(): str(v) for k, v in (answer.get("headers") or {}).items()}
        payload = answer.get("body") or ""
        payload = base64.b64decode(payload) if answer.get("isBase64Encoded") else payload.encode("utf-8")
        self.answer(int(answer.get("statusCode", 200)), headers, payload, rid, answer.get("cookies") or [])

    def __getattr__(self, name):
        # Every method (TRACE and made-up ones too) goes to the function, which answers 405.
        if name.startswith("do_"):
            return self.do_any
        raise AttributeError(name)

    def event(self, raw_path, raw_query, route, parameters, body):
        headers, cookies = {}, []
        for name, value in self.headers.items():
            name = name.lower()
            if name == "cookie":
                cookies.extend(c.strip() for c in value.split(";") if c.strip())
            elif name in headers:
                headers[name] = f"{headers[name]},{value}"
            else:
                headers[name] = value
        client_ip = self.client_address[0]
        forwarded = headers.get("x-forwarded-for")
        headers["x-forwarded-for"] = f"{forwarded}, {client_ip}" if forwarded else client_ip
        headers["x-forwarded-proto"] = "http"
        headers["x-forwarded-port"] = str(self.server.server_address[1])
        query = {}
        for key, value in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        content_type = headers.get("content-type", "")
        text, encoded = None, False
        if body:
            try:
                if not content_type or content_type.startswith(TEXT_TYPES) or "+json" in content_type:
                    text = body.decode("utf-8")
            except UnicodeDecodeError:
                pass
            if text is None:
                text, encoded = base64.b64encode(body).decode("ascii"), True
        now = time.time()
        rid = request_id()
        route_key = route.key if route else "$default"
        event = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": raw_path,
            "rawQueryString": raw_query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "domainName": headers.get("host", "localhost").split(":")[0],
                "domainPrefix": "local",
                "http": {
                    "method": self.command,
                    "path": raw_path,
                    "protocol": self.request_version,
                    "sourceIp": client_ip,
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": rid,
                "routeKey": route_key,
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": encoded,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if parameters:
            event["pathParameters"] = parameters
        if text is not None:
            event["body"] = text
        return event, rid

    def invoke(self, function, event):
        """The function's response, or None when it failed (crashed, or answered no JSON)."""
        url = f"{self.watcher_url}/2015-03-31/functions/{function}/invocations"
        request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
        request.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=INTEGRATION_TIMEOUT) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError:
            return None
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError):
                raise err.reason
            return None
        except ValueError:
            return None

    def answer(self, status, headers, body, rid=None, cookies=()):
        self.send_response(status)
        for name, value in headers.items():
            if name not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        for cookie in cookies:
            self.send_header("set-cookie", cookie)
        self.send_header("apigw-requestid", rid or request_id())
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def main():
    host, port, watcher_url, template = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    Gateway.routes, Gateway.default_function = load_routes(template)
    Gateway.watcher_url = watcher_url.rstrip("/")
    server = ThreadingHTTPServer((host, port), Gateway)
    server.daemon_threads = True
    print(f"local API Gateway on http://{host}:{port} -> {watcher_url} ({len(Gateway.routes)} routes)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
