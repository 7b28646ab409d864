"""query indexes at scale: records by status and doctor, 分院 or chain (待签名,
超期未签, the periodic job, the drill-downs' keyset order), records by signing time (今日已签), and signed files
by SHA-256 (验证)

Revision ID: e5b1c7a9d2f4
Revises: c459514d4151
Create Date: 2026-12-02 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'e5b1c7a9d2f4'
down_revision: Union[str, Sequence[str], None] = 'c459514d4151'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('medicalrecord', schema=None) as batch_op:
        batch_op.create_index('ix_medicalrecord_signed_at', ['signed_at', 'clinic_id', 'doctor_id'], unique=False)
        batch_op.create_index('ix_medicalrecord_status_clinic', ['sign_status', 'clinic_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_medicalrecord_status_created', ['sign_status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_medicalrecord_status_doctor', ['sign_status', 'doctor_id', 'created_at', 'id'], unique=False)

    with op.batch_alter_table('signeddocument', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signeddocument_sha256'), ['sha256'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('signeddocument', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signeddocument_sha256'))

    with op.batch_alter_table('medicalrecord', schema=None) as batch_op:
        batch_op.drop_index('ix_medicalrecord_status_doctor')
        batch_op.drop_index('ix_medicalrecord_status_created')
        batch_op.drop_index('ix_medicalrecord_status_clinic')
        batch_op.drop_index('ix_medicalrecord_signed_at')
