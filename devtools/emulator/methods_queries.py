"""Bot API methods that answer what users ask: answerCallbackQuery and answerInlineQuery."""

from __future__ import annotations

import time

from .answers import QUERY_TOO_OLD, TgError, bad_request
from .validation import Params, check_inline_results


class QueryMethods:
    async def _m_answerCallbackQuery(self, p: Params) -> bool:
        qid = p.str("callback_query_id") or ""
        q = self._callbacks.get(qid)
        if q is None or q["answered"]:
            raise TgError(400, QUERY_TOO_OLD)
        if (self.callback_answer_timeout is not None
                and self.clock() - q["created"] > self.callback_answer_timeout):
            raise TgError(400, QUERY_TOO_OLD)
        text = p.str("text")
        if text and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        q["answered"] = True
        chat = self.chats.get(q["chat_id"])
        answer = {"callback_query_id": qid, "message_id": q["message_id"],
                  "text": text, "show_alert": p.bool("show_alert"), "url": p.str("url"),
                  "ts": time.time(), "seq": 0}
        q["answer"] = answer
        if chat is not None:
            chat.answers.append(answer)
            answer["seq"] = self._touch(chat)
        return True

    async def _m_answerInlineQuery(self, p: Params) -> bool:
        qid = p.str("inline_query_id") or ""
        q = self._inline_queries.get(qid)
        if (q is None or q["answered"]
                or self.clock() - q["created"] > self.inline_answer_timeout):
            raise TgError(400, QUERY_TOO_OLD)
        results = check_inline_results(p.json("results", error="can't parse inline "
                                                                "query results JSON object"))
        q["answered"] = True
        q["answer"] = {"results": results, "cache_time": p.int("cache_time", 300),
                       "is_personal": p.bool("is_personal"),
                       "next_offset": p.str("next_offset") or "",
                       "button": p.json("button")}
        q["event"].set()
        return True
