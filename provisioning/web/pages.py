"""HTML pages of the web admin, built with the escaping templates of :mod:`.markup`.

Every value shown comes through :func:`~provisioning.web.markup.render`, so it is escaped unless
it is markup built here. No inline script or style anywhere (the Content-Security-Policy forbids
both): behaviour is in ``static/admin.js``, looks in ``static/admin.css``. Live values carry a
``data-key`` attribute; the script refreshes them from ``/api/status`` (``/api/sim``) with
``textContent``, using the display strings made by :func:`status_display` (:func:`sim_display`),
so the first render and every refresh format values the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from provisioning.validate import FieldError
from provisioning.web.backend import CallRecord, LineStatus, PhoneState, Status
from provisioning.web.forms import (
    DEVICE_FIELDS,
    LINE_FIELDS,
    FormField,
    clear_name,
    device_path,
    form_paths,
    line_path,
)
from provisioning.web.markup import Markup, concat, render, selected

NAV = (
    ("status", "/", "Status"),
    ("config", "/config", "Configuration"),
    ("calls", "/calls", "Call log"),
    ("logs", "/logs", "Logs"),
    ("password", "/password", "Password"),
)


def layout(
    *,
    title: str,
    page: str,
    body: Markup,
    device: str,
    csrf: str | None,
    sim: bool = False,
) -> Markup:
    nav: list[Markup] = []
    if csrf is not None:
        items = list(NAV)
        if sim:
            items.insert(1, ("sim", "/sim", "Virtual phones"))
        nav = [
            render(
                '<a href="{href}"{current}>{label}</a>',
                href=href,
                label=label,
                current=Markup(' aria-current="page"' if key == page else ""),
            )
            for key, href, label in items
        ]
        nav.append(
            render(
                '<form method="post" action="/logout" class="logout">'
                '<input type="hidden" name="csrf" value="{csrf}">'
                '<button type="submit">Log out</button></form>',
                csrf=csrf,
            )
        )
    return render(
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="csrf-token" content="{csrf}">'
        "<title>{title} - {device}</title>"
        '<link rel="stylesheet" href="/static/admin.css">'
        '<script src="/static/admin.js" defer></script>'
        '</head><body data-page="{page}">'
        '<header><span class="brand">pi-ata</span> <span class="device">{device}</span>'
        "<nav>{nav}</nav></header>"
        "<main><h1>{title}</h1>{body}</main></body></html>\n",
        csrf=csrf or "",
        title=title,
        device=device,
        page=page,
        nav=concat(nav),
        body=body,
    )


# -- formatting helpers ------------------------------------------------------------------------
def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}" if hours or days else f"{minutes}:{secs:02d}"
    return f"{days} d {clock}" if days else clock


def fmt_time(unix: float | None) -> str:
    if unix is None:
        return "-"
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _line_display(line: LineStatus) -> dict[str, str]:
    p = f"lines.{line['port']}"
    reg = line["registration"]
    call = line["call"]
    rtp = call["rtp"]
    if reg["last_error"]:
        reg_detail = f"last error: {reg['last_error']}"
    elif reg["expires_in"] is not None:
        reg_detail = f"expires in {reg['expires_in']} s"
    else:
        reg_detail = ""
    arrow = {"in": "from", "out": "to", None: ""}[call["direction"]]
    out = {
        f"{p}.user": line["user"] or "-",
        f"{p}.enabled": "enabled" if line["enabled"] else "disabled",
        f"{p}.registration.state": reg["state"],
        f"{p}.registration.detail": reg_detail,
        f"{p}.hook": "off hook" if line["hook"] == "off" else "on hook",
        f"{p}.call.state": call["state"],
        f"{p}.call.peer": f"{arrow} {call['peer']}" if call["peer"] else "",
        f"{p}.call.duration": fmt_duration(call["duration_s"]) if call["duration_s"] else "",
    }
    if rtp is None:
        out[f"{p}.rtp"] = "no media"
    else:
        out[f"{p}.rtp"] = (
            f"sent {rtp['packets_sent']} / received {rtp['packets_received']}, "
            f"lost {rtp['lost']}, jitter {fmt_ms(rtp['jitter_ms'])}, rtt {fmt_ms(rtp['rtt_ms'])},"
            f" buffer {fmt_ms(rtp['jb_delay_ms'])}, concealed {rtp['concealed']}"
        )
    return out


def status_display(status: Status) -> dict[str, str]:
    """Display text of every live value of the status page, by ``data-key``."""
    prov = status["provisioning"]
    out = {
        "version": status["version"],
        "uptime": fmt_duration(status["uptime_s"]),
        "provisioning.state": prov["state"],
        "provisioning.last_fetch": fmt_time(prov["last_fetch"]),
        "provisioning.next_fetch": fmt_time(prov["next_fetch"]),
        "provisioning.last_error": prov["last_error"] or "-",
        "lines.ports": ",".join(str(line["port"]) for line in status["lines"]),
    }
    for line in status["lines"]:
        out.update(_line_display(line))
    return out


def _live(key: str, display: Mapping[str, str], tag: str = "span", cls: str = "") -> Markup:
    state = key.endswith((".state", ".ringing"))
    return render(
        '<{tag} data-key="{key}"{cls}{state}>{text}</{tag}>',
        tag=Markup(tag),
        key=key,
        cls=render(' class="{c}"', c=cls) if cls else Markup(""),
        state=render(' data-state="{v}"', v=display.get(key, "")) if state else Markup(""),
        text=display.get(key, ""),
    )


# -- pages ---------------------------------------------------------------------------------------
def status_body(status: Status, refresh_ms: int) -> Markup:
    d = status_display(status)
    rows = []
    for line in status["lines"]:
        p = f"lines.{line['port']}"
        rows.append(
            render(
                '<tr data-port="{port}"><td class="port">{port}</td>'
                "<td>{user}<br><small>{enabled}</small></td>"
                "<td>{reg}<br><small>{reg_detail}</small></td>"
                '<td class="hook">{hook}</td>'
                "<td>{call}<br><small>{peer} {duration}</small></td>"
                '<td class="rtp">{rtp}</td></tr>',
                port=line["port"],
                user=_live(f"{p}.user", d),
                enabled=_live(f"{p}.enabled", d),
                reg=_live(f"{p}.registration.state", d, cls="badge"),
                reg_detail=_live(f"{p}.registration.detail", d),
                hook=_live(f"{p}.hook", d),
                call=_live(f"{p}.call.state", d, cls="badge"),
                peer=_live(f"{p}.call.peer", d),
                duration=_live(f"{p}.call.duration", d),
                rtp=_live(f"{p}.rtp", d),
            )
        )
    return render(
        '<section class="cards" id="live" data-refresh-ms="{refresh}" data-src="/api/status"'
        ' data-ports="{ports}">'
        '<div class="card"><h2>Device</h2><dl><dt>Version</dt><dd>{version}</dd>'
        "<dt>Uptime</dt><dd>{uptime}</dd></dl></div>"
        '<div class="card"><h2>Provisioning</h2><dl><dt>State</dt><dd>{prov_state}</dd>'
        "<dt>Last fetch</dt><dd>{last}</dd><dt>Next fetch</dt><dd>{next}</dd>"
        "<dt>Last error</dt><dd>{error}</dd></dl></div></section>"
        "<h2>Lines</h2>"
        '<table class="lines"><thead><tr><th>Port</th><th>Account</th><th>Registration</th>'
        "<th>Hook</th><th>Call</th><th>RTP quality</th></tr></thead>"
        "<tbody>{rows}</tbody></table>"
        '<p class="hint" id="refresh-note">Refreshed every {seconds} s.</p>',
        refresh=refresh_ms,
        ports=d["lines.ports"],
        version=_live("version", d),
        uptime=_live("uptime", d),
        prov_state=_live("provisioning.state", d, cls="badge"),
        last=_live("provisioning.last_fetch", d),
        next=_live("provisioning.next_fetch", d),
        error=_live("provisioning.last_error", d),
        rows=concat(rows),
        seconds=f"{refresh_ms / 1000:g}",
    )


def _input(fld: FormField, name: str, value: object, error: str | None) -> Markup:
    invalid = Markup(' aria-invalid="true"') if error else Markup("")
    described = render(' aria-describedby="{id}-err"', id=_id(name)) if error else Markup("")
    attrs = render('id="{id}" name="{name}"', id=_id(name), name=name) + invalid + described
    if fld.kind == "bool":
        control = render(
            '<input type="checkbox" {attrs} {checked}>',
            attrs=Markup(attrs),
            checked=selected(bool(value), "checked"),
        )
    elif fld.kind == "choice":
        options = concat(
            render('<option value="{v}" {sel}>{v}</option>', v=c, sel=selected(c == value))
            for c in fld.choices
        )
        control = render("<select {attrs}>{options}</select>", attrs=Markup(attrs), options=options)
    elif fld.kind == "secret":
        control = render(
            '<input type="password" {attrs} value="" autocomplete="new-password">'
            '<label class="inline"><input type="checkbox" name="{clear}"> clear</label>',
            attrs=Markup(attrs),
            clear=clear_name(name),
        )
    else:
        control = render(
            '<input type="{type}" {attrs} value="{value}">',
            type=Markup("text" if fld.kind == "text" else 'text" inputmode="numeric'),
            attrs=Markup(attrs),
            value="" if value is None else value,
        )
    err = (
        render(
            '<span class="field-error" id="{id}-err">{reason}</span>', id=_id(name), reason=error
        )
        if error
        else Markup("")
    )
    return render(
        '<div class="field{bad}"><label for="{id}">{label}</label>{control}'
        '<small class="help">{help}</small>{err}</div>',
        bad=Markup(" invalid" if error else ""),
        id=_id(name),
        label=fld.label,
        control=control,
        help=fld.help,
        err=err,
    )


def _id(name: str) -> str:
    return "f-" + "".join(c if c.isalnum() else "-" for c in name)


def config_body(
    *,
    csrf: str,
    n_lines: int,
    values: Mapping[str, object],
    errors: Sequence[FieldError],
    saved: Sequence[str] | None,
) -> Markup:
    placed = form_paths(n_lines)
    by_path: dict[str, str] = {}
    for error in errors:
        if error.path in placed:
            by_path.setdefault(error.path, error.reason)
    unplaced = [e for e in errors if e.path not in placed]
    notice = Markup("")
    if errors:
        notice = render(
            '<div class="notice bad" role="alert"><strong>Not saved:</strong> {n} problem(s), '
            "shown next to the fields.{more}</div>",
            n=len(errors),
            more=render(
                "<ul>{items}</ul>", items=concat(render("<li>{e}</li>", e=str(e)) for e in unplaced)
            )
            if unplaced
            else Markup(""),
        )
    elif saved is not None:
        notice = render(
            '<div class="notice ok" role="status">Saved and applied. Changed: {paths}</div>',
            paths=", ".join(saved) or "nothing",
        )
    device = concat(
        _input(
            f, device_path(f.key), values.get(device_path(f.key)), by_path.get(device_path(f.key))
        )
        for f in DEVICE_FIELDS
    )
    lines = concat(
        render(
            '<fieldset class="line"><legend>Line {port}</legend>{fields}</fieldset>',
            port=i + 1,
            fields=concat(
                _input(
                    f,
                    line_path(i, f.key),
                    values.get(line_path(i, f.key)),
                    by_path.get(line_path(i, f.key)),
                )
                for f in LINE_FIELDS
            ),
        )
        for i in range(n_lines)
    )
    return render(
        '{notice}<form method="post" action="/config" class="config" novalidate>'
        '<input type="hidden" name="csrf" value="{csrf}">'
        "<fieldset><legend>Device</legend>{device}</fieldset>{lines}"
        '<div class="actions"><button type="submit">Save and apply</button></div></form>',
        notice=notice,
        csrf=csrf,
        device=device,
        lines=lines,
    )


def login_body(*, token: str, error: str | None) -> Markup:
    return render(
        "{error}"
        '<form method="post" action="/login" class="login">'
        '<input type="hidden" name="login_token" value="{token}">'
        '<div class="field"><label for="password">Admin password</label>'
        '<input type="password" id="password" name="password" autocomplete="current-password"'
        " autofocus required></div>"
        '<div class="actions"><button type="submit">Log in</button></div></form>'
        '<p class="hint">The password of a new device is printed once on its console and in its '
        "log at first start, or set by provisioning (<code>admin.password_hash</code>). Lost it? "
        "Run <code>ata config admin-password</code> on the device.</p>",
        error=render('<div class="notice bad" role="alert">{e}</div>', e=error)
        if error
        else Markup(""),
        token=token,
    )


def password_body(*, csrf: str, error: str | None, done: bool) -> Markup:
    notice = Markup("")
    if error:
        notice = render('<div class="notice bad" role="alert">{e}</div>', e=error)
    elif done:
        notice = Markup(
            '<div class="notice ok" role="status">Password changed. Other sessions were '
            "logged out.</div>"
        )
    return render(
        '{notice}<form method="post" action="/password" class="password">'
        '<input type="hidden" name="csrf" value="{csrf}">'
        '<div class="field"><label for="current">Current password</label>'
        '<input type="password" id="current" name="current" autocomplete="current-password">'
        "</div>"
        '<div class="field"><label for="new">New password</label>'
        '<input type="password" id="new" name="new" autocomplete="new-password"></div>'
        '<div class="field"><label for="confirm">Repeat new password</label>'
        '<input type="password" id="confirm" name="confirm" autocomplete="new-password"></div>'
        '<div class="actions"><button type="submit">Change password</button></div></form>',
        notice=notice,
        csrf=csrf,
    )


def calls_body(calls: Sequence[CallRecord]) -> Markup:
    if not calls:
        return Markup('<p class="hint">No calls yet.</p>')
    rows = concat(
        render(
            "<tr><td>{time}</td><td>{port}</td><td>{direction}</td><td>{number}</td>"
            '<td class="name">{name}</td><td>{duration}</td><td>{result}</td><td>{rtp}</td></tr>',
            time=fmt_time(c["time"]),
            port=c["port"],
            direction="incoming" if c["direction"] == "in" else "outgoing",
            number=c["number"],
            name=c["name"],
            duration=fmt_duration(c["duration_s"]),
            result=c["result"],
            rtp=(
                f"sent {c['rtp']['packets_sent']} / received {c['rtp']['packets_received']}, "
                f"lost {c['rtp']['lost']}, max jitter {fmt_ms(c['rtp']['jitter_ms'])}, "
                f"concealed {c['rtp']['concealed']}"
                if c["rtp"]
                else "-"
            ),
        )
        for c in calls
    )
    return render(
        '<table class="calls"><thead><tr><th>Time</th><th>Port</th><th>Direction</th>'
        "<th>Number</th><th>Name</th><th>Duration</th><th>Result</th><th>RTP</th></tr></thead>"
        "<tbody>{rows}</tbody></table>",
        rows=rows,
    )


def logs_body(lines: Sequence[str]) -> Markup:
    return render(
        '<pre class="logs">{text}</pre>',
        text="\n".join(lines) if lines else "(no log lines)",
    )


# -- simulated board ---------------------------------------------------------------------------
def sim_display(port: int, phone: PhoneState) -> dict[str, str]:
    p = f"sim.{port}"
    cid = phone["caller_id"]
    heard = phone["heard"]
    freqs = " + ".join(f"{f:g} Hz" for f in heard["frequencies_hz"])
    level = "" if heard["level_dbm0"] is None else f" at {heard['level_dbm0']:.1f} dBm0"
    return {
        f"{p}.ringing": "ringing" if phone["ringing"] else "silent",
        f"{p}.cadence": phone["cadence"] or "",
        f"{p}.hook": "off hook" if phone["off_hook"] else "on hook",
        f"{p}.cid.number": (cid["number"] or "(no number)") if cid else "-",
        f"{p}.cid.name": (cid["name"] or "") if cid else "",
        f"{p}.cid.date": (cid["date"] or "") if cid else "",
        f"{p}.heard.tones": (freqs + level) if freqs else "silence",
        f"{p}.heard.digits": heard["digits"] or "-",
    }


KEYPAD = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#")


def sim_body(*, csrf: str, phones: Mapping[int, PhoneState], refresh_ms: int) -> Markup:
    cards = []
    for port, phone in phones.items():
        d = sim_display(port, phone)
        p = f"sim.{port}"
        keys = concat(
            render(
                '<button type="submit" name="digits" value="{k}" class="key"'
                ' data-testid="key-{port}-{k}">{k}</button>',
                k=k,
                port=port,
            )
            for k in KEYPAD
        )
        cards.append(
            render(
                '<div class="card phone" data-port="{port}"><h2>Port {port}</h2>'
                '<p class="ring">{ring} <small>{cadence}</small></p>'
                "<dl><dt>Hook</dt><dd>{hook}</dd>"
                "<dt>Caller ID</dt><dd>{cid_number} {cid_name} <small>{cid_date}</small></dd>"
                "<dt>Hears</dt><dd>{tones}</dd><dt>Digits heard</dt><dd>{digits}</dd></dl>"
                '<div class="hookrow">'
                '<form method="post" action="/sim/{port}/hook" class="async">'
                '<input type="hidden" name="csrf" value="{csrf}">'
                '<button type="submit" name="off_hook" value="1" data-testid="offhook-{port}">'
                "Pick up</button>"
                '<button type="submit" name="off_hook" value="0" data-testid="onhook-{port}">'
                "Hang up</button></form>"
                '<form method="post" action="/sim/{port}/flash" class="async">'
                '<input type="hidden" name="csrf" value="{csrf}">'
                '<button type="submit" data-testid="flash-{port}">Flash</button></form></div>'
                '<form method="post" action="/sim/{port}/dial" class="async keypad">'
                '<input type="hidden" name="csrf" value="{csrf}">'
                '<label>Dialling <select name="mode" data-testid="mode-{port}">'
                '<option value="dtmf">DTMF</option><option value="pulse">pulse (rotary)</option>'
                "</select></label>"
                '<div class="keys">{keys}</div></form>'
                '<p class="sim-error" data-testid="error-{port}" role="alert"></p></div>',
                port=port,
                ring=_live(f"{p}.ringing", d, cls="badge"),
                cadence=_live(f"{p}.cadence", d),
                hook=_live(f"{p}.hook", d),
                cid_number=_live(f"{p}.cid.number", d),
                cid_name=_live(f"{p}.cid.name", d),
                cid_date=_live(f"{p}.cid.date", d),
                tones=_live(f"{p}.heard.tones", d),
                digits=_live(f"{p}.heard.digits", d),
                csrf=csrf,
                keys=keys,
            )
        )
    return render(
        '<section class="cards phones" id="live" data-refresh-ms="{refresh}" data-src="/api/sim">'
        "{cards}</section>",
        refresh=refresh_ms,
        cards=concat(cards),
    )


def error_body(message: str) -> Markup:
    return render('<div class="notice bad" role="alert">{m}</div>', m=message)
