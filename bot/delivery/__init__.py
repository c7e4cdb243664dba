"""Getting messages to users outside the conversation: the durable, rate-limited outbox, pushes
(``notify``), the reminder scheduler and the periodic jobs."""
