"""Alembic environment: runs migrations on the connection the store hands over."""

from alembic import context
from sqlalchemy import create_engine

from voice.records.tables import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    """Migrate using ``config.attributes['connection']`` or ``sqlalchemy.url``."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic: no connection given and no sqlalchemy.url set")
    engine = create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
