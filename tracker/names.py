"""Short unique run ids and readable default run names."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_ADJECTIVES = (
    "amber azure bold brisk calm clever cosmic crisp dapper eager fancy fluffy gentle glowing "
    "golden happy hidden jolly keen lively lucky mellow misty noble proud quiet rapid rustic "
    "silent snowy solar spry steady sunny swift tidy vivid warm wise witty"
).split()
_NOUNS = (
    "badger bison cedar comet condor coral crane delta ember falcon fern fjord galaxy gecko "
    "glacier harbor heron ibis lagoon lynx maple meadow nebula oak orca otter panda pine "
    "quasar raven river sparrow spruce summit tiger tundra valley walrus willow zephyr"
).split()


def new_run_id(length: int = 8) -> str:
    """A random base-36 id: 8 characters give 2.8e12 values, unique enough for one store."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def readable_name(number: int) -> str:
    """A memorable name such as 'swift-otter-12' (the number is the run's ordinal in its project)."""
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{number}"
