"""The HTML page for one city (or the universe): a header bar with the cities, and an empty grid the script fills."""

from __future__ import annotations

from html import escape

from sample_apps.wazstagram.cities import CITIES, UNIVERSE, city_named


def title_of(room: str) -> str:
    if room == UNIVERSE:
        return "All cities"
    city = city_named(room)
    return city.title if city else room


def render_page(room: str) -> str:
    links = [("/", "All", room == UNIVERSE)] + [(f"/{c.name}", c.title, room == c.name) for c in CITIES]
    nav = "\n".join(
        f'      <a href="{escape(href)}"{" class=current" if current else ""}>{escape(label)}</a>'
        for href, label, current in links
    )
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>wazstagram · {escape(title_of(room))}</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/static/style.css">
</head>
<body data-city="{escape(room)}">
  <header>
    <h1><a href="/">wazstagram</a> <span class="where">{escape(title_of(room))}</span></h1>
    <nav>
{nav}
    </nav>
    <p id="status" class="status">connecting…</p>
  </header>
  <main id="grid" class="grid" aria-live="polite"></main>
  <script src="/static/app.js"></script>
</body>
</html>
"""
