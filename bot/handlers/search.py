"""Search UI: plain text = a search; result pages with Prev/Next, filters by buttons, patent cards.
Their buttons (bot/telegram/callbacks.py) carry the id of a SavedQuery row, not the query itself, so they
survive restarts and fit in 64 bytes."""
from __future__ import annotations

from typing import TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import Application, MessageHandler, filters

from bot.context import BotContext
from bot.handlers.common import button_handlers, current_user, reply, user_lang, via_this_bot
from bot.storage import PatentCardData
from bot.storage.patents import PATENT_TYPES
from bot.search import text as search_text_analysis
from bot.telegram.callbacks import (ClearFilters, PatentCard, RunCorrection, SavedSearchButton, SearchFilters,
                                    SearchPage, SetFilter)
from bot.vocabulary import INDUSTRIES, INTENTS

C = TypeVar("C", bound=SavedSearchButton)

MAX_QUERY_CHARS = 100
PAGE_SIZE = 5
FILTER_VALUES: dict[str, tuple[str, ...]] = {
    "industry": INDUSTRIES,
    "intent": INTENTS,
    "maturity": tuple(str(i) for i in range(1, 10)),
    "implemented": ("yes", "no"),
    "assessed": ("yes",),
    "ptype": PATENT_TYPES,
}


async def search_text(update: Update, context: BotContext) -> None:
    if via_this_bot(update, context):
        return  # a card the user just chose in inline mode: it is on screen already, not a query
    query = (update.effective_message.text or "").strip()
    if len(query) > MAX_QUERY_CHARS:
        await reply(update, context, "query_too_long", length=len(query), limit=MAX_QUERY_CHARS)
        return
    user = await current_user(update, context)
    qid = await context.services.storage.save_query(user.id, query, {})
    await show_page(update, context, qid, query, {}, 0, edit=False)


async def run_search(update: Update, context: BotContext, query: str) -> None:
    """A search started by a link (the inline mode's "did you mean"): as if the user typed it."""
    user = await current_user(update, context)
    qid = await context.services.storage.save_query(user.id, query, {})
    await show_page(update, context, qid, query, {}, 0, edit=False)


async def show_page(update: Update, context: BotContext, qid: int, query: str, flt: dict, page: int, *,
                    edit: bool) -> None:
    services = context.services
    lang = await user_lang(update, context)
    labels = context.i18n.label_module(lang)
    allowed = await services.storage.filter_ids(flt)
    result_page = await services.catalog.search(query, limit=PAGE_SIZE, offset=page * PAGE_SIZE,
                                                allowed_ids=allowed)
    total = result_page.result.total
    if total and page * PAGE_SIZE >= total:  # a stale page number: show the last page
        page = (total - 1) // PAGE_SIZE
        result_page = await services.catalog.search(query, limit=PAGE_SIZE, offset=page * PAGE_SIZE,
                                                    allowed_ids=allowed)
    pages_total = max(1, -(-total // PAGE_SIZE))
    patents = result_page.patents
    correction, fixes = await _corrections(update, context, query, flt, result_page.result, labels,
                                           first_page=page == 0)
    if not patents:
        text = context.i18n.render(lang, "search_empty", query=query, suggestions=result_page.result.suggestions,
                                   correction=correction, filters=flt, opt=labels.opt)
        rows = fixes + ([[InlineKeyboardButton(labels.btn_clear_filters, callback_data=ClearFilters(qid).pack())]]
                        if flt else [])
    else:
        assessed = await services.storage.assessed_patents()
        terms = sorted({t for h in result_page.result.hits for t in h.matched_terms} | set(result_page.result.terms))
        text = context.i18n.render(lang, "search_results", query=query, total=total, patents=patents, terms=terms,
                                   offset=page * PAGE_SIZE, page=page + 1, pages=pages_total,
                                   assessed=assessed, filters=flt, opt=labels.opt, correction=correction)
        rows = [[InlineKeyboardButton(str(page * PAGE_SIZE + i + 1), callback_data=PatentCard(p.id, qid, page).pack())
                 for i, p in enumerate(patents)]]
        nav = []
        if page > 0:
            nav.append(InlineKeyboardButton(labels.btn_prev, callback_data=SearchPage(qid, page - 1).pack()))
        if page + 1 < pages_total:
            nav.append(InlineKeyboardButton(labels.btn_next, callback_data=SearchPage(qid, page + 1).pack()))
        if nav:
            rows.append(nav)
        frow = [InlineKeyboardButton(labels.btn_filters, callback_data=SearchFilters(qid).pack())]
        if flt:
            frow.append(InlineKeyboardButton(labels.btn_clear_filters, callback_data=ClearFilters(qid).pack()))
        rows.append(frow)
        rows += fixes
    await _put(update, context, text, InlineKeyboardMarkup(rows), edit=edit)


MAX_FIX_BUTTONS = 3


async def _corrections(update: Update, context: BotContext, query: str, flt: dict, result, labels, *,
                       first_page: bool) -> tuple[str | None, list[list[InlineKeyboardButton]]]:
    """"Did you mean": the corrected query (when the engine found one that explains the results
    much better than what was typed) with a button that runs it; with no results, buttons for the
    nearest corrections too. Each button's query is a saved search of this user."""
    if not first_page:
        return None, []
    typed = search_text_analysis.normalize(query)
    correction = result.correction if result.correction and result.correction != typed else None
    wanted = [correction] if correction else []
    if not result.total:
        wanted += [s for s in result.suggestions if s not in wanted]
    rows = []
    for q in wanted[:MAX_FIX_BUTTONS]:
        qid = await context.services.storage.save_query(update.effective_user.id, q, flt)
        rows.append([InlineKeyboardButton(labels.btn_did_you_mean + q[:40], callback_data=RunCorrection(qid).pack())])
    return correction, rows


async def _put(update: Update, context: BotContext, text: str, markup: InlineKeyboardMarkup | None, *,
               edit: bool) -> None:
    """Edit the message the button was on, or send a new one."""
    if markup is not None and not markup.inline_keyboard:
        markup = None
    query = update.callback_query
    if edit and query is not None and query.message is not None:
        try:
            await query.edit_message_text(text, reply_markup=markup,
                                          link_preview_options={"is_disabled": True})
            return
        except BadRequest as e:
            if "not modified" in str(e).lower():
                return
    await context.bot.send_message(update.effective_chat.id, text, reply_markup=markup,
                                   link_preview_options={"is_disabled": True})


async def _saved(update: Update, context: BotContext, kind: type[C]) -> tuple[C, str, dict] | None:
    """The button pressed and the saved search behind it (query, filters), or None (and a polite toast)
    if the button is malformed or the search unknown or not the user's."""
    pressed = kind.parse(update.callback_query.data)
    saved = (await context.services.storage.get_query(pressed.query_id, update.effective_user.id)
             if pressed is not None and pressed.query_id > 0 else None)
    if saved is None:
        await _expired(update, context)
        return None
    return pressed, saved[0], saved[1]


async def _expired(update: Update, context: BotContext) -> None:
    await update.callback_query.answer(context.i18n.render(await user_lang(update, context), "expired_button"))


async def page_button(update: Update, context: BotContext) -> None:
    got = await _saved(update, context, SearchPage)
    if got is None:
        return
    pressed, query, flt = got
    await update.callback_query.answer()
    await show_page(update, context, pressed.query_id, query, flt, pressed.page, edit=True)


async def correction_button(update: Update, context: BotContext) -> None:
    got = await _saved(update, context, RunCorrection)
    if got is None:
        return
    pressed, query, flt = got
    await update.callback_query.answer()
    await show_page(update, context, pressed.query_id, query, flt, 0, edit=True)


async def filter_button(update: Update, context: BotContext) -> None:
    got = await _saved(update, context, SearchFilters)
    if got is None:
        return
    pressed, query, flt = got
    qid = pressed.query_id
    lang = await user_lang(update, context)
    labels = context.i18n.label_module(lang)
    await update.callback_query.answer()
    key = pressed.key if pressed.key in FILTER_VALUES else None
    if key is None:
        rows = [[InlineKeyboardButton(labels.filter_name[k] + (" ✅" if k in flt else ""),
                                      callback_data=SearchFilters(qid, k).pack())]
                for k in FILTER_VALUES]
    else:
        values = FILTER_VALUES[key]
        names = labels.filter_value.get(key, {})
        buttons = [InlineKeyboardButton(("✅ " if flt.get(key) == v else "") + names.get(v, v),
                                        callback_data=SetFilter(qid, key, i).pack()) for i, v in enumerate(values)]
        width = 3 if key == "maturity" else 2
        rows = [buttons[i:i + width] for i in range(0, len(buttons), width)]
    rows.append([InlineKeyboardButton(labels.btn_back_to_results, callback_data=SearchPage(qid, 0).pack())])
    text = context.i18n.render(lang, "search_filters", query=query, filters=flt, key=key,
                               filter_name=labels.filter_name, filter_value=labels.filter_value)
    await _put(update, context, text, InlineKeyboardMarkup(rows), edit=True)


async def set_filter(update: Update, context: BotContext) -> None:
    got = await _saved(update, context, SetFilter)
    if got is None:
        return
    pressed, query, flt = got
    key = pressed.key
    values = FILTER_VALUES.get(key, ())
    if pressed.index >= len(values):
        await _expired(update, context)
        return
    value = values[pressed.index]
    flt = dict(flt)
    if flt.get(key) == value:
        flt.pop(key)  # tapping the active value again removes that filter
    else:
        flt[key] = value
    await update.callback_query.answer()
    # filters make a new saved search: older buttons keep meaning what they meant
    new_qid = await context.services.storage.save_query(update.effective_user.id, query, flt)
    await show_page(update, context, new_qid, query, flt, 0, edit=True)


async def clear_filters(update: Update, context: BotContext) -> None:
    got = await _saved(update, context, ClearFilters)
    if got is None:
        return
    _pressed, query, _flt = got
    await update.callback_query.answer()
    new_qid = await context.services.storage.save_query(update.effective_user.id, query, {})
    await show_page(update, context, new_qid, query, {}, 0, edit=True)


def card_text(context: BotContext, lang: str, card: PatentCardData) -> str:
    labels = context.i18n.label_module(lang)
    return context.i18n.render(lang, "patent_card", card=card, p=card.patent, a=card.assessment, opt=labels.opt,
                               field=labels.field, status=labels.status)


async def show_card(update: Update, context: BotContext, patent_id: str, *, back: str | None,
                    edit: bool) -> bool:
    """The patent card. An unknown id: a button (``edit``) gets False and answers with a toast; a new
    message (a ``t.me/<bot>?start=p_<id>`` link) says the patent was not found and counts as shown."""
    lang = await user_lang(update, context)
    card = await context.services.storage.patent_card(patent_id)
    if card is None:
        if edit:
            return False
        await reply(update, context, "patent_not_found", patent_id=patent_id[:64])
        return True
    labels = context.i18n.label_module(lang)
    from bot.handlers.enterprise import card_actions

    rows = await card_actions(update, context, card, labels)
    rows.append([InlineKeyboardButton(labels.btn_share, switch_inline_query=card.patent.pub_no or card.patent.id)])
    if back:
        rows.append([InlineKeyboardButton(labels.btn_back_to_results, callback_data=back)])
    await _put(update, context, card_text(context, lang, card), InlineKeyboardMarkup(rows), edit=edit)
    return True


async def card_button(update: Update, context: BotContext) -> None:
    pressed = PatentCard.parse(update.callback_query.data)
    back = (SearchPage(pressed.query_id, pressed.page).pack()
            if pressed is not None and pressed.query_id is not None and pressed.page is not None else None)
    if pressed is None or not await show_card(update, context, pressed.patent_id, back=back, edit=True):
        await _expired(update, context)
        return
    await update.callback_query.answer()


def register(app: Application) -> None:
    app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, search_text))
    app.add_handlers(button_handlers({SearchPage: page_button, SearchFilters: filter_button, SetFilter: set_filter,
                                      ClearFilters: clear_filters, PatentCard: card_button,
                                      RunCorrection: correction_button}))
