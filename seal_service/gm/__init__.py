"""National cryptography (国密): a GB/T 38540 v4 electronic seal with SM2/SM3 beside the PAdES seal.

Public surface: :func:`ensure_gm` (init), :func:`gm_material_for` and :func:`gm_seal_pdf` (dual sealing),
:func:`ses_seal_of` (download), :func:`sm2_certificate_pem` (``/pki/sm2-*.cer``). See docs/gm-crypto.md.
"""

from seal_service.gm.pki import Sm2Role
from seal_service.gm.service import (
    GmMaterial,
    ensure_gm,
    gm_licence_row,
    gm_material_for,
    gm_seal_pdf,
    licence_seals,
    national_trust_roots,
    renew_gm_material,
    retire_gm_keys,
    ses_seal_of,
    sm2_certificate,
    sm2_certificate_pem,
    sm2_service_certificates,
)

__all__ = [
    "GmMaterial",
    "Sm2Role",
    "ensure_gm",
    "gm_licence_row",
    "gm_material_for",
    "gm_seal_pdf",
    "licence_seals",
    "national_trust_roots",
    "renew_gm_material",
    "retire_gm_keys",
    "ses_seal_of",
    "sm2_certificate",
    "sm2_certificate_pem",
    "sm2_service_certificates",
]
