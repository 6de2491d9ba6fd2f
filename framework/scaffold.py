"""`chatwright new NAME`: the README's five-minute plugin tutorial in one command.

Writes a plugin package into ./NAME: `plugin.py` (one handler that creates a chat and posts a message),
`bot.toml` against the local emulator of one provider (with a bearer-token webhook route), `test_plugin.py`
(the testing kit's `chatwright_bot` fixture) and a `README.md` saying how to run it.
"""

from __future__ import annotations

import json
import keyword
from pathlib import Path

import attrs

from framework.errors import ConfigError

__all__ = ["PROVIDERS", "ProviderTemplate", "render", "scaffold"]


@attrs.frozen(kw_only=True)
class ProviderTemplate:
    """What a scaffolded bot needs to know about its provider: the adapter table against the local emulator
    (the defaults the README and the bots use), members the emulator knows, and what the test expects."""

    adapter: str
    env_prefix: str
    table: tuple[tuple[str, str, str], ...]
    """(key, environment variable suffix, emulator default) of the adapter table, after provider and base_url."""
    members: tuple[str, ...]
    create_path: str
    message_key: str


PROVIDERS: dict[str, ProviderTemplate] = {
    "roostedhr": ProviderTemplate(
        adapter="roosted",
        env_prefix="ROOSTED",
        table=(("api_key", "API_KEY", "test-key"), ("worker_id", "WORKER_ID", "3158")),
        members=("120915",),
        create_path="/workers/3158/chats",
        message_key="message",
    ),
    "popsell": ProviderTemplate(
        adapter="popsell",
        env_prefix="POPSELL",
        table=(
            ("domain", "DOMAIN", "demo.popsell.test"),
            ("api_key", "API_KEY", "test-key"),
            ("brand_id", "BRAND_ID", "3"),
            ("sender_ambassador_id", "SENDER_AMBASSADOR_ID", "1"),
        ),
        members=("1", "4"),  # a Popsell chatroom holds exactly two ambassadors
        create_path="/chat/chatrooms",
        message_key="content",
    ),
    "devrev": ProviderTemplate(
        adapter="devrev",
        env_prefix="DEVREV",
        table=(("token", "TOKEN", "test-token"),),
        # a DevRev DM includes the bot's own user (the emulator's devu/1)
        members=("don:identity:dvrv-us-1:devo/0:devu/1", "don:identity:dvrv-us-1:devo/0:devu/2"),
        create_path="/chats.create",
        message_key="body",
    ),
    "groupalarm": ProviderTemplate(
        adapter="groupalarm",
        env_prefix="GROUPALARM",
        table=(("api_token", "API_TOKEN", "test-api-token"), ("organization_id", "ORGANIZATION_ID", "1")),
        members=("11",),
        create_path="/chatroom",
        message_key="message",
    ),
}

PLUGIN = '''"""Welcomes new members in a chat of their own."""

from framework import Context, Event, Plugin

plugin = Plugin("{name}")


@plugin.on("member.joined")
async def welcome(event: Event, ctx: Context) -> None:
    chat_api = ctx.chats["{adapter}"]
    chat = await chat_api.create_chat(name=f"Welcome {{event.data['name']}}", members=event.data["members"])
    await chat_api.post_message(chat.id, f"Welcome aboard, {{event.data['name']}}!")
'''

BOT = """# {name}: a chatwright bot against the local {provider} emulator (`chatwright emulate`).
# `${{NAME:-default}}` reads the environment; the defaults point at the emulator.

[adapters.{adapter}]
provider = "{provider}"
base_url = "${{{env}_BASE_URL:-http://127.0.0.1:8090/{provider}}}"
{table}

[[webhooks]]
path = "/hooks/members"
event = "member.joined"
id_field = "id"
verify = {{ scheme = "bearer", tokens = ["${{{token_env}:-let-me-in}}"] }}

[plugins]
modules = ["{name}.plugin"]
"""

TEST = """from framework.testing.pytest_plugin import BotFactory


async def test_welcomes_a_new_member(chatwright_bot: BotFactory) -> None:
    bot = await chatwright_bot.from_config("{name}/bot.toml")
    await bot.emit("member.joined", {{"name": "Ada", "members": {members}}})
    created, posted = bot.requests("{adapter}", method="POST")[-2:]  # the chat, then the message
    assert created.path == "{create_path}"
    assert posted.body["{message_key}"] == "Welcome aboard, Ada!"
"""

README = """# {name}

A chatwright plugin: on `member.joined` it creates a chat with the new member on {provider} and posts a
welcome. Made with `chatwright new {name} --provider {provider}`; run these from the directory that holds
`{name}/`.

- `plugin.py` - the plugin and its handler
- `bot.toml` - the adapter (against the local emulator by default), the webhook route, the plugin module
- `test_plugin.py` - a test with the testing kit: the bot runs against an emulator and the test checks what
  reached it

Try it:

```sh
chatwright emulate                     # the provider emulators, in a terminal of their own
chatwright check {name}/bot.toml
chatwright run {name}/bot.toml           # the service, in another terminal
chatwright send {name}/bot.toml /hooks/members --data '{data}'
pytest {name}/test_plugin.py
```

`chatwright send` signs the delivery as the route verifies it (here the bearer token) and prints the answer:
`202` with the event id; send it again with the same `--id` and it is a `200` duplicate. Against the real
{provider}, set `{env}_BASE_URL` and the credentials in the environment (see bot.toml) and `{token_env}`
to a long random token.
"""


def render(name: str, provider: str) -> dict[str, str]:
    """The files of the package `name` for `provider`, by file name."""
    template = PROVIDERS[provider]
    token_env = f"{name.upper()}_TOKEN"
    table = "\n".join(
        f'{key} = "${{{template.env_prefix}_{suffix}:-{default}}}"' for key, suffix, default in template.table
    )
    members = json.dumps(list(template.members))
    values = {
        "name": name,
        "provider": provider,
        "adapter": template.adapter,
        "env": template.env_prefix,
        "table": table,
        "token_env": token_env,
        "members": members,
        "create_path": template.create_path,
        "message_key": template.message_key,
        "data": json.dumps({"id": "m-1", "name": "Ada", "members": list(template.members)}),
    }
    return {
        "__init__.py": "",
        "plugin.py": PLUGIN.format(**values),
        "bot.toml": BOT.format(**values),
        "test_plugin.py": TEST.format(**values),
        "README.md": README.format(**values),
    }


def scaffold(parent: Path, name: str, provider: str = "roostedhr") -> Path:
    """Write the package `name` into `parent / name`; refuses a name that is no module name, an unknown
    provider, and an existing directory that is not empty."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ConfigError(f"{name!r} is not a Python package name; use letters, digits and _ (e.g. my_bot)")
    if provider not in PROVIDERS:
        raise ConfigError(f"unknown provider {provider!r}; choose one of: {', '.join(PROVIDERS)}")
    directory = parent / name
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ConfigError(f"{directory} already exists and is not an empty directory; choose another name")
    directory.mkdir(parents=True, exist_ok=True)
    for file_name, text in render(name, provider).items():
        (directory / file_name).write_text(text, encoding="utf-8")
    return directory
