"""Welcome: greets new hires with settings from `[plugins.welcome]`, structured into an attrs class.

chatwright structures the table with cattrs when the bot starts (and in `chatwright check`): a missing
key, a typo or a wrong type is reported with the file and the key, before any event is handled.
"""

import attrs

from framework import Context, Event, Plugin


@attrs.frozen(kw_only=True)
class WelcomeConfig:
    team: str
    """Required: the table must set it."""
    greeting: str = "Welcome aboard"
    mentors: tuple[str, ...] = ()
    max_length: int = attrs.field(default=200, validator=attrs.validators.ge(20))
    """Longer greetings are cut to this many characters."""


plugin = Plugin("welcome", config=WelcomeConfig)


@plugin.on("worker.hired")
async def welcome(event: Event, ctx: Context) -> None:
    config: WelcomeConfig = ctx.config  # the structured [plugins.welcome] table
    text = f"{config.greeting}, {event.data['name']}! You join the {config.team} team."
    if config.mentors:
        text += f" Your mentors: {', '.join(config.mentors)}."
    ctx.log.info("%s", text[: config.max_length])
