"""An enterprise posts a technology need (or its owner changes one): the problem, its industry field,
the budget, the cooperation wanted (转让 / 许可 / 联合攻关 / 委托研发) and a deadline. On submit the need
is saved in the dialog's own transaction; then the library is searched for it and the holders of the
best matches are told (bot/services/needs.py)."""
from __future__ import annotations

from bot.dialogs.engine import Dialog
from bot.dialogs.hooks import dialog_now, load_clock
from bot.dialogs.ports import DialogResult, DialogSave, Reply
from bot.dialogs.steps import Choice, Invalid, Review, Text
from bot.models import Role
from bot.services import needs
from bot.services.calendar import local_today, parse_date
from bot.vocabulary import INDUSTRIES

MAX_AHEAD_DAYS = 3 * 366


def parse_deadline(text: str) -> str:
    day = parse_date(text)
    if day is None:
        raise Invalid("need_bad_date")
    today = local_today(dialog_now())
    if day < today:
        raise Invalid("need_date_past", today=today.isoformat())
    if (day - today).days > MAX_AHEAD_DAYS:
        raise Invalid("need_date_far")
    return day.isoformat()


STEPS = (
    Text("n_problem", max_len=1000, min_len=6),
    Choice("n_field", options=INDUSTRIES),
    Choice("n_budget", options=needs.BUDGETS),
    Choice("n_coop", options=needs.COOPERATION),
    Text("n_deadline", max_len=20, validate=parse_deadline),
    Review("review", template="dlg_need_review"),
)


async def _persist(save: DialogSave) -> int | None:
    if not save.final:
        return None
    return await needs.save_need(save.services, save.session, save.user_id, save.ctx["enterprise_id"], save.answers,
                                 save.ctx.get("need_id"))


async def _finish(result: DialogResult) -> Reply:
    if result.value is None:  # the need was closed (or is not this enterprise's) meanwhile
        return Reply("need_gone", {})
    matched = await needs.match_and_deliver(result.services, result.value)
    need = await result.services.storage.need(result.value)
    return Reply("need_posted", {"need": need, "matched": matched, "edited": bool(result.ctx.get("need_id"))})


NEED_DIALOG = Dialog("need", STEPS, load=load_clock, persist=_persist, finish=_finish,
                     cancel_template="need_cancelled", roles=(Role.ENTERPRISE,))
