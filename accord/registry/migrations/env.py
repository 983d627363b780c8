"""Alembic environment: runs on the connection the registry hands over, or on a URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from accord.registry.db import metadata, sqlalchemy_url

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    url = sqlalchemy_url(config.get_main_option("sqlalchemy.url") or "")
    with create_engine(url).connect() as conn:
        context.configure(connection=conn, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()
