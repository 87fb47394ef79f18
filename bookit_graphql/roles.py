"""The roles a user may have: core, so that permissions and the users' rows share them."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    USER = "USER"
    ADMIN = "ADMIN"
