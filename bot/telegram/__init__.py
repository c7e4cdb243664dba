"""python-telegram-bot plumbing: the Application and its handler registration (``app``), per-chat
ordered update processing (``processor``), the aiohttp Bot API transport (``http``), the event loop
(``loop``) and the command menus (``menus``)."""
