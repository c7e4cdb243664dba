"""A local, in-memory emulator of the Telegram Bot API (HTTP, aiohttp).

Use it in tests (in the same event loop as the bot)::

    emu = BotAPIEmulator()
    await emu.start()
    app = (ApplicationBuilder().token(emu.token)
           .base_url(emu.base_url).base_file_url(emu.base_file_url).build())

or standalone as a *playground* with a web chat page::

    python -m devtools.emulator --port 8080
    # then point a bot at base_url http://127.0.0.1:8080/bot with token 123456:TEST-TOKEN

Bot API calls arrive at ``/bot<token>/<method>`` exactly like at api.telegram.org
(GET/POST, query string, url-encoded, multipart or JSON bodies). The control API used by
tests, :class:`devtools.client.SimUser` and the playground page lives under ``/_emu/``.
Everything the control API can do is also available as plain methods on the emulator.

Where things are:

* ``server``: :class:`BotAPIEmulator`, its lifecycle, the HTTP routing and the call log;
* ``state``: users, chats, messages, the update queue and change tracking; ``files``: files;
* ``validation``: parameters, Telegram HTML and entities, lengths, keyboards;
* ``limits``: blocked users and flood control; ``faults``: injected failures;
* ``methods_*``: the Bot API methods, one module per group (messages, media, queries, updates
  and webhooks, the bot's profile and commands, chats);
* ``simulation``: what the simulated users do and see; ``control``: the ``/_emu/`` HTTP API and
  the playground page; ``__main__``: the standalone command.
"""

from .answers import ControlError, TgError
from .faults import Fault
from .limits import RateLimits
from .server import BotAPIEmulator

__all__ = ["BotAPIEmulator", "ControlError", "Fault", "RateLimits", "TgError"]
