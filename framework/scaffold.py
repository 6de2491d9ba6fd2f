"""`chatwright new NAME`: the README's five-minute plugin tutorial in one command.

Writes a plugin package into ./NAME: `plugin.py` (one handler that creates a chat and posts a message),
`bot.toml` against the local emulator of one provider (with a bearer-token webhook route), `test_plugin.py`
(the testing kit's `chatwright_bot` fixture), a `README.md` saying how to run it and a `.gitignore` for what
running it writes (the store's files, Python's caches).
"""

from __future__ import annotations

import json
import keyword
from pathlib import Path

from framework.adapter_registry import ScaffoldTemplate, available_providers
from framework.errors import ConfigError


def templates() -> dict[str, ScaffoldTemplate]:
    """The providers `chatwright new --provider` can scaffold for: every installed adapter with a template."""
    return {
        name: spec.scaffold
        for name, spec in sorted(available_providers().items())
        if spec.scaffold is not None
    }


__all__ = ["render", "scaffold", "templates"]


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

GITIGNORE = """# what running and testing the bot writes: its store (chatwright.db and the files beside it) and Python's caches
chatwright.db*
__pycache__/
.pytest_cache/
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
- `.gitignore` - what running the bot writes here (its store, `chatwright.db` and the files beside it)

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
    template = templates()[provider]
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
        ".gitignore": GITIGNORE,
    }


def scaffold(parent: Path, name: str, provider: str = "roostedhr") -> Path:
    """Write the package `name` into `parent / name`; refuses a name that is no module name, an unknown
    provider, and an existing directory that is not empty."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ConfigError(f"{name!r} is not a Python package name; use letters, digits and _ (e.g. my_bot)")
    known = templates()
    if provider not in known:
        raise ConfigError(f"unknown provider {provider!r}; choose one of: {', '.join(known)}")
    directory = parent / name
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ConfigError(f"{directory} already exists and is not an empty directory; choose another name")
    directory.mkdir(parents=True, exist_ok=True)
    for file_name, text in render(name, provider).items():
        (directory / file_name).write_text(text, encoding="utf-8")
    return directory
