"""The eight cities of the original sample: URL names, Instagram geography ids and coordinates."""

from __future__ import annotations

from dataclasses import dataclass

UNIVERSE = "universe"  # the room (and cache list) that gets every city's pictures


@dataclass(frozen=True)
class City:
    name: str  # as in /seattle and /newimage/seattle
    title: str
    geography_id: str
    latitude: float
    longitude: float


CITIES: tuple[City, ...] = (
    City("seattle", "Seattle", "1465544", 47.606308, -122.332072),
    City("new-york", "New York", "1465542", 40.714379, -74.005989),
    City("los-angeles", "Los Angeles", "1465540", 34.052304, -118.243686),
    City("pittsburgh", "Pittsburgh", "1465541", 40.440709, -79.995879),
    City("san-francisco", "San Francisco", "1465543", 37.774963, -122.419433),
    City("washington-dc", "Washington, DC", "1465537", 38.895125, -77.03637),
    City("london", "London", "1465536", 51.508235, -0.128023),
    City("rome", "Rome", "1465538", 41.901534, 12.460781),
)


def city_named(name: str) -> City | None:
    return next((city for city in CITIES if city.name == name), None)
