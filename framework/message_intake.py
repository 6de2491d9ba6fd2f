"""What `chatwright check` says about conversations: which adapters deliver what people write, and how.

An adapter delivers messages by push (a webhook route names it), by poll (its chats are watched), or not at all
(its provider documents no way to read messages, e.g. GroupAlarm): handlers of `chat.message` hear nothing from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from framework.config import Config
from framework.messages import MESSAGE_EVENT, Intake, MessageFeed, intake_of
from framework.plugins import Plugin
from framework.triggers.polling import polled_adapters

__all__ = ["IntakeLine", "intake_report"]


@attrs.frozen
class IntakeLine:
    adapter: str
    provider: str
    how: str
    """"push", "poll", "push or poll (not used)" or "unsupported"."""
    detail: str


def intake_report(
    config: Config, plugins: Sequence[Plugin], providers: Mapping[str, object]
) -> tuple[list[IntakeLine], list[str]]:
    """One line per adapter, and the warnings (a listener nobody feeds, a bot that would hear itself)."""
    pushed = {route.adapter: route.path for route in config.webhooks if route.adapter is not None}
    polled = set(polled_adapters(providers, list(pushed), config.conversations.poll))
    listens = any(h.matches_type(MESSAGE_EVENT) for plugin in plugins for h in plugin.handlers)
    lines: list[IntakeLine] = []
    warnings: list[str] = []
    interval = config.conversations.poll_interval
    for name, provider in providers.items():
        kind = config.adapters[name].provider
        can = intake_of(provider)
        if not can:
            lines.append(
                IntakeLine(
                    name,
                    kind,
                    "unsupported",
                    f"the {kind} API documents no way to read messages; none is delivered",
                )
            )
            continue
        if name in pushed:
            how, detail = "push", f"webhook route {pushed[name]}"
        elif name in polled and listens:
            watched = len(config.conversations.watch.get(name, ()))
            how = "poll"
            detail = f"every {interval:g} s: the chats the bot creates and {watched} configured"
        else:
            offered = " or ".join(sorted(intake.value for intake in can))
            how, detail = f"{offered} (not used)", "no chat.message handler" if not listens else "not polled"
            if Intake.PUSH in can and listens:
                detail += f'; a preset = "devrev" route with adapter = "{name}" would push'
        lines.append(IntakeLine(name, kind, how, detail))
        if isinstance(provider, MessageFeed) and provider.own_id is None and how in ("push", "poll"):
            warnings.append(
                f"adapters.{name}: its own identity is not configured (user_id), so no message is delivered:"
                " the bot could not tell its replies from people's"
            )
    if listens and not any(line.how in ("push", "poll") for line in lines):
        warnings.append(
            "plugins handle chat.message, but no adapter delivers messages (see `messages:` above)"
        )
    return lines, warnings
