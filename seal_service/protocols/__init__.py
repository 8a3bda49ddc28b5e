"""Trust-service protocols spoken by the seal service, as plain library code.

* :mod:`seal_service.protocols.tsa` — RFC 3161 / RFC 5816 time-stamp authority, and an
  in-process pyHanko ``TimeStamper`` backed by it.
* :mod:`seal_service.protocols.ocsp` — RFC 6960 / RFC 5019 OCSP responder (delegated responder).
* :mod:`seal_service.protocols.crl` — RFC 5280 CRL issuance.

Nothing here does I/O or reads the clock: callers pass the time (``at=``) explicitly, and the
HTTP layer is somebody else's job.
"""
