"""Alembic environment: async engines, URL from the environment; or a connection handed in by
``bot.storage.Storage.migrate`` (``config.attributes["connection"]``) so the app migrates itself."""
from __future__ import annotations

import asyncio
import logging.config

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from bot.config import Settings
from bot.models import Base

config = context.config
target_metadata = Base.metadata
if config.config_file_name and not config.attributes.get("connection"):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch mode for ALTERs
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(url=Settings.from_env().effective_database_url, target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_online_async() -> None:
    engine = create_async_engine(Settings.from_env().effective_database_url)
    async with engine.begin() as conn:
        await conn.run_sync(_configure)
    await engine.dispose()


if context.is_offline_mode():
    run_offline()
elif (conn := config.attributes.get("connection")) is not None:
    _configure(conn)
else:
    asyncio.run(run_online_async())
