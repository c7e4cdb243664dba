"""An enterprise's profile after registering by invite: company type and industries of interest."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialogs.engine import Dialog, Step
from bot.dialogs.self_assessment import INDUSTRIES
from bot.models import Role

ENTERPRISE_KINDS = ("ip_demo", "specialised", "high_tech", "state_owned", "other")

STEPS = (
    Step("ent_kind", "choice", options=ENTERPRISE_KINDS, columns=1),
    Step("ent_industries", "multi", options=INDUSTRIES, option_set="industry"),
)


async def _persist(session: AsyncSession, services: Any, user_id: int, ctx: dict, answers: dict,
                   finished: bool) -> None:
    await services.storage.save_enterprise_profile(session, user_id, ctx["enterprise_id"], answers.get("ent_kind"),
                                                   answers.get("ent_industries") or [])


async def _finish(services: Any, update: Any, context: Any, ctx: dict, answers: dict) -> tuple[str, dict]:
    return "profile_saved", {"profile": await services.storage.enterprise_profile(ctx["enterprise_id"])}


ENTERPRISE_PROFILE = Dialog("eprofile", STEPS, persist=_persist, finish=_finish, roles=(Role.ENTERPRISE,))
