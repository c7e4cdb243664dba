"""An enterprise's profile after registering by invite: company type and industries of interest."""
from __future__ import annotations

from bot.dialogs.engine import Dialog
from bot.dialogs.ports import DialogResult, DialogSave, Reply
from bot.dialogs.steps import Choice, Multi
from bot.models import Role
from bot.vocabulary import INDUSTRIES

ENTERPRISE_KINDS = ("ip_demo", "specialised", "high_tech", "state_owned", "other")

STEPS = (
    Choice("ent_kind", options=ENTERPRISE_KINDS, columns=1),
    Multi("ent_industries", options=INDUSTRIES, option_set="industry"),
)


async def _persist(save: DialogSave) -> None:
    await save.services.storage.save_enterprise_profile(save.session, save.user_id, save.ctx["enterprise_id"],
                                                        save.answers.get("ent_kind"),
                                                        save.answers.get("ent_industries") or [])


async def _finish(result: DialogResult) -> Reply:
    return Reply("profile_saved", {"profile": await result.services.storage.enterprise_profile(
        result.ctx["enterprise_id"])})


ENTERPRISE_PROFILE = Dialog("eprofile", STEPS, persist=_persist, finish=_finish, roles=(Role.ENTERPRISE,))
