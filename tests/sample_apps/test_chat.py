"""The chat: field limits with errors on the socket, sourceWorker, and messages crossing workers through the bus."""

from __future__ import annotations

import json
import random
import socket

import pytest

from sample_apps.chat.app import create_app
from sample_apps.chat.messages import MAX_MESSAGE, MAX_NICKNAME, InvalidMessage, from_client
from sample_apps.chat.names import random_nickname
from sample_apps.chat.settings import ChatSettings


@pytest.fixture
def settings(broker) -> ChatSettings:
    return ChatSettings(bus_url=broker.url, host="edge-1")


async def connect(client):
    ws = await client.ws_connect("/chat/ws")
    welcome = await ws.receive_json(timeout=5)
    assert welcome["type"] == "welcome"
    return ws, welcome


async def next_of(ws, kind: str) -> dict:
    while True:
        frame = await ws.receive_json(timeout=5)
        if frame["type"] == kind:
            return frame


def test_the_limits_are_12_and_140_characters():
    assert from_client(json.dumps({"nickname": "n" * 12, "message": "m" * 140}), 3).sourceWorker == 3
    for nickname, text, problem in (("n" * 13, "hi", "nickname is 13 characters long; the limit is 12"),
                                    ("bob", "m" * 141, "message is 141 characters long; the limit is 140"),
                                    ("", "hi", "nickname is empty"), ("bob", "   ", "message is empty"),
                                    (7, "hi", "nickname must be text")):
        with pytest.raises(InvalidMessage, match=problem):
            from_client(json.dumps({"nickname": nickname, "message": text}), 0)
    with pytest.raises(InvalidMessage, match="not JSON"):
        from_client("<b>hi</b>", 0)


def test_random_nicknames_are_adjective_noun_within_the_limit():
    for seed in range(300):
        nickname = random_nickname(random.Random(seed))
        assert len(nickname) <= MAX_NICKNAME and nickname.count("-") == 1


async def test_over_long_fields_get_an_error_on_the_socket_and_are_not_sent(serve, settings):
    chat = await serve(create_app(settings))
    ws, welcome = await connect(chat)
    assert (welcome["host"], welcome["worker"]) == ("edge-1", 0) and 0 < len(welcome["nickname"]) <= MAX_NICKNAME
    await ws.send_str(json.dumps({"nickname": "n" * (MAX_NICKNAME + 1), "message": "hi"}))
    assert "the limit is 12" in (await ws.receive_json(timeout=5))["error"]
    await ws.send_str(json.dumps({"nickname": "bob", "message": "m" * (MAX_MESSAGE + 1)}))
    assert "the limit is 140" in (await ws.receive_json(timeout=5))["error"]
    await ws.send_str("not json")
    assert (await ws.receive_json(timeout=5))["type"] == "error"
    text = "<script>alert('x')</script> & \"quotes\""
    await ws.send_str(json.dumps({"nickname": "n" * MAX_NICKNAME, "message": text}))
    # The next thing on this socket is the valid message: nothing was sent for the refused ones.
    assert await ws.receive_json(timeout=5) == {"type": "message", "nickname": "n" * 12, "message": text,
                                                "sourceWorker": 0, "sourceHost": "edge-1"}


async def test_a_message_reaches_the_sockets_of_every_worker_with_its_source_worker(serve, broker):
    worker_a = await serve(create_app(ChatSettings(bus_url=broker.url, worker=0)))
    worker_b = await serve(create_app(ChatSettings(bus_url=broker.url, worker=1)))
    alice, welcome_a = await connect(worker_a)
    bob, welcome_b = await connect(worker_b)
    assert (welcome_a["worker"], welcome_b["worker"]) == (0, 1)
    await alice.send_str(json.dumps({"nickname": "alice", "message": "Connected"}))
    for ws in (alice, bob):  # the sender's own message comes back through the bus too
        assert await next_of(ws, "message") == {"type": "message", "nickname": "alice", "message": "Connected",
                                                "sourceWorker": 0, "sourceHost": ""}
    await bob.send_str(json.dumps({"nickname": "bob", "message": "hi from B"}))
    assert (await next_of(alice, "message"))["sourceWorker"] == 1


async def test_behind_a_balancer_messages_say_which_host_the_worker_runs_on(serve, broker):
    # Two hosts, each with its slot 0, on one bus: only the host tells them apart.
    host_a = await serve(create_app(ChatSettings(bus_url=broker.url, worker=0, host="edge-1")))
    host_b = await serve(create_app(ChatSettings(bus_url=broker.url, worker=0, host="edge-2")))
    alice, welcome_a = await connect(host_a)
    bob, welcome_b = await connect(host_b)
    assert (welcome_a["host"], welcome_b["host"]) == ("edge-1", "edge-2")
    await bob.send_str(json.dumps({"nickname": "bob", "message": "hi from B"}))
    got = await next_of(alice, "message")
    assert (got["sourceHost"], got["sourceWorker"]) == ("edge-2", 0)


def test_the_host_comes_from_the_worker_contract():
    assert ChatSettings.from_env({"PYSUPERVISE_HOST": "edge-7", "PYSUPERVISE_WORKER": "2"}).host == "edge-7"
    assert ChatSettings.from_env({}).host == socket.gethostname()  # run alone, outside pysupervise


async def test_invalid_messages_on_the_channel_are_not_relayed(serve, settings, bus_client):
    chat = await serve(create_app(settings))
    ws, _ = await connect(chat)
    for junk in (b"garbage", json.dumps({"nickname": "x" * 50, "message": "hi", "sourceWorker": 0}).encode(),
                 json.dumps({"nickname": "eve", "message": "hi"}).encode(),
                 json.dumps({"nickname": "eve", "message": "hi", "sourceWorker": 0, "sourceHost": 7}).encode()):
        await bus_client.publish_channel("chat", junk)
    await bus_client.publish_channel("chat", json.dumps({"nickname": "ok", "message": "valid", "sourceWorker": 2}))
    # No sourceHost: a worker of the previous version, on a host a rolling deploy has not reached yet.
    assert await ws.receive_json(timeout=5) == {"type": "message", "nickname": "ok", "message": "valid",
                                                "sourceWorker": 2, "sourceHost": ""}


async def test_the_page_and_its_local_assets(serve, settings):
    chat = await serve(create_app(settings))
    response = await chat.get("/chat", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/chat/"
    page = await (await chat.get("/chat/")).text()
    assert 'src="static/chat.js"' in page and "//" not in page.split("<body>")[1]
    for asset in ("/chat/static/chat.js", "/chat/static/chat.css"):
        assert (await chat.get(asset)).status == 200
