"""Getting messages to users outside the conversation.

* ``notify``: queue a push in the caller's transaction (``push``, ``push_document``) and, after the
  commit, ``wake`` the sender (and the scheduler, for a new or moved deadline or event);
* ``sender``: the ``Outbox`` task that drains the queue within Telegram's limits — its module
  docstring is the outbox's design (exactly-once and the remaining crash window);
* ``pacing``: Telegram's rate limits as the sender keeps to them, and the program's ``TokenBucket``;
* ``progress``: a broadcast's live progress message, and waiting for a broadcast;
* ``scheduler``: deadline and event reminders, computed from the database;
* ``jobs``: periodic jobs (the daily digest, the weekly report).
"""
