"""The asyncio provisioning driver: scheduler + fetch + parse + atomic store + apply hook.

:class:`Provisioner` binds the sans-IO :class:`~provisioning.resync.ResyncScheduler` to the
event loop. One run (:meth:`Provisioner.run_once`):

1. load the local config (an invalid local file is replaced by defaults as the base, so a good
   profile can repair a device);
2. pick the profile rules: ``provisioning.profile_rules``, else the DHCP option 160/66 URL
   (:mod:`provisioning.dhcp`) when ``dhcp_discovery`` is on, else nothing (outcome
   ``disabled``);
3. for each rule in order: expand macros, download with ``If-None-Match``/``If-Modified-Since``,
   decrypt/inflate, parse and merge, validate; the first rule that yields a profile wins;
4. a profile identical to the last one applied from that URL (304, or same SHA-256) is
   ``unchanged``; otherwise the new config is stored atomically and ``on_applied(config, diff)``
   is called so the runtime applies only what changed.

Any failure leaves the stored config untouched; the stage and reason go to the status file and
the log (reasons never include passwords or keys; URLs are logged without user-info/query).

SIP ``NOTIFY`` (``Event: check-sync`` or ``resync``): the SIP layer calls
:meth:`Provisioner.on_check_sync` with the packet's source address. Authentication is by
source: the SIP layer must only pass NOTIFYs that come from the line's proxy address (it
already drops everything else when ``security.restrict_source_to_proxy`` is on, the default);
``on_check_sync`` checks again against ``proxy_addresses()`` when given, and honours
``provisioning.resync_from_sip``. It returns whether a resync was scheduled (answer 200 if so,
else 403).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import logging
import random
import ssl
import time
import zoneinfo
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Literal

from provisioning.dhcp import discover_url
from provisioning.diff import ConfigDiff, diff_configs
from provisioning.fetch import Validators, fetch_profile, make_ssl_context, safe_url
from provisioning.macros import DeviceInfo
from provisioning.profile import ProvisioningError, parse_profile
from provisioning.profile_rule import ProfileRule, ProfileRuleError, parse_profile_rule
from provisioning.resync import Cause, ResyncPolicy, ResyncScheduler
from provisioning.schema import Config, default_config
from provisioning.status import Status, UrlState, load_status, save_status, url_key
from provisioning.store import load_config, save_config
from provisioning.validate import ConfigValidationError, DialPlanParser

log = logging.getLogger("provisioning")

ApplyHook = Callable[[Config, ConfigDiff], Awaitable[None] | None]
Outcome = Literal["applied", "unchanged", "error", "disabled"]


@dataclass(frozen=True)
class RunResult:
    outcome: Outcome
    config: Config  # the config in force after the run
    diff: ConfigDiff | None = None
    errors: list[ProvisioningError] = field(default_factory=list)
    url: str | None = None  # safe form


def _timezone(name: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


class Provisioner:
    def __init__(
        self,
        *,
        config_path: Path,
        status_path: Path,
        device: DeviceInfo,
        on_applied: ApplyHook | None = None,
        lease_paths: Iterable[Path] | None = None,
        proxy_addresses: Callable[[], Iterable[str]] | None = None,
        dial_plan_parser: DialPlanParser | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config_path = config_path
        self.status_path = status_path
        self.device = device
        self.on_applied = on_applied
        self.lease_paths = list(lease_paths) if lease_paths is not None else None
        self.proxy_addresses = proxy_addresses
        self.dial_plan_parser = dial_plan_parser
        self.clock = clock
        config = self._load_local()
        self.scheduler = ResyncScheduler(
            ResyncPolicy.from_config(config), _timezone(config.device.timezone), rng
        )
        self._wake = asyncio.Event()
        self._stopped = False
        self._resync_from_sip = config.provisioning.resync_from_sip

    # -- one provisioning run ------------------------------------------------------------------
    def _load_local(self) -> Config:
        try:
            return load_config(self.config_path, dial_plan_parser=self.dial_plan_parser)
        except ConfigValidationError as exc:
            log.warning("local config %s invalid (%d errors); using defaults as the base",
                        self.config_path, len(exc.errors))  # fmt: skip
        except OSError as exc:
            log.warning("cannot read local config %s: %s", self.config_path, exc.strerror)
        return default_config()

    def _rules(self, config: Config) -> list[ProfileRule]:
        rules: list[ProfileRule] = []
        for text in config.provisioning.profile_rules:
            try:
                rules.append(parse_profile_rule(text))
            except ProfileRuleError:
                continue  # validated on load; cannot happen for a stored config
        if not rules and config.provisioning.dhcp_discovery:
            url = discover_url(self.lease_paths)
            if url:
                log.info("profile URL from DHCP: %s", safe_url(url))
                rules.append(parse_profile_rule(url))
        return rules

    def _ssl(self, config: Config) -> ssl.SSLContext:
        p = config.provisioning
        try:
            return make_ssl_context(p.ca_file, p.client_cert_file, p.client_key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ProvisioningError(
                "download", f"cannot load CA/client certificate: {exc}"
            ) from None

    async def _try_rule(
        self, config: Config, rule: ProfileRule, status: Status
    ) -> tuple[Outcome, Config, ConfigDiff | None]:
        variables = self.device.variables()
        expanded = rule.expanded(variables)
        key = url_key(f"{expanded.key}\x00{expanded.kdf}\x00{expanded.url}")
        known = status.urls.get(key, UrlState())
        context = self._ssl(config) if expanded.url.lower().startswith("https://") else None
        result = await fetch_profile(
            expanded.url,
            validators=Validators(known.etag, known.last_modified),
            ssl_context=context,
            timeout_s=float(config.provisioning.timeout_s),
        )
        if result.not_modified:
            return "unchanged", config, None
        digest = hashlib.sha256(result.body).hexdigest()
        if digest == known.sha256:
            return "unchanged", config, None
        parsed = parse_profile(
            config, result.body, expanded, dial_plan_parser=self.dial_plan_parser
        )
        diff = diff_configs(config, parsed.config)
        if not diff.empty:
            try:
                save_config(parsed.config, self.config_path)
            except OSError as exc:
                raise ProvisioningError("store", f"cannot write config: {exc.strerror}") from None
        status.urls[key] = UrlState(
            etag=result.validators.etag,
            last_modified=result.validators.last_modified,
            sha256=digest,
        )
        status.format = parsed.format
        status.ignored = parsed.ignored
        status.changed = list(diff.paths)
        return ("applied" if not diff.empty else "unchanged"), parsed.config, diff

    async def run_once(self, cause: Cause = Cause.MANUAL) -> RunResult:
        """Fetch and apply now (see the module docstring); never raises for a bad profile."""
        status = load_status(self.status_path)
        status.last_attempt = self.clock()
        status.cause = cause.value
        config = self._load_local()
        rules = self._rules(config)
        result: RunResult
        if not rules:
            status.outcome, status.stage, status.reason, status.url = "disabled", None, None, None
            result = RunResult("disabled", config)
        else:
            errors: list[ProvisioningError] = []
            result = RunResult("error", config, errors=errors)
            for rule in rules:
                shown = safe_url(rule.url)
                try:
                    outcome, new_config, diff = await self._try_rule(config, rule, status)
                except ProvisioningError as exc:
                    log.warning(
                        "provisioning from %s failed at %s: %s", shown, exc.stage, exc.reason
                    )
                    errors.append(exc)
                    continue
                result = RunResult(outcome, new_config, diff, errors, shown)
                break
            status.url = result.url or safe_url(rules[-1].url)
            if result.outcome == "error":
                last = errors[-1]
                status.outcome, status.stage, status.reason = "error", last.stage, last.reason
                status.consecutive_failures += 1
            else:
                status.outcome, status.stage, status.reason = result.outcome, None, None
                status.last_success = status.last_attempt
                status.consecutive_failures = 0
                if result.outcome == "applied" and result.diff is not None:
                    log.info("applied profile from %s; changed: %s",
                             result.url, ", ".join(result.diff.paths[:50]))  # fmt: skip
                else:
                    log.info("profile from %s unchanged", result.url)
        self._adopt(result.config)
        status.next_attempt = self.scheduler.get_timer()
        self._save_status(status)  # before the hook: the stored config is already the new one
        if result.outcome == "applied" and result.diff is not None and self.on_applied:
            pending = self.on_applied(result.config, result.diff)
            if inspect.isawaitable(pending):
                await pending
        return result

    def _adopt(self, config: Config) -> None:
        self._resync_from_sip = config.provisioning.resync_from_sip
        self.scheduler.tz = _timezone(config.device.timezone)
        self.scheduler.set_policy(ResyncPolicy.from_config(config), self.clock())

    def _save_status(self, status: Status) -> None:
        try:
            save_status(status, self.status_path)
        except OSError as exc:
            log.warning("cannot write provisioning status %s: %s", self.status_path, exc.strerror)

    # -- triggers ------------------------------------------------------------------------------
    def request_resync(self, cause: Cause = Cause.MANUAL) -> None:
        self.scheduler.trigger(cause, self.clock())
        self._wake.set()

    def on_check_sync(self, source_addr: str) -> bool:
        """SIP NOTIFY check-sync/resync from ``source_addr`` (already filtered by the SIP layer)."""
        if not self._resync_from_sip:
            log.info("NOTIFY check-sync ignored (resync_from_sip is off)")
            return False
        if self.proxy_addresses is not None:
            allowed = set(self.proxy_addresses())
            if source_addr not in allowed:
                log.warning("NOTIFY check-sync from %s refused (not the proxy)",
                            source_addr)  # fmt: skip
                return False
        self.request_resync(Cause.SIP_NOTIFY)
        return True

    # -- the loop ------------------------------------------------------------------------------
    async def step(self, now: float) -> RunResult | None:
        """Run the fetch due at ``now``, if any (the loop calls this; tests call it directly)."""
        cause = self.scheduler.poll(now)
        if cause is None:
            return None
        ok = False
        try:
            result = await self.run_once(cause)
            ok = result.outcome != "error"
            return result
        finally:
            self.scheduler.fetch_done(self.clock(), ok)
            status = load_status(self.status_path)
            status.next_attempt = self.scheduler.get_timer()
            self._save_status(status)

    def start(self) -> None:
        self.scheduler.start(self.clock())

    async def run(self) -> None:
        """Serve the schedule until :meth:`stop`. Call :meth:`start` first (or let run do it)."""
        if not self.scheduler.deadlines and self.scheduler.failures == 0:
            self.start()
        while not self.stopped():
            timer = self.scheduler.get_timer()
            timeout = None if timer is None else max(0.0, timer - self.clock())
            self._wake.clear()
            if timeout is None or timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            if self.stopped():
                break
            await self.step(self.clock())

    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
