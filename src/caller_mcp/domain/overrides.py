"""Per-call controls of the AI caller: language, voice, dynamic variables and ring time.

Pure data and checks, no I/O. :class:`CallOverrides` is a frozen, hashable value, so calls and
batch recipients with the same controls share one object and one provider request part (a batch
keys its shared caller scripts by description, scenario and overrides). Where each value goes in
ElevenLabs' request is the provider's business (``providers/elevenlabs/mapping.py``: seed
``001_…`` ``conversation_initiation_client_data`` and ``telephony_call_config``); which
providers accept which control is in :class:`~caller_mcp.ports.Capabilities` (:data:`CAPABILITY_OF`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import InvalidInput

Scalar = str | int | float | bool

#: ISO 639-1: every two-letter language code (``es`` Spanish, ``de`` German, ``pt`` Portuguese …).
ISO_639_1 = frozenset(
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz "
    "ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik "
    "io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml "
    "mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd "
    "se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi "
    "vo wa wo xh yi yo za zh zu".split()
)
#: Common mistakes for a language code, with the code meant (for the error message).
_LANGUAGE_HINTS = {"sp": "es", "spa": "es", "ge": "de", "ger": "de", "jp": "ja", "cn": "zh", "dk": "da", "gr": "el"}
_LANGUAGE = re.compile(r"^([a-z]{2})(-[a-z]{2})?$")
_VOICE_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
#: A dynamic variable's name, as referenced by ``{{name}}`` in the agent's prompt.
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_DYNAMIC_VARIABLES = 30
MAX_VARIABLE_CHARS = 1_000
MAX_VARIABLES_TOTAL_CHARS = 8_000
#: Names caller-mcp fills itself (``ELEVENLABS_SCRIPT_MODE=variables``) or the provider reserves.
RESERVED_VARIABLES = frozenset({"business_description", "scenario"})
RESERVED_PREFIX = "system__"
#: Ringing timeout bounds, seconds (Twilio's dial timeout accepts 5 to 600).
MIN_RING_TIMEOUT_SECS = 5
MAX_RING_TIMEOUT_SECS = 600
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

#: Override field → the capability a provider needs to accept it (``ports.Capabilities``).
CAPABILITY_OF = {
    "language": "call_language",
    "voice_id": "call_voice",
    "dynamic_variables": "dynamic_variables",
    "ring_timeout_secs": "ring_timeout",
}


@dataclass(frozen=True)
class CallOverrides:
    """Controls of one call (or batch recipient) beyond its script; ``None``/empty = the agent's own.

    Attributes:
        language: ISO 639-1 code (optionally with a region, ``pt-br``) the caller speaks.
        voice_id: the provider's voice id for the caller.
        dynamic_variables: ``(name, value)`` pairs sorted by name; values are str, int, float or bool.
        ring_timeout_secs: seconds to let the line ring before giving up.
    """

    language: str | None = None
    voice_id: str | None = None
    dynamic_variables: tuple[tuple[str, Scalar], ...] = ()
    ring_timeout_secs: int | None = None

    @property
    def empty(self) -> bool:
        """True when no control is set."""
        return self == NO_OVERRIDES

    def variables(self) -> dict[str, Scalar]:
        """The dynamic variables as a dict (a new one each time)."""
        return dict(self.dynamic_variables)

    def fields(self) -> list[str]:
        """The names of the controls that are set, in :data:`CAPABILITY_OF` order."""
        return [name for name in CAPABILITY_OF if getattr(self, name) not in (None, ())]

    def over(self, default: CallOverrides) -> CallOverrides:
        """These controls on top of ``default`` (a batch's): each set field wins; dynamic variables
        are merged, this one's winning by name."""
        merged = {**default.variables(), **self.variables()}
        return CallOverrides(
            language=self.language or default.language,
            voice_id=self.voice_id or default.voice_id,
            dynamic_variables=tuple(sorted(merged.items())),
            ring_timeout_secs=self.ring_timeout_secs if self.ring_timeout_secs is not None else default.ring_timeout_secs,
        )

    def as_dict(self) -> dict[str, Any]:
        """The set controls as JSON-ready ``{field: value}`` (stored with the call, shown in answers)."""
        out: dict[str, Any] = {}
        for name in self.fields():
            out[name] = self.variables() if name == "dynamic_variables" else getattr(self, name)
        return out

    def without_ring_timeout(self) -> CallOverrides:
        """The same controls with no ring timeout (a batch carries one for all its recipients)."""
        return replace(self, ring_timeout_secs=None)

    def describe(self) -> str:
        """One line for a confirmation question, e.g. ``language es, voice v1, 2 variables, rings 30 s``;
        ``""`` when none is set."""
        parts = []
        if self.language:
            parts.append(f"language {self.language}")
        if self.voice_id:
            parts.append(f"voice {self.voice_id}")
        if self.dynamic_variables:
            names = ", ".join(name for name, _ in self.dynamic_variables[:5])
            more = " …" if len(self.dynamic_variables) > 5 else ""
            parts.append(f"variables {names}{more}")
        if self.ring_timeout_secs is not None:
            parts.append(f"rings {self.ring_timeout_secs} s")
        return ", ".join(parts)


NO_OVERRIDES = CallOverrides()


def language(value: object, field: str = "language") -> str | None:
    """An ISO 639-1 code, lower-cased (``ES`` → ``es``; ``pt-BR`` → ``pt-br``); ``None`` when absent.

    Raises:
        InvalidInput: not a known ISO 639-1 code, naming ``field`` and, for a usual slip, the code meant.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be an ISO 639-1 language code such as 'es'.")
    code = value.strip().lower().replace("_", "-")
    match = _LANGUAGE.fullmatch(code)
    if match is None or match.group(1) not in ISO_639_1:
        hint = _LANGUAGE_HINTS.get(code)
        meant = f" (did you mean '{hint}'?)" if hint else ""
        raise InvalidInput(
            f"{field} must be an ISO 639-1 language code such as 'es' (Spanish), 'de' or 'pt-br'; got {value[:20]!r}{meant}."
        )
    return code


def voice_id(value: object, field: str = "voice_id") -> str | None:
    """A provider voice id: letters, digits, ``_`` and ``-``, at most 64; ``None`` when absent.

    Raises:
        InvalidInput: anything else, naming ``field``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not _VOICE_ID.fullmatch(value.strip()):
        raise InvalidInput(
            f"{field} must be a voice id from the provider's voice library (letters, digits, '_' and '-', "
            "at most 64), e.g. 'EXAVITQu4vr4xnSDxMaL'."
        )
    return value.strip()


def ring_timeout(value: object, field: str = "ring_timeout_secs") -> int | None:
    """Seconds to ring, a whole number from :data:`MIN_RING_TIMEOUT_SECS` to
    :data:`MAX_RING_TIMEOUT_SECS`; ``None`` when absent.

    Raises:
        InvalidInput: anything else, naming ``field``.
    """
    if value is None:
        return None
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or not MIN_RING_TIMEOUT_SECS <= value <= MAX_RING_TIMEOUT_SECS:  # type: ignore[operator]
        raise InvalidInput(
            f"{field} must be whole seconds from {MIN_RING_TIMEOUT_SECS} to {MAX_RING_TIMEOUT_SECS}; got {value!r}."
        )
    return int(value)  # type: ignore[arg-type]


def dynamic_variables(value: object, field: str = "dynamic_variables") -> tuple[tuple[str, Scalar], ...]:
    """Dynamic variables checked and sorted by name: an object of at most
    :data:`MAX_DYNAMIC_VARIABLES` names (``{{name}}`` in the agent's prompt) to a string (at most
    :data:`MAX_VARIABLE_CHARS`), a finite number or a boolean; all strings together at most
    :data:`MAX_VARIABLES_TOTAL_CHARS` characters.

    Raises:
        InvalidInput: naming the variable (``dynamic_variables.order_id``) and what to fix.
    """
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field} must be an object of name → string, number or boolean.")
    if len(value) > MAX_DYNAMIC_VARIABLES:
        raise InvalidInput(f"{field} has {len(value)} entries; the limit is {MAX_DYNAMIC_VARIABLES}.")
    total = 0
    pairs: list[tuple[str, Scalar]] = []
    for name, item in value.items():
        where = f"{field}.{str(name)[:40]}"
        if not isinstance(name, str) or not _VARIABLE_NAME.fullmatch(name):
            raise InvalidInput(
                f"{where}: a variable name must be letters, digits and '_' (not starting with a digit), at most 64."
            )
        if name in RESERVED_VARIABLES or name.startswith(RESERVED_PREFIX):
            raise InvalidInput(
                f"{where} is reserved: caller-mcp fills business_description and scenario from their own "
                "arguments, and the provider owns system__ variables. Use another name."
            )
        if isinstance(item, str):
            if len(item) > MAX_VARIABLE_CHARS:
                raise InvalidInput(f"{where} is {len(item):,} characters long; the limit is {MAX_VARIABLE_CHARS:,}.")
            bad = _CONTROL.search(item)
            if bad:
                raise InvalidInput(f"{where} contains the control or invalid character U+{ord(bad.group()):04X}; remove it.")
            total += len(item)
        elif isinstance(item, bool) or (isinstance(item, int) and abs(item) < 2**53):
            pass
        elif isinstance(item, float) and math.isfinite(item):
            pass
        else:
            raise InvalidInput(f"{where} must be a string, a number or a boolean; got {type(item).__name__}.")
        pairs.append((name, item))
    if total > MAX_VARIABLES_TOTAL_CHARS:
        raise InvalidInput(f"{field} holds {total:,} characters of text; the limit is {MAX_VARIABLES_TOTAL_CHARS:,}.")
    return tuple(sorted(pairs))


def overrides(
    *,
    language_code: object = None,
    voice: object = None,
    variables: object = None,
    ring_timeout_secs: object = None,
    prefix: str = "",
) -> CallOverrides:
    """Check every control and build the :class:`CallOverrides` (``NO_OVERRIDES`` when none is set).

    Args:
        prefix: put before each field name in errors (``recipients[3].``).
    Raises:
        InvalidInput: the first bad control, named with ``prefix``.
    """
    built = CallOverrides(
        language=language(language_code, f"{prefix}language"),
        voice_id=voice_id(voice, f"{prefix}voice_id"),
        dynamic_variables=dynamic_variables(variables, f"{prefix}dynamic_variables"),
        ring_timeout_secs=ring_timeout(ring_timeout_secs, f"{prefix}ring_timeout_secs"),
    )
    return NO_OVERRIDES if built.empty else built
