"""The header-field collection of a SIP message: ordered, repeated, case-insensitive.

:class:`Headers` keeps every field in arrival order as ``(key, name, value)``: ``key`` is the
lower-case *long* form (compact forms such as ``v``/``i``/``m`` are folded into it, so
``headers.get("Via")`` finds ``v:`` lines), ``name`` is the spelling to serialize and ``value``
the unfolded raw text. Values added through the public API are checked against CR/LF/NUL
injection. ``values(name)`` splits comma-separated lists (``Via: a, b`` and two ``Via`` lines
give the same list) for the headers whose grammar allows it.

A small cache (``cached``) memoises typed parses (``Via`` list, ``CSeq`` ...); every mutation
clears it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final, TypeVar

from ata.sip.errors import HeaderValueError
from ata.sip.syntax import check_header_value, is_token, split_top

T = TypeVar("T")

COMPACT: Final[dict[str, str]] = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "o": "event",
    "u": "allow-events",
    "r": "refer-to",
    "b": "referred-by",
    "x": "session-expires",
    "y": "identity",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
    "n": "identity-info",
}

_CANONICAL_SPELLING: Final[dict[str, str]] = {
    name.lower(): name
    for name in (
        "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Content-Length",
        "Content-Type", "Content-Encoding", "Content-Disposition", "Route", "Record-Route",
        "WWW-Authenticate", "Proxy-Authenticate", "Authorization", "Proxy-Authorization",
        "Allow", "Supported", "Require", "Proxy-Require", "Unsupported", "Expires",
        "Min-Expires", "User-Agent", "Server", "Accept", "Event", "Allow-Events",
        "Subscription-State", "Refer-To", "Referred-By", "Session-Expires", "Min-SE",
        "Subject", "Alert-Info", "Call-Info", "Retry-After", "Timestamp", "Warning",
        "P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID", "Privacy", "RSeq",
        "RAck", "Reason", "Replaces", "Path", "Service-Route", "Date", "Organization",
        "Identity", "Accept-Contact", "Reject-Contact", "Request-Disposition", "Identity-Info",
        "Error-Info", "In-Reply-To", "Priority", "Reply-To", "MIME-Version", "Accept-Encoding",
        "Accept-Language", "Content-Language", "Authentication-Info",
    )
}  # fmt: skip

# Headers whose ABNF is a comma-separated list (RFC 3261 §7.3.1); the authentication
# headers are not, they carry commas inside one value.
LIST_HEADERS: Final = frozenset(
    {
        "via", "contact", "route", "record-route", "allow", "supported", "require",
        "proxy-require", "unsupported", "accept", "accept-encoding", "accept-language",
        "content-encoding", "content-language", "alert-info", "call-info", "error-info",
        "in-reply-to", "warning", "allow-events", "path", "service-route",
        "p-asserted-identity", "p-preferred-identity", "reason", "privacy", "accept-contact",
        "reject-contact", "request-disposition",
    }
)  # fmt: skip

# Headers that may appear at most once (duplicates make a request ambiguous: 400).
SINGLETONS: Final = frozenset(
    {"from", "to", "call-id", "cseq", "max-forwards", "content-length", "content-type",
     "expires", "min-expires", "rseq", "rack", "session-expires", "refer-to", "event"}
)  # fmt: skip


_KEY_CACHE: dict[str, str] = {}
_KEY_CACHE_MAX: Final = 512


def header_key(name: str) -> str:
    """Lower-case long form of a header name (compact forms expanded)."""
    key = _KEY_CACHE.get(name)
    if key is None:
        low = name.lower()
        key = COMPACT.get(low, low)
        if len(_KEY_CACHE) < _KEY_CACHE_MAX:  # bounded: hostile names cannot grow it
            _KEY_CACHE[name] = key
    return key


def canonical_name(name: str) -> str:
    """Conventional spelling of a header name (``call-id`` -> ``Call-ID``, ``v`` -> ``Via``)."""
    key = header_key(name)
    return _CANONICAL_SPELLING.get(key, name)


class Headers:
    """Ordered multi-map of header fields; see the module docstring."""

    __slots__ = ("_cache", "_fields")

    def __init__(self, items: Iterable[tuple[str, object]] = ()) -> None:
        self._fields: list[tuple[str, str, str]] = []
        self._cache: dict[str, object] = {}
        for name, value in items:
            self.add(name, value)

    @classmethod
    def _trusted(cls, fields: list[tuple[str, str, str]]) -> Headers:
        """Build from parser output (already validated); internal fast path."""
        obj = cls.__new__(cls)
        obj._fields = fields
        obj._cache = {}
        return obj

    # -- mutation ------------------------------------------------------------------------

    @staticmethod
    def _checked(name: str, value: object) -> tuple[str, str, str]:
        if not is_token(name):
            raise HeaderValueError(f"invalid header name {name!r}")
        text = str(value)
        check_header_value(text)
        return header_key(name), canonical_name(name), text.strip(" \t")

    def add(self, name: str, value: object) -> None:
        """Append a field (``value`` may be a typed header object; ``str()`` is used)."""
        self._fields.append(self._checked(name, value))
        self._cache.clear()

    def add_derived(self, name: str, value: str) -> None:
        """Append a value derived from already-stored fields (e.g. a parsed To plus a tag).

        Only CR/LF are refused: such values may legitimately carry what the parser accepted
        (a NUL inside a quoted display name, RFC 4475 3.1.1.2), which :meth:`add` refuses.
        """
        if "\r" in value or "\n" in value or not is_token(name):
            raise HeaderValueError("invalid derived header")
        self._fields.append((header_key(name), canonical_name(name), value.strip(" \t")))
        self._cache.clear()

    def copy_from(self, other: Headers, name: str) -> int:
        """Append every field of this name from ``other`` unchanged; return how many."""
        key = header_key(name)
        found = [f for f in other._fields if f[0] == key]
        self._fields.extend(found)
        self._cache.clear()
        return len(found)

    def insert_first(self, name: str, value: object) -> None:
        """Insert a field before every other field of the same name (e.g. a new top Via)."""
        entry = self._checked(name, value)
        for idx, (key, _, _) in enumerate(self._fields):
            if key == entry[0]:
                self._fields.insert(idx, entry)
                break
        else:
            self._fields.append(entry)
        self._cache.clear()

    def set(self, name: str, value: object) -> None:
        """Replace every field of this name by one field (kept at the first one's position)."""
        entry = self._checked(name, value)
        out: list[tuple[str, str, str]] = []
        placed = False
        for f in self._fields:
            if f[0] == entry[0]:
                if not placed:
                    out.append(entry)
                    placed = True
            else:
                out.append(f)
        if not placed:
            out.append(entry)
        self._fields = out
        self._cache.clear()

    def remove(self, name: str) -> int:
        """Remove every field of this name; return how many were removed."""
        key = header_key(name)
        before = len(self._fields)
        self._fields = [f for f in self._fields if f[0] != key]
        self._cache.clear()
        return before - len(self._fields)

    # -- access --------------------------------------------------------------------------

    def get(self, name: str, default: str | None = None) -> str | None:
        """Raw value of the first field with this name."""
        key = header_key(name)
        for k, _, v in self._fields:
            if k == key:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Raw values of every field with this name, one per header line."""
        key = header_key(name)
        return [v for k, _, v in self._fields if k == key]

    def values(self, name: str) -> list[str]:
        """Every list element of this header across all its lines (comma lists split)."""
        key = header_key(name)
        raw = [v for k, _, v in self._fields if k == key]
        if key not in LIST_HEADERS:
            return raw
        out: list[str] = []
        for value in raw:
            out.extend(p for p in split_top(value, ",") if p)
        return out

    def count(self, name: str) -> int:
        key = header_key(name)
        return sum(1 for k, _, _ in self._fields if k == key)

    def cached(self, key: str, parse: Callable[[], T]) -> T:
        """Memoised typed parse of a header (cleared on mutation)."""
        try:
            return self._cache[key]  # type: ignore[return-value]
        except KeyError:
            value = parse()
            self._cache[key] = value
            return value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = header_key(name)
        return any(k == key for k, _, _ in self._fields)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """(name as written, value) pairs in order."""
        return ((n, v) for _, n, v in self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def keys_values(self) -> list[tuple[str, str]]:
        """(normalised key, value) pairs: what message equality compares."""
        return [(k, v) for k, _, v in self._fields]

    def copy(self) -> Headers:
        return Headers._trusted(list(self._fields))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self.keys_values() == other.keys_values()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({[(n, v) for _, n, v in self._fields]!r})"

    def serialize_into(self, out: list[str], skip: str | None = None) -> None:
        """Append ``Name: value`` lines (without CRLF) to ``out``, skipping key ``skip``."""
        for k, n, v in self._fields:
            if k != skip:
                out.append(f"{n}: {v}")
