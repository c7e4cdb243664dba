"""/browse: the transferable-patent library (转化资源库) by industry → maturity → prospect, with counts."""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CommandHandler

from bot.context import BotContext
from bot.handlers.common import button_handlers, user_lang
from bot.handlers.search import _put
from bot.telegram.callbacks import Browse, PatentCard

LIST_PAGE = 8


async def browse(update: Update, context: BotContext) -> None:
    at = (Browse.parse(update.callback_query.data) if update.callback_query else None) or Browse()
    lang = await user_lang(update, context)
    labels = context.i18n.label_module(lang)
    storage = context.services.storage
    keys = ("industry", "maturity", "prospect")
    chosen = (at.industry, at.maturity, at.prospect)
    path: dict[str, str] = {}
    for k, v in zip(keys, chosen):
        if v is None:
            break
        path[k] = str(v)
    page = at.page or 0
    items = await storage.library(path)
    rows: list[list[InlineKeyboardButton]] = []
    level = len(path)
    if level < 3 and items:
        attr = keys[level]
        counts = storage.count_by(items, attr)
        ordered = sorted(counts, key=lambda v: (-counts[v], str(v))) if attr == "industry" \
            else sorted(counts, key=lambda v: -int(v))
        buttons = []
        for value in ordered:
            name = labels.opt["industry"].get(value, value) if attr == "industry" else \
                labels.browse_level[attr].format(value)
            below = Browse(*chosen[:level], value)
            buttons.append(InlineKeyboardButton(f"{name} ({counts[value]})", callback_data=below.pack()))
        width = 1 if attr == "industry" else 3
        rows += [buttons[i:i + width] for i in range(0, len(buttons), width)]
    shown = items[page * LIST_PAGE:(page + 1) * LIST_PAGE] if level == 3 else []
    patents = await storage.get_patents([a.patent_id for a in shown])
    listed = [patents[a.patent_id] for a in shown if a.patent_id in patents]
    if level == 3:
        rows += [[InlineKeyboardButton(f"{page * LIST_PAGE + i + 1}. {p.title}"[:60],
                                       callback_data=PatentCard(p.id).pack())]
                 for i, p in enumerate(listed)]
        nav = []
        if page > 0:
            nav.append(InlineKeyboardButton(labels.btn_prev, callback_data=Browse(*chosen, page - 1).pack()))
        if (page + 1) * LIST_PAGE < len(items):
            nav.append(InlineKeyboardButton(labels.btn_next, callback_data=Browse(*chosen, page + 1).pack()))
        if nav:
            rows.append(nav)
    if level:
        rows.append([InlineKeyboardButton(labels.btn_up, callback_data=Browse(*chosen[:level - 1]).pack())])
    text = context.i18n.render(lang, "browse", path=path, total=len(items), opt=labels.opt, level=level,
                               browse_level=labels.browse_level)
    if update.callback_query:
        await update.callback_query.answer()
    await _put(update, context, text, InlineKeyboardMarkup(rows), edit=update.callback_query is not None)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("browse", browse))
    app.add_handlers(button_handlers({Browse: browse}))
