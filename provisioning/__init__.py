"""Configuration schema, validation, atomic storage, profile provisioning and web admin.

Entry points (import the module you need; this package imports nothing heavy by itself):

- ``provisioning.schema``: ``Config`` and its sections (msgspec Structs), ``default_config()``,
  ``to_data(config)``.
- ``provisioning.validate``: ``validate_data(data, *, dial_plan_parser=None)`` ->
  ``(Config | None, [FieldError])``, ``config_from_data(data)`` (raises
  ``ConfigValidationError`` with ``.errors``).
- ``provisioning.store``: ``config_path()``, ``load_config(path)``, ``save_config(config, path)``,
  ``atomic_write(path, data)``.
- ``provisioning.diff``: ``diff_configs(old, new)`` -> ``ConfigDiff``.
- ``provisioning.driver``: ``Provisioner`` (asyncio driver: ``run()``, ``run_once()``,
  ``request_resync()``, ``on_check_sync(source_addr)``), on top of the sans-IO
  ``provisioning.resync.ResyncScheduler``.
- ``provisioning.web.server``: ``create_app(backend)``, ``serve(backend, listen)``; the backend
  protocol is ``provisioning.web.backend.AdminBackend`` (the daemon implements it).
"""
