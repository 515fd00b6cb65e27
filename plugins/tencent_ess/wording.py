"""How counts read in logs, errors and reports: "1 chunk", "2 chunks"."""

from __future__ import annotations


def quantity(number: int, noun: str, plural: str = "") -> str:
    """`number` and `noun`, the noun plural unless the number is one (`plural`: when it is not noun + "s")."""
    return f"{number} {noun if number == 1 else (plural or noun + 's')}"
