"""The web admin: status, configuration form, call log, logs and (simulated board) virtual phones.

- :mod:`provisioning.web.backend`: the :class:`AdminBackend` protocol the daemon implements.
- :mod:`provisioning.web.server`: ``create_app(backend, ...)`` and ``serve(backend, listen)``.
- :mod:`provisioning.web.auth`, :mod:`.markup`, :mod:`.forms`, :mod:`.pages`: sessions and
  back-off, escaping templates, the config form mapping, the HTML pages.

The daemon (``ata run``) serves it with its own backend (:mod:`ata.runtime.admin`).
"""
