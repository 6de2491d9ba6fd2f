"""'Did you mean ...?' for a name that is not one of the known ones (config keys, sections, plugin names)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["closest", "unknown_keys"]


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The known name `word` is most likely a misspelling of, if any is close enough."""
    import difflib  # only a config with a mistake in it needs it

    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_keys(extra: Iterable[str], valid: Iterable[str], *, noun: str = "key(s)") -> str:
    """`unknown key(s) a, b; did you mean alpha (for a)?`, or the valid names when none is close."""
    keys = sorted(str(key) for key in extra)
    names = [name for name in valid if not name.startswith("_")]
    hints = [(key, match) for key in keys if (match := closest(key, names)) is not None]
    message = f"unknown {noun} {', '.join(keys)}"
    if hints and len(keys) == 1:
        return f"{message}; did you mean {hints[0][1]}?"
    if hints:
        return f"{message}; did you mean {', '.join(f'{match} (for {key})' for key, match in hints)}?"
    if names:
        return f"{message}; valid here: {', '.join(names)}"
    return message
