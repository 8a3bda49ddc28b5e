"""webhook secrets at rest: encrypted under the instance's key passphrase (event_receivers.sealed_secret)

Existing plain secrets are encrypted here with the passphrase ``seal_service.storage.database.upgrade`` is given
(``seal-service init`` passes the instance's); the plain column is dropped. Without a passphrase the migration
refuses to run when there is a secret to encrypt (an empty table needs none).

Revision ID: 0006_webhook_secrets
Revises: 0005_supervision
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from seal_service.events.secret_box import SecretBox

revision = "0006_webhook_secrets"
down_revision = "0005_supervision"
branch_labels = None
depends_on = None

_receivers = sa.table(
    "event_receivers",
    sa.column("id", sa.String()),
    sa.column("secret", sa.String()),
    sa.column("sealed_secret", sa.String()),
)


def _box() -> SecretBox:
    passphrase = context.config.attributes.get("key_passphrase")
    if not passphrase:
        raise RuntimeError(
            "webhook secrets are to be encrypted with the instance's key passphrase: upgrade with `seal-service "
            "init` (with SEAL_KEY_PASSPHRASE or SEAL_KEY_PASSPHRASE_FILE set), not with alembic alone"
        )
    return SecretBox(passphrase)


def upgrade() -> None:
    with op.batch_alter_table("event_receivers") as batch:
        batch.add_column(sa.Column("sealed_secret", sa.String(length=300), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(_receivers.c.id, _receivers.c.secret).where(_receivers.c.secret.is_not(None)))
    plain = list(rows)
    if plain:
        box = _box()
        for receiver_id, secret in plain:
            connection.execute(
                _receivers.update()
                .where(_receivers.c.id == receiver_id)
                .values(sealed_secret=box.seal(secret, receiver_id=receiver_id))
            )
    with op.batch_alter_table("event_receivers") as batch:
        batch.drop_column("secret")


def downgrade() -> None:
    with op.batch_alter_table("event_receivers") as batch:
        batch.add_column(sa.Column("secret", sa.String(length=200), nullable=True))
    connection = op.get_bind()
    rows = list(
        connection.execute(
            sa.select(_receivers.c.id, _receivers.c.sealed_secret).where(_receivers.c.sealed_secret.is_not(None))
        )
    )
    if rows:
        box = _box()
        for receiver_id, sealed in rows:
            connection.execute(
                _receivers.update()
                .where(_receivers.c.id == receiver_id)
                .values(secret=box.open(sealed, receiver_id=receiver_id))
            )
    with op.batch_alter_table("event_receivers") as batch:
        batch.drop_column("sealed_secret")
