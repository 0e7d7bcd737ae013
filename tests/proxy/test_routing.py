"""The route table on its own: longest prefix, whole segments, hosts (issue 2)."""

from pysupervise.proxy.routing import Route, RouteTable


def table() -> RouteTable:
    return RouteTable([Route("/", "root"), Route("/chat", "chat"), Route("/chat/admin", "admin"),
                       Route("/v1", "sim"), Route("/", "api-host", host="api.example"),
                       Route("/chat", "chat-host", host="api.example")])


def test_longest_prefix_and_segment_boundaries():
    routes = table()
    assert routes.match(b"x", b"/") == "root"
    assert routes.match(b"x", b"/chat") == "chat"
    assert routes.match(b"x", b"/chat/") == "chat"
    assert routes.match(b"x", b"/chat?room=1") == "chat"
    assert routes.match(b"x", b"/chatter") == "root"
    assert routes.match(b"x", b"/chat/admin/users") == "admin"
    assert routes.match(b"x", b"/chat/administrator") == "chat"
    assert routes.match(b"x", b"/v1/geographies/1/media/recent?x") == "sim"


def test_host_routes_win_ties_and_ignore_port_and_case():
    routes = table()
    assert routes.match(b"API.example:8080", b"/anything") == "api-host"
    assert routes.match(b"api.example", b"/chat/x") == "chat-host"
    assert routes.match(b"api.example", b"/chat/admin") == "admin"  # longer prefix still wins
    assert routes.match(b"[::1]:8080", b"/x") == "root"


def test_no_match_without_a_root_route():
    routes = RouteTable([Route("/only", "only")])
    assert routes.match(b"x", b"/") is None
    assert routes.match(b"x", b"/onlyx") is None


def test_replace_is_atomic_and_targets_are_listed_once():
    routes = table()
    routes.replace([Route("/a", "A"), Route("/b", "A")])
    assert routes.match(b"x", b"/chat") is None
    assert routes.targets() == ["A"]


def test_each_route_carries_its_prefix_line_built_once():
    app = object()
    routes = RouteTable([Route("/", "root", forward_prefix=True), Route("/api", app, forward_prefix=True),
                         Route("/api-two", app, forward_prefix=True), Route("/raw", "raw"),
                         Route("/café", "cafe", forward_prefix=True)])
    assert routes.lookup(b"x", b"/api/docs") == (app, b"X-Forwarded-Prefix: /api\r\n")
    assert routes.lookup(b"x", b"/api-two") == (app, b"X-Forwarded-Prefix: /api-two\r\n")
    assert routes.lookup(b"x", b"/other") == ("root", b"")  # mounted at "/": nothing to tell
    assert routes.lookup(b"x", b"/raw/x") == ("raw", b"")   # mount_prefix = false
    # A header is ASCII: the worker gets the prefix percent-encoded, as it gets such a URL.
    assert routes.lookup(b"x", "/café/x".encode()) == ("cafe", b"X-Forwarded-Prefix: /caf%C3%A9\r\n")
    assert routes.lookup(b"x", b"/api/x") is routes.lookup(b"x", b"/api/y")  # the same tuple: no work per request
    assert RouteTable([Route("/api", app)]).lookup(b"x", b"/nothing") is None
