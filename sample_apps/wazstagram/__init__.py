"""wazstagram: a Python port of the 2013 Azure sample where an Instagram backend role feeds websocket frontends through a topic.

Roles (each an aiohttp app that pysupervise hosts, or that runs alone for development):

* ``backend``       — receives Instagram's realtime callbacks, fetches the new pictures and
                      publishes them to the bus topic ``wazages``.
* ``frontend``      — one durable subscription per worker, a per-city cache, and the page that
                      streams pictures to browsers over a websocket.
* ``instagram_sim`` — an offline stand-in for Instagram's v1 API and its realtime notifications.

``python -m sample_apps.wazstagram`` runs all three in one process for development.
"""
