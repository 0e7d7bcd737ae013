"""docs/scale-out.md, tested: three hosts in network namespaces, one Redis, the guide's nginx in front (issue 17).

Every host streams every picture, the chat crosses hosts exactly once and in order, the counter is exact under
round-robin, and a host killed with SIGKILL or drained costs no request. The last two tests take a host away
each, so they run last, in this order (pytest keeps a module's order).
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from urllib.parse import urljoin

import aiohttp

from sample_apps.wazstagram.cities import CITIES
from tests.multihost.clients import ChatMember, PictureWatcher, RequestLoop
from tests.multihost.cluster import SIMULATOR_HOST, Cluster, Host, host_id
from tests.sample_apps.waiting import eventually

NEW_PICTURES = 20  # pictures published after every watcher is connected
CHAT_LINES = 100  # per chat member
INCREMENTS = 300
HEALTH = "/_pysupervise/health"
# Idempotent pages of three apps: nginx may retry them on another host, as it must when one goes away.
LOOP_PATHS = ("/", "/chat/", "/counter/get")


async def health(http: aiohttp.ClientSession, host: Host) -> int:
    async with http.get(host.url + HEALTH) as response:
        return response.status


async def test_every_host_is_healthy_and_reached_through_the_balancer(cluster: Cluster) -> None:
    async with aiohttp.ClientSession() as http:
        for index, host in enumerate(cluster.hosts):
            async with http.get(host.url + HEALTH) as response:
                page = await response.json()
            assert (response.status, page["status"], page["host"]) == (200, "ok", host_id(index)), page

        def served() -> set[str]:
            return {line.upstreams[-1] for line in cluster.nginx.access_lines() if "/counter/get" in line.request}

        # Round robin, shared with Instagram's callbacks meanwhile: a few requests reach every host.
        for _ in range(10 * len(cluster.hosts)):
            async with http.get(cluster.balancer_url + "/counter/get") as response:
                assert response.status == 200 and await response.text() == "Current sum: undefined"
            if served() == {host.upstream for host in cluster.hosts}:
                break
        assert served() == {host.upstream for host in cluster.hosts}


async def newest_picture_id(http: aiohttp.ClientSession, cluster: Cluster) -> int:
    """The newest media id Instagram (the simulator) has made so far, in any city. Ids only grow."""
    client_id, client_secret = cluster.instagram_client

    async def registered() -> bool:
        async with http.get(cluster.simulator_url + "/v1/subscriptions",
                            params={"client_id": client_id, "client_secret": client_secret}) as response:
            return len((await response.json())["data"]) == len(CITIES)

    # Every city registered: the pictures a city starts with (and its welcome callbacks) are behind us.
    await eventually(registered, "the backends to register every city with Instagram", timeout=30)
    newest = 0
    for city in CITIES:
        async with http.get(f"{cluster.simulator_url}/v1/geographies/{city.geography_id}/media/recent",
                            params={"client_id": client_id, "count": "1"}) as response:
            newest = max([newest, *(int(item["id"]) for item in (await response.json())["data"])])
    return newest


async def test_every_host_streams_every_new_picture_once_and_its_image_loads_through_the_balancer(
        cluster: Cluster) -> None:
    async with aiohttp.ClientSession() as http:
        watchers = [await PictureWatcher(http, host.url).start() for host in cluster.hosts]
        try:
            # A watcher's first frame means the frontend has put it in the room: from then on it misses nothing.
            await eventually(lambda: all(w.ids for w in watchers), "a picture on every host's frontend", timeout=30)
            made_before = await newest_picture_id(http, cluster)

            def new_ids(watcher: PictureWatcher) -> list[str]:
                return [i for i in watcher.ids if int(i) > made_before]

            def all_caught_up() -> bool:
                for watcher in watchers:
                    watcher.check_alive()
                news = [set(new_ids(w)) for w in watchers]
                return min(map(len, news)) >= NEW_PICTURES and all(n == set.union(*news) for n in news)

            await eventually(all_caught_up, f"{NEW_PICTURES} new pictures on every host, the same ones",
                             timeout=60, interval=0.05)
            for watcher in watchers:
                repeated = [i for i, n in Counter(new_ids(watcher)).items() if n > 1]
                assert not repeated, f"{watcher.host_url} got pictures twice: {repeated}"
            # Each image through the balancer: round robin sends them to every host, not only the simulator's.
            urls = [urljoin(cluster.balancer_url + "/", watchers[0].image_urls[i]) for i in new_ids(watchers[0])[:6]]
            for url in urls:
                async with http.get(url) as image:
                    assert image.status == 200, (url, image.status, await image.text())
                    assert image.content_type == "image/svg+xml" and b"<svg" in await image.read()
        finally:
            for watcher in watchers:
                await watcher.close()


async def test_a_chat_line_said_on_any_host_is_heard_on_every_host_once_and_in_order(cluster: Cluster) -> None:
    async with aiohttp.ClientSession() as http:
        members = [await ChatMember(http, host.url, f"member{host.number}").join() for host in cluster.hosts]
        try:
            assert [m.host for m in members] == [host_id(i) for i in range(len(cluster.hosts))]
            await asyncio.gather(*(member.say(CHAT_LINES) for member in members))
            expected = len(members) * CHAT_LINES
            await eventually(lambda: all(len(m.heard) >= expected for m in members),
                             f"{expected} chat lines on every host", timeout=30)
            lines = [f"line {n}" for n in range(CHAT_LINES)]
            for member in members:
                assert member.errors == [], (member.host_url, member.errors)
                assert len(member.heard) == expected, f"{member.host_url} heard {len(member.heard)} lines"
                for speaker in members:
                    said = [(text, host) for nickname, text, host in member.heard if nickname == speaker.nickname]
                    assert said == [(line, speaker.host) for line in lines], \
                        f"{member.host_url} heard {speaker.nickname} out of order, twice, or from another host"
        finally:
            for member in members:
                await member.close()


async def test_concurrent_increments_of_one_session_on_every_host_are_all_counted(cluster: Cluster) -> None:
    # unsafe: the balancer is addressed by IP, whose cookies aiohttp's default jar refuses.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     connector=aiohttp.TCPConnector(limit=30)) as http:
        async def increase() -> str:
            async with http.get(cluster.balancer_url + "/counter/inc") as response:
                assert response.status == 200, await response.text()
                return response.headers["X-Served-By"]

        await increase()  # the session (and its cookie) first
        served_by = await asyncio.gather(*(increase() for _ in range(INCREMENTS)))
        async with http.get(cluster.balancer_url + "/counter/get") as response:
            assert await response.text() == f"Current sum: {INCREMENTS + 1}"
    assert len(set(served_by)) >= len(cluster.hosts), Counter(served_by)  # one counter worker per host, at least


async def test_a_host_killed_with_sigkill_costs_no_request(cluster: Cluster) -> None:
    victim = cluster.hosts[-1]
    assert SIMULATOR_HOST != len(cluster.hosts) - 1
    async with aiohttp.ClientSession() as http:
        loop = RequestLoop(http, cluster.balancer_url, LOOP_PATHS).start()
        try:
            await loop.requests_after(100)
            victim.site.process.kill()
            await asyncio.to_thread(victim.site.process.wait)
            await loop.requests_after(300)
        finally:
            await loop.stop()
    assert loop.failures == [], loop.failures[:20]
    lines = cluster.nginx.access_lines()
    assert any(line.upstreams == (victim.upstream,) for line in lines), "the victim never served a request"
    # ... and nginx found it gone: a request tried there first was answered by another host.
    assert any(len(line.upstreams) > 1 and line.upstreams[0] == victim.upstream and line.status == 200
               for line in lines), "no request was retried on another host"


async def test_a_drained_host_stops_by_itself_without_costing_a_request_and_comes_back(cluster: Cluster) -> None:
    drained = next(host for i, host in enumerate(cluster.hosts) if i != SIMULATOR_HOST and host.site.process.poll() is None)
    async with aiohttp.ClientSession() as http:
        loop = RequestLoop(http, cluster.balancer_url, LOOP_PATHS).start()
        try:
            await loop.requests_after(100)
            draining = await asyncio.create_subprocess_exec(
                *drained.site.command_prefix, sys.executable, "-m", "pysupervise", "drain", "-c",
                str(drained.site.config_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            async def unhealthy() -> bool:
                return await health(http, drained) == 503

            await eventually(unhealthy, "the drained host's health to say 503", timeout=5)
            logged_at_503 = len(cluster.nginx.access_lines())
            output, _ = await asyncio.wait_for(draining.communicate(), timeout=60)
            assert draining.returncode == 0, output.decode()
            assert await asyncio.to_thread(drained.site.process.wait, 30) == 0, drained.site.output_text()
            # nginx does not read the health page: the host went on serving until the end of drain_timeout.
            assert any(line.upstreams == (drained.upstream,) and line.status == 200
                       for line in cluster.nginx.access_lines()[logged_at_503:]), "nothing served while draining"
            await loop.requests_after(300)
            # The rolling deploy's second half: start it again; the balancer sends it requests again.
            logged_before = len(cluster.nginx.access_lines())
            await asyncio.to_thread(cluster.restart, drained)

            async def healthy() -> bool:
                return await health(http, drained) == 200

            await eventually(healthy, "the restarted host's health to say 200", timeout=10)

            def served_by_drained_again() -> bool:
                return any(line.upstreams[-1] == drained.upstream
                           for line in cluster.nginx.access_lines()[logged_before:])

            await eventually(served_by_drained_again, "the balancer to send requests to the host again", timeout=30)
        finally:
            await loop.stop()
    assert loop.failures == [], loop.failures[:20]
