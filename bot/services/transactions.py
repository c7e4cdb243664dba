"""Completed deals (transfer, licence, equity) and their follow-up: the tech-transfer office marks a
deal's product as on the market, which reminds the enterprise to file it as a patent-intensive
product, and the enterprise (or the office) records the filing's progress."""
from __future__ import annotations

import enum
from typing import Any

from bot.delivery.notify import push, wake
from bot.models import Role
from bot.services.roles import RoleSet
from bot.telegram.callbacks import FilingStatus

FILING_STATUSES = ("preparing", "filed", "certified")


class IndustrialisedResult(enum.Enum):
    MARKED = "marked"
    ALREADY_MARKED = "already_marked"
    NOT_FOUND = "not_found"  # unknown, or another institution's deal


async def mark_industrialised(services: Any, transaction_id: int, actor_id: int, roles: RoleSet
                              ) -> IndustrialisedResult:
    """Only the office of the patent's institution may; the enterprise's users get the filing
    reminder (with a button per filing status) in the same transaction."""
    st = services.storage
    async with st.session() as s:
        found = await st.transaction_for_update(s, transaction_id)
        if found is None or found[1] not in roles.institutions(Role.TECH_TRANSFER):
            return IndustrialisedResult.NOT_FOUND
        t = found[0]
        if t.industrialised:
            return IndustrialisedResult.ALREADY_MARKED
        st.mark_industrialised(s, t, actor_id)
        if t.enterprise_id is not None:
            patent = await st.get_patent(t.patent_id)
            for uid in await st.enterprise_users(s, t.enterprise_id):
                user = await st.get_user(uid, session=s)
                labels = services.i18n.label_module(user.language if user else None)
                markup = {"inline_keyboard": [[{"text": labels.filing_status[status],
                                                "callback_data": FilingStatus(t.id, status).pack()}
                                               for status in FILING_STATUSES]]}
                await push(s, services, uid, "notify_filing", key=f"filing:{t.id}:{uid}", reply_markup=markup,
                           patent=patent)
    wake(services)
    return IndustrialisedResult.MARKED


def may_record_filing(roles: RoleSet, institution_id: int | None, enterprise_id: int | None) -> bool:
    """The filing status feeds exports and statistics, so only the deal's own parties may set it:
    the tech-transfer office of the patent's institution, or a user of the deal's enterprise."""
    if institution_id is not None and institution_id in roles.institutions(Role.TECH_TRANSFER):
        return True
    return enterprise_id is not None and any(
        g.role == Role.ENTERPRISE.value and g.enterprise_id == enterprise_id for g in roles.grants)


async def record_filing_status(services: Any, transaction_id: int, roles: RoleSet, status: str) -> bool:
    """False for a status that is not one of FILING_STATUSES, an unknown deal, or a deal the user
    is not a party to (the same answer, so a forged button learns nothing)."""
    if status not in FILING_STATUSES:
        return False
    st = services.storage
    async with st.session() as s:
        found = await st.transaction_for_update(s, transaction_id)
        if found is None or not may_record_filing(roles, found[1], found[0].enterprise_id):
            return False
        st.set_filing_status(s, found[0], roles.user_id, status)
    return True
