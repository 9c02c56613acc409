"""Dial plans in the Cisco SPA digit-map grammar, and the sans-IO digit collector that uses them.

Theory of operation
-------------------
A plan is ``[L:n,][S:n,](rule|rule|...)``. A rule is a sequence of elements, each matching one
dialled key: a literal (``0-9 * #``), ``x`` (any digit), a set (``[2-9]``, ``[235-8*]``); ``.``
after an element repeats it zero or more times. ``<dialed:sent>`` replaces what matched
``dialed`` by ``sent`` in the number placed (``<:1>xxxxxxxxxx`` prefixes a 1, ``<9:>`` strips a
9). ``,`` marks the place where the outside-line (second) dial tone is played. ``!`` at the end
bars the rule: a number that matches it gets reorder. ``Sn``/``Ln`` in a rule override the short
and long inter-digit timers (seconds, decimals allowed) for that rule; ``Pn`` at the start of a
rule makes it a warmline: when nothing is dialled for n seconds after off-hook, the rule fires
with empty input (``(P5 <:1000>|xxxx)``); a rule that matches empty input with ``S0`` is a
hotline (``(S0 <:12125551234>)``). ``<:@gw0>``-style gateway suffixes are parsed and kept.

The collector holds the keys dialled so far. After each key it classifies every rule as
*no match*, *partial* (the keys are a proper prefix), or *complete* (the keys match; and the rule
may still be *extensible*, e.g. ends in ``x.``). Then:

- some complete, none partial/extensible → place the call now (or after that rule's ``Sn``);
- some complete, some longer match possible → wait the short timer, then place the complete one;
- only partial → wait the long timer, then reorder (the number is incomplete);
- nothing → reorder at once (impossible number);
- a complete match on a barred rule → reorder (barred);
- ``#`` that no rule accepts as a literal means "dial now" with the keys before it.

Time is passed in; the runtime arms ``get_timer()`` and calls ``handle_timer(now)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

DIGITS: Final = frozenset("0123456789*#")
ANY_DIGIT: Final = frozenset("0123456789")
DEFAULT_LONG_S: Final = 10.0
DEFAULT_SHORT_S: Final = 3.0
MAX_RULES: Final = 200
MAX_PLAN_LENGTH: Final = 8192
MAX_DIALLED: Final = 64


class DialPlanError(ValueError):
    """A malformed dial plan, with the position (0-based) and the reason."""

    def __init__(self, plan: str, position: int, reason: str) -> None:
        self.plan = plan
        self.position = position
        self.reason = reason
        pointer = f"{plan}\n{' ' * position}^"
        super().__init__(f"dial plan error at column {position + 1}: {reason}\n{pointer}")


@dataclass(frozen=True)
class Element:
    """One key position: the keys it accepts, whether it repeats, and its substitution group."""

    accepts: frozenset[str]
    repeat: bool = False
    group: int | None = None  # index into Rule.substitutions when inside <dialed:sent>


@dataclass(frozen=True)
class Rule:
    text: str
    elements: tuple[Element, ...]
    substitutions: tuple[str, ...] = ()  # the "sent" text of each <dialed:sent> group
    empty_groups: tuple[tuple[int, int], ...] = ()  # (element index, group) for <:sent> inserts
    second_dial_tone_at: tuple[int, ...] = ()  # element counts after which ',' plays dial tone
    barred: bool = False
    short_s: float | None = None
    long_s: float | None = None
    pause_s: float | None = None  # Pn warmline delay
    gateway: str | None = None


@dataclass(frozen=True)
class DialPlan:
    text: str
    rules: tuple[Rule, ...]
    long_s: float = DEFAULT_LONG_S
    short_s: float = DEFAULT_SHORT_S

    @classmethod
    def parse(cls, text: str) -> DialPlan:
        return _Parser(text).parse_plan()


# --------------------------------------------------------------------------------------------
# Parsing


_TIMER = re.compile(r"([SLP])(\d+(?:\.\d+)?)")


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_PLAN_LENGTH:
            raise DialPlanError(text[:80], 0, f"plan longer than {MAX_PLAN_LENGTH} characters")
        self.text = text
        self.pos = 0

    def error(self, reason: str, position: int | None = None) -> DialPlanError:
        return DialPlanError(self.text, self.pos if position is None else position, reason)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def parse_plan(self) -> DialPlan:
        long_s, short_s = DEFAULT_LONG_S, DEFAULT_SHORT_S
        self.skip_space()
        # Optional "L:n," and "S:n," prefixes, in either order.
        while True:
            match = re.compile(r"([LS]):\s*(\d+(?:\.\d+)?)\s*,").match(self.text, self.pos)
            if not match:
                break
            value = float(match.group(2))
            if match.group(1) == "L":
                long_s = value
            else:
                short_s = value
            self.pos = match.end()
            self.skip_space()
        if self.pos >= len(self.text):
            raise self.error("empty dial plan")
        wrapped = self.text[self.pos] == "("
        if wrapped:
            self.pos += 1
        rules: list[Rule] = []
        while True:
            rules.append(self.parse_rule(wrapped))
            if len(rules) > MAX_RULES:
                raise self.error(f"more than {MAX_RULES} rules")
            if self.pos < len(self.text) and self.text[self.pos] == "|":
                self.pos += 1
                continue
            break
        if wrapped:
            if self.pos >= len(self.text) or self.text[self.pos] != ")":
                raise self.error("missing ')' at the end of the plan")
            self.pos += 1
        self.skip_space()
        if self.pos != len(self.text):
            raise self.error(f"unexpected {self.text[self.pos]!r} after the plan")
        return DialPlan(self.text, tuple(rules), long_s=long_s, short_s=short_s)

    def parse_rule(self, wrapped: bool) -> Rule:
        start = self.pos
        elements: list[Element] = []
        substitutions: list[str] = []
        empty_groups: list[tuple[int, int]] = []
        second_tone: list[int] = []
        barred = False
        timers: dict[str, float] = {}
        gateway: str | None = None
        end_chars = "|)" if wrapped else "|"
        while self.pos < len(self.text) and self.text[self.pos] not in end_chars:
            char = self.text[self.pos]
            if barred:
                raise self.error("'!' must end the rule")
            if char in " \t\r\n":
                self.pos += 1
            elif char in "SLP":
                match = _TIMER.match(self.text, self.pos)
                if not match:
                    raise self.error(f"'{char}' must be followed by a number of seconds")
                if char == "P" and elements:
                    raise self.error("'P' (warmline pause) must start the rule")
                timers[char] = float(match.group(2))
                self.pos = match.end()
            elif char == ".":
                if not elements or elements[-1].repeat:
                    raise self.error("'.' must follow a key, 'x' or a set")
                last = elements[-1]
                elements[-1] = Element(last.accepts, True, last.group)
                self.pos += 1
            elif char == ",":
                second_tone.append(len(elements))
                self.pos += 1
            elif char == "!":
                barred = True
                self.pos += 1
            elif char == "<":
                gateway = self.parse_substitution(elements, substitutions, empty_groups) or gateway
            else:
                elements.append(Element(self.parse_key(), False, None))
        text = self.text[start : self.pos].strip()
        if not text:
            raise self.error("empty rule")
        return Rule(
            text=text,
            elements=tuple(elements),
            substitutions=tuple(substitutions),
            empty_groups=tuple(empty_groups),
            second_dial_tone_at=tuple(second_tone),
            barred=barred,
            short_s=timers.get("S"),
            long_s=timers.get("L"),
            pause_s=timers.get("P"),
            gateway=gateway,
        )

    def parse_key(self) -> frozenset[str]:
        char = self.text[self.pos]
        if char in DIGITS:
            self.pos += 1
            return frozenset(char)
        if char in "xX":
            self.pos += 1
            return ANY_DIGIT
        if char == "[":
            return self.parse_set()
        raise self.error(f"unexpected {char!r} (expected a key, 'x', '[', '<', '.', ',' or '!')")

    def parse_set(self) -> frozenset[str]:
        opening = self.pos
        self.pos += 1
        keys: set[str] = set()
        while self.pos < len(self.text) and self.text[self.pos] != "]":
            char = self.text[self.pos]
            if char not in DIGITS:
                raise self.error(f"{char!r} is not a key inside a set")
            nxt = self.text[self.pos + 1] if self.pos + 1 < len(self.text) else ""
            if nxt == "-":
                high = self.text[self.pos + 2] if self.pos + 2 < len(self.text) else ""
                if not (char.isdigit() and high.isdigit()) or high < char:
                    raise self.error("a range must be two digits, low to high", self.pos)
                keys.update(str(d) for d in range(int(char), int(high) + 1))
                self.pos += 3
            else:
                keys.add(char)
                self.pos += 1
        if self.pos >= len(self.text):
            raise self.error("set is missing its ']'", opening)
        self.pos += 1
        if not keys:
            raise self.error("empty set", opening)
        return frozenset(keys)

    def parse_substitution(
        self, elements: list[Element], substitutions: list[str], empty_groups: list[tuple[int, int]]
    ) -> str | None:
        opening = self.pos
        close = self.text.find(">", self.pos)
        if close < 0:
            raise self.error("'<' is missing its '>'")
        body = self.text[self.pos + 1 : close]
        if ":" not in body:
            raise self.error("substitution needs the form <dialed:sent>", opening)
        dialed, sent = body.split(":", 1)
        gateway: str | None = None
        if "@" in sent:
            sent, gateway = sent.split("@", 1)
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", gateway):
                raise self.error("bad gateway name after '@'", opening)
        for char in sent:
            if char not in DIGITS and not char.isalnum() and char not in "+-_.":
                raise self.error(f"{char!r} cannot be sent", opening)
        group = len(substitutions)
        substitutions.append(sent)
        self.pos = opening + 1
        end = opening + 1 + len(dialed)
        count = 0
        while self.pos < end:
            char = self.text[self.pos]
            if char == ".":
                if count == 0 or elements[-1].repeat:
                    raise self.error("'.' must follow a key, 'x' or a set")
                last = elements[-1]
                elements[-1] = Element(last.accepts, True, group)
                self.pos += 1
                continue
            if char == " ":
                self.pos += 1
                continue
            elements.append(Element(self.parse_key(), False, group))
            count += 1
            if self.pos > end:
                raise self.error("set crosses the ':' of the substitution", opening)
        if count == 0:
            empty_groups.append((len(elements), group))
        self.pos = close + 1
        return gateway


# --------------------------------------------------------------------------------------------
# Matching


class MatchKind(Enum):
    NONE = "none"
    PARTIAL = "partial"
    COMPLETE = "complete"


@dataclass(frozen=True)
class RuleMatch:
    kind: MatchKind
    extensible: bool = False  # complete now, but more keys could still match
    number: str = ""  # the number to place (substitutions applied), for complete matches


def match_rule(rule: Rule, keys: str) -> RuleMatch:
    """Classify ``keys`` against ``rule`` (a small NFA walk that remembers one path per state).

    A path is (element index, number built so far, substitution groups already emitted). Keys
    outside substitutions are copied to the number; a group's "sent" text replaces the keys
    that matched its "dialed" part and is emitted once, when the group's first key matches.
    Empty-dialed groups (``<:1>``) are emitted when the walk passes their position.
    """
    states = _closure(rule, {0: _enter(rule, 0, ("", frozenset()))})
    for key in keys:
        nxt: dict[int, _Path] = {}
        for index, (out, emitted) in states.items():
            if index >= len(rule.elements):
                continue
            element = rule.elements[index]
            if key not in element.accepts:
                continue
            if element.group is None:
                path: _Path = (out + key, emitted)
            elif element.group in emitted:
                path = (out, emitted)
            else:
                path = (out + rule.substitutions[element.group], emitted | {element.group})
            target = index if element.repeat else index + 1
            if target != index:
                path = _enter(rule, target, path)
            nxt.setdefault(target, path)
        states = _closure(rule, nxt)
        if not states:
            return RuleMatch(MatchKind.NONE)
    end = len(rule.elements)
    if end in states:
        extensible = any(i < end for i in states)
        return RuleMatch(MatchKind.COMPLETE, extensible, states[end][0])
    return RuleMatch(MatchKind.PARTIAL)


_Path = tuple[str, frozenset[int]]


def _enter(rule: Rule, index: int, path: _Path) -> _Path:
    """Arriving at element position ``index``: emit the empty ``<:sent>`` groups standing there."""
    out, emitted = path
    for at, group in rule.empty_groups:
        if at == index and group not in emitted:
            out += rule.substitutions[group]
            emitted = emitted | {group}
    return out, emitted


def _closure(rule: Rule, states: dict[int, _Path]) -> dict[int, _Path]:
    """Add the states reachable by skipping repeating elements (zero repetitions)."""
    result = dict(states)
    pending = list(states.items())
    while pending:
        index, path = pending.pop()
        if index < len(rule.elements) and rule.elements[index].repeat and index + 1 not in result:
            skipped = _enter(rule, index + 1, path)
            result[index + 1] = skipped
            pending.append((index + 1, skipped))
    return result


# --------------------------------------------------------------------------------------------
# The digit collector (sans-IO)


class Outcome(Enum):
    COLLECTING = "collecting"  # keep collecting; see ``second_dial_tone``
    DIAL = "dial"  # place a call to ``number``
    REJECT = "reject"  # play reorder; ``reason`` says why


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    number: str = ""
    rule: Rule | None = None
    reason: str = ""
    second_dial_tone: bool = False


@dataclass
class DigitCollector:
    """Collects keys for one off-hook attempt and decides when and what to dial."""

    plan: DialPlan
    keys: str = ""
    _deadline: float | None = None
    _pending: Decision | None = field(default=None, repr=False)
    _done: bool = False

    def start(self, now: float) -> Decision:
        """Called at off-hook (dial tone on). Handles hotlines and arms warmline/long timers."""
        self.keys = ""
        self._done = False
        return self._evaluate(now, at_start=True)

    def key(self, key: str, now: float) -> Decision:
        if self._done:
            return Decision(Outcome.REJECT, reason="already decided")
        if key not in DIGITS:
            raise ValueError(f"not a dial key: {key!r}")
        if key == "#" and not self._any_rule_accepts(self.keys + "#"):
            return self._dial_now(now)
        if len(self.keys) >= MAX_DIALLED:
            return self._finish(Decision(Outcome.REJECT, reason="too many digits"))
        self.keys += key
        return self._evaluate(now, at_start=False)

    def get_timer(self) -> float | None:
        return None if self._done else self._deadline

    def handle_timer(self, now: float) -> Decision:
        if self._done or self._deadline is None or now < self._deadline:
            return Decision(Outcome.COLLECTING)
        pending = self._pending
        self._deadline = None
        if pending is None:
            reason = "no digits dialled" if not self.keys else "incomplete number"
            return self._finish(Decision(Outcome.REJECT, reason=reason))
        return self._finish(pending)

    # --- internals --------------------------------------------------------------------------
    def _finish(self, decision: Decision) -> Decision:
        if decision.outcome is not Outcome.COLLECTING:
            self._done = True
            self._deadline = None
            self._pending = None
        return decision

    def _any_rule_accepts(self, keys: str) -> bool:
        return any(match_rule(r, keys).kind is not MatchKind.NONE for r in self.plan.rules)

    def _dial_now(self, now: float) -> Decision:
        for rule in self.plan.rules:
            found = match_rule(rule, self.keys)
            if found.kind is MatchKind.COMPLETE and self.keys:
                return self._finish(self._complete(rule, found))
        return self._finish(Decision(Outcome.REJECT, reason="'#' pressed on an incomplete number"))

    def _complete(self, rule: Rule, found: RuleMatch) -> Decision:
        if rule.barred:
            return Decision(Outcome.REJECT, rule=rule, reason=f"barred by rule {rule.text!r}")
        return Decision(Outcome.DIAL, number=found.number, rule=rule)

    def _evaluate(self, now: float, *, at_start: bool) -> Decision:
        complete: list[tuple[Rule, RuleMatch]] = []
        longer_possible = False
        second_tone = False
        warmline: tuple[Rule, RuleMatch] | None = None
        for rule in self.plan.rules:
            if at_start and rule.pause_s is not None:
                found = match_rule(rule, "")
                if found.kind is MatchKind.COMPLETE:
                    warmline = warmline or (rule, found)
                continue
            if not at_start and rule.pause_s is not None:
                continue
            found = match_rule(rule, self.keys)
            if found.kind is MatchKind.NONE:
                continue
            if found.kind is MatchKind.COMPLETE:
                complete.append((rule, found))
                longer_possible |= found.extensible
            else:
                longer_possible = True
            if self.keys and len(self.keys) in _tone_positions(rule, self.keys):
                second_tone = True
        if at_start:
            hot = [(r, m) for r, m in complete if (r.short_s or 0) == 0 and r.short_s is not None]
            if hot:
                return self._finish(self._complete(*hot[0]))
            if warmline is not None:
                self._pending = self._complete(*warmline)
                self._deadline = now + (warmline[0].pause_s or 0.0)
            else:
                self._pending = None
                self._deadline = now + self.plan.long_s
            return Decision(Outcome.COLLECTING)
        if not complete and not longer_possible:
            return self._finish(Decision(Outcome.REJECT, reason="no rule matches this number"))
        if complete:
            rule, found = complete[0]
            timer = rule.short_s if rule.short_s is not None else self.plan.short_s
            if not longer_possible and rule.short_s is None:
                return self._finish(self._complete(rule, found))
            if timer <= 0:
                return self._finish(self._complete(rule, found))
            self._pending = self._complete(rule, found)
            self._deadline = now + timer
            return Decision(Outcome.COLLECTING, second_dial_tone=second_tone)
        partial_long = [
            r.long_s
            for r in self.plan.rules
            if r.long_s is not None and match_rule(r, self.keys).kind is MatchKind.PARTIAL
        ]
        self._pending = None
        self._deadline = now + (min(partial_long) if partial_long else self.plan.long_s)
        return Decision(Outcome.COLLECTING, second_dial_tone=second_tone)


def _tone_positions(rule: Rule, keys: str) -> set[int]:
    """Key counts after which this rule wants the second dial tone (simple prefixes only)."""
    positions: set[int] = set()
    for at in rule.second_dial_tone_at:
        if all(not e.repeat for e in rule.elements[:at]):
            positions.add(at)
    return positions
