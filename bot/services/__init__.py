"""Domain rules the handlers, dialogs and jobs call: events and reminders, digests, statistics and the
weekly report, invites and roles, calendar files. Storage queries live in ``bot.storage``."""
