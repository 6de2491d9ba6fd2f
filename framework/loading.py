"""Plugin discovery: modules named in `[plugins] modules`, and the entry-point group `chatwright.plugins`."""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
import traceback
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import attrs
import cattrs

from framework.errors import PluginLoadError
from framework.plugins import Plugin
from framework.structuring import structure_section
from framework.suggest import closest

__all__ = ["ENTRY_POINT_GROUP", "load_plugins", "plugins_in_module", "structure_plugin_configs"]

ENTRY_POINT_GROUP = "chatwright.plugins"


def plugins_in_module(module: Any) -> list[Plugin]:
    """Every Plugin object a module exposes at module level, in definition order."""
    return [value for value in vars(module).values() if isinstance(value, Plugin)]


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple({str(Path(paths[key]).resolve()) for key in ("stdlib", "platstdlib", "purelib", "platlib")})


def _is_user_file(filename: str, libraries: tuple[str, ...]) -> bool:
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return False
    try:
        resolved = str(Path(filename).resolve())
    except (OSError, ValueError):
        return True
    return not any(resolved.startswith(library + os.sep) for library in libraries)


def _import_error(module_name: str, error: BaseException) -> str:
    """What failed and where: the user's file and line, never `<frozen importlib._bootstrap>`."""
    what = f"plugin module {module_name!r} failed to import: {type(error).__name__}"
    if isinstance(error, SyntaxError) and error.filename:
        # the parser's error has no frame in the user's file: its place is in the error itself
        text = (error.text or "").strip()
        code = f": {text}" if text else ""
        return f"{what}: {error.msg} (at {error.filename}:{error.lineno}{code})"
    frames = [
        frame for frame in traceback.extract_tb(error.__traceback__) if not frame.filename.startswith("<")
    ]
    where = ""
    if frames:
        last = frames[-1]
        libraries = _library_dirs()
        user = next((f for f in reversed(frames) if _is_user_file(f.filename, libraries)), None)
        where = f" (at {last.filename}:{last.lineno})"
        if user is not None and user is not last:
            where = f" (at {user.filename}:{user.lineno}, raised in {last.filename}:{last.lineno})"
    return f"{what}: {error}{where}"


def importable_from(*directories: Path) -> None:
    """Let plugin modules be imported from these directories too (as `python -m` imports from the working
    directory): the working directory first, then e.g. the config file's directory."""
    for directory in directories:
        entry = str(directory.resolve())
        if entry not in sys.path:
            sys.path.append(entry)


def load_plugins(
    modules: Iterable[str], *, use_entry_points: bool = True, file_name: str = "", search: Iterable[Path] = ()
) -> list[Plugin]:
    """Import every plugin module; all failures are reported together, each with its module name and error.

    Modules are looked up in the installed packages, the working directory and the `search` directories.
    """
    importable_from(Path.cwd(), *search)
    prefix = f"{file_name}: " if file_name else ""
    found: list[Plugin] = []
    problems: list[str] = []
    for index, module_name in enumerate(modules):
        try:
            module = importlib.import_module(module_name)
        except Exception as error:
            problems.append(f"{prefix}plugins.modules[{index}]: {_import_error(module_name, error)}")
            continue
        plugins = plugins_in_module(module)
        if not plugins:
            problems.append(
                f"{prefix}plugins.modules[{index}]: module {module_name!r} exposes no Plugin at module level"
                ' (expected e.g. `plugin = Plugin("name")`)'
            )
        found.extend(plugins)
    if use_entry_points:
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            try:
                value = entry.load()
            except Exception as error:
                problems.append(f"{prefix}entry point {entry.name!r}: {_import_error(entry.value, error)}")
                continue
            candidates = plugins_in_module(value) if not isinstance(value, Plugin) else [value]
            found.extend(candidates)
    unique: dict[str, Plugin] = {}
    for plugin in found:
        existing = unique.get(plugin.name)
        if existing is not None and existing is not plugin:
            problems.append(f"{prefix}two different plugins are named {plugin.name!r}; names must be unique")
        unique[plugin.name] = plugin
    if problems:
        raise PluginLoadError(problems)
    return list(unique.values())


def structure_plugin_configs(
    plugins: Iterable[Plugin],
    settings: dict[str, dict[str, Any]],
    converter: cattrs.Converter,
    file_name: str,
) -> tuple[dict[str, Any], list[str]]:
    """Each plugin's `[plugins.NAME]` table structured into its config class; returns (configs, problems)."""
    configs: dict[str, Any] = {}
    problems: list[str] = []
    names = set()
    for plugin in plugins:
        names.add(plugin.name)
        table = settings.get(plugin.name, {})
        if plugin.config_type is None:
            if table:
                problems.append(
                    f"{file_name}: plugins.{plugin.name}: plugin {plugin.name!r} takes no config"
                    " (give it one with Plugin(name, config=MyConfig))"
                )
            continue
        if not attrs.has(plugin.config_type):
            problems.append(f"{file_name}: plugins.{plugin.name}: config class must be an attrs class")
            continue
        value, found = structure_section(
            converter, table, plugin.config_type, f"plugins.{plugin.name}", file_name
        )
        problems.extend(found)
        configs[plugin.name] = value
    for name in sorted(set(settings) - names):
        match = closest(name, names)
        hint = f"; did you mean [plugins.{match}]?" if match else ""
        problems.append(f"{file_name}: plugins.{name}: no loaded plugin is named {name!r}{hint}")
    return configs, problems
