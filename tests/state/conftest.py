"""State-test fixtures: a verified doctor in the app database."""

from __future__ import annotations

import asyncio

import pytest

from his_portal import routes
from his_portal.pages.profile import ProfileState
from tests.conftest import token_for
from tests.state.test_states import make

ZHENG_ID = "310101198503120014"


@pytest.fixture
def zheng_token(app_db) -> str:
    """郑程, verified through the 个人中心 handlers."""
    token = token_for("sh-feihuan@8112")
    profile = make(ProfileState, token=token, path=routes.PROFILE)
    profile.on_load()
    profile.set_field("id_number", ZHENG_ID)
    profile.set_field("mobile", "13800138000")
    profile.save({})
    asyncio.run(profile.verify())
    assert profile.status == "verified"
    return token
