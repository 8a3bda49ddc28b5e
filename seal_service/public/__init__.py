"""The public face of the service: home page, public register (行政许可公示), query and complaints (投诉).

Public surface (import from the modules named):

- :mod:`seal_service.public.masking` — ``public_holder``: what the public may see of a holder (the one place).
- :mod:`seal_service.public.numbering` — ``reserve_licence_number``: licence numbers unique across the instance.
- :mod:`seal_service.public.register` — ``RegisterQuery``, ``search``, ``export_rows``, ``find_by_number``.
- :mod:`seal_service.public.complaints` — ``file_complaint``, ``complaint_status``, ``list_complaints``,
  ``answer_complaint``, ``route_complaint`` (where a complaint goes).
- :mod:`seal_service.public.ratelimit` — ``RateLimiter``: per client address limits of search, export, filing,
  counted in the database (shared by all processes and nodes).
- :mod:`seal_service.public.pages` — server-rendered HTML (zh-CN first, English on a switch, no external resources).

Nothing here imports FastAPI: the routers are in :mod:`seal_service.api.public_site`.
"""
