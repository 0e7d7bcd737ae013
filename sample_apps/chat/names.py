"""Random adjective-noun nicknames that always fit the 12-character limit."""

from __future__ import annotations

import random

from sample_apps.chat.messages import MAX_NICKNAME

ADJECTIVES = ("calm", "bold", "shy", "wild", "keen", "glad", "odd", "wise", "zany", "cozy", "brisk", "jolly", "quiet")
NOUNS = ("otter", "heron", "fox", "lynx", "owl", "crow", "seal", "wren", "bison", "panda", "koi", "yak", "moth")


def random_nickname(rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    while True:
        nickname = f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}"
        if len(nickname) <= MAX_NICKNAME:
            return nickname
