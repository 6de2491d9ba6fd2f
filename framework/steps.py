"""The step journal: every effect a handler makes through `ctx.chats` or `ctx.step` is recorded, never repeated.

A step is keyed by (event, handler, operation, canonical arguments, occurrence): the same call made twice in one
handler call is two steps, and a call with other arguments is another step, so a recorded result is never handed
to a call it does not belong to. When a handler runs again (a retry, a crash, another replica, a replay), each
step whose result is recorded returns that result instead of acting again.

A step whose outcome is unknown - its earlier attempt may have reached the provider without its result being
recorded (the process died during the call, the call timed out or lost its connection after sending, a 5xx
answered a request that is not safe to repeat) - is *in doubt*. Before it is performed again it is reconciled:
the adapter reads back from the provider whether the effect is there (`framework.chats.ReadBack`), and if so
that result is recorded and returned; so an error that leaves a step in doubt is retried where the step can be
read back, even one the adapter calls not retryable (a create answered without a body). Renames, member
changes and deletes are safe to repeat, so they are applied again (a delete answered 404 is done). Where the
provider cannot read back, the adapter's `in_doubt` policy decides: `repeat` (the default) performs the step
again, logs a possible duplicate and counts it; `fail` dead-letters the event for an operator to decide.

Records are written without making the handler wait, when they can matter: a step's record is queued with the
store when the handler moves on to its next step or fails (on SQLite it rides the writer's group commit), and
the worker waits for an event's records before it retries or dead-letters it. The last step's record of a
handler that returns is not written: the event's ack follows and removes its records anyway. A crash before a
record commits leaves the step in doubt, which reconciliation covers. A first delivery reads no records.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs

from framework import jsoncodec, scope
from framework.chats import Capability, Chat, ChatProvider, InDoubtPolicy, Message, ReadBack
from framework.errors import ChatwrightError, NotFound, ProviderError, Unsupported
from framework.events import Event
from framework.store.base import DEFAULT_STEP_TTL, Store

__all__ = [
    "READBACK_SKEW",
    "Delivery",
    "InDoubtPolicy",
    "JournaledChats",
    "StepCounters",
    "StepInDoubt",
    "StepJournal",
    "StepSettings",
    "Steps",
    "call",
]

log = logging.getLogger("chatwright.steps")

T = TypeVar("T")


def _none(_: Any) -> None:
    return None


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)`, awaited when it returns an awaitable: a `ctx.step` function may be sync or async."""
    result = fn(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


READBACK_SKEW = timedelta(seconds=5)
"""A read-back looks this much before the step began, against the provider's clock running behind ours."""


class Delivery(enum.Enum):
    """What a delivery of an event may assume of its earlier attempts (the worker tells the journal)."""

    FIRST = "first"
    """Never handled before: there are no records, and none are read."""
    RETRY = "retry"
    """Earlier attempts ended normally (retried, or dead-lettered then replayed): each waited for its records, so
    a step without one was never begun."""
    RESUMED = "resumed"
    """An earlier attempt was interrupted (its process died, its lease ran out, the service stopped under it): a
    step without a record may have been under way, so it is in doubt."""


class StepInDoubt(ChatwrightError):
    """A step may or may not have taken effect, its adapter cannot tell, and its policy says not to guess."""


class _State(enum.StrEnum):
    DONE = "done"
    """Took effect; `result` holds what it returned."""
    DOUBT = "doubt"
    """Ended without knowing whether it took effect (timeout, lost answer, 5xx, cancelled)."""
    ABSENT = "absent"
    """Failed in a way that shows it did not take effect (a refusal, a 429, not found)."""


@attrs.frozen
class _Record:
    state: _State
    started_at: float
    result: Any = None

    def to_json(self) -> bytes:
        """Its JSON; a provider object in the result (a Chat's or Message's `raw`) is encoded by its fields, and
        dropped if it has no JSON form."""
        value = {"state": self.state.value, "started_at": self.started_at, "result": self.result}
        try:
            return jsoncodec.dumps_default(value, _provider_object)
        except TypeError:
            if not isinstance(self.result, dict) or "raw" not in self.result:
                raise
            return jsoncodec.dumps_default(
                {**value, "result": {**self.result, "raw": None}}, _provider_object
            )

    @classmethod
    def from_json(cls, raw: bytes | str) -> _Record:
        value = jsoncodec.loads(raw)
        return cls(
            state=_State(value["state"]), started_at=float(value["started_at"]), result=value.get("result")
        )


class _Pending:
    """A step's record not yet written: what to encode (with its operation's encoder), if it comes to that."""

    __slots__ = ("result", "started", "state", "step")

    def __init__(self, step: _Step, state: _State, started: float, result: Any) -> None:
        self.step = step
        self.state = state
        self.started = started
        self.result = result


@attrs.define
class StepCounters:
    """What the journals of one process did, for `/metrics`."""

    performed: int = 0
    """Steps carried out (a provider call, or a `ctx.step` function run)."""
    replayed: int = 0
    """Steps answered from the journal instead of acting again."""
    reconciled: int = 0
    """Steps in doubt whose effect a read-back found at the provider."""
    not_found: int = 0
    """Steps in doubt a read-back did not find, then performed."""
    possible_duplicates: int = 0
    """Steps in doubt performed again without a read-back (the `repeat` policy): maybe twice in effect."""
    mismatched: int = 0
    """Recorded steps a re-run did not make again (the handler's calls changed between attempts)."""


@attrs.frozen(kw_only=True)
class StepSettings:
    """How the journals of a runtime behave (with steps off a runtime has no journals at all)."""

    ttl: float = DEFAULT_STEP_TTL
    in_doubt: Mapping[str, InDoubtPolicy] = attrs.field(factory=dict)
    """The policy per adapter name; adapters not named use REPEAT."""


_SCALARS = (str, int, float, bool, type(None))


def _canonical(value: Any) -> Any:
    """A JSON-ready form of step arguments in which equal arguments are equal (tuples as lists, sets sorted)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list or kind is tuple:
        return [item if type(item) in _SCALARS else _canonical(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((_canonical(item) for item in value), key=repr)
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, _SCALARS):  # subclasses: str enums, bools
        return value
    if attrs.has(kind):
        return _canonical(attrs.asdict(value, recurse=True))
    raise TypeError(
        f"step argument {value!r} ({kind.__name__}) has no canonical JSON form; pass strings, numbers,"
        " booleans, None, lists, dicts or attrs instances"
    )


def _digest(arguments: Any) -> str:
    return hashlib.blake2b(jsoncodec.dumps(_canonical(arguments)), digest_size=10).hexdigest()


def _provider_object(value: Any) -> Any:
    """The JSON encoder's fallback for what a record holds beyond JSON: a provider's attrs object as its fields
    (its datetimes, enums and nested objects encoded in turn)."""
    if attrs.has(type(value)):
        return value.__getstate__()  # its fields by name (attrs writes it for slotted classes; else __dict__)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} has no JSON form")


def _parse_when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _chat_record(chat: Chat) -> dict[str, Any]:
    return {
        "provider": chat.provider,
        "id": chat.id,
        "name": chat.name,
        "members": chat.members,
        "created_at": chat.created_at,
        "raw": chat.raw,
    }


def _recorded_chat(value: dict[str, Any]) -> Chat:
    """A recorded Chat; its `raw` is the provider's object as JSON (a dict), not its typed model."""
    return Chat(
        provider=value["provider"],
        id=value["id"],
        name=value.get("name"),
        members=tuple(value.get("members") or ()),
        created_at=_parse_when(value.get("created_at")),
        raw=value.get("raw"),
    )


def _message_record(message: Message) -> dict[str, Any]:
    return {
        "provider": message.provider,
        "chat_id": message.chat_id,
        "id": message.id,
        "text": message.text,
        "sent_at": message.sent_at,
        "raw": message.raw,
    }


def _recorded_message(value: dict[str, Any]) -> Message:
    """A recorded Message; its `raw` is the provider's object as JSON (a dict), not its typed model."""
    return Message(
        provider=value["provider"],
        chat_id=value["chat_id"],
        id=value.get("id"),
        text=value.get("text") or "",
        sent_at=_parse_when(value.get("sent_at")),
        raw=value.get("raw"),
    )


@attrs.frozen
class _Operation:
    """What every step of one kind shares: its name, how its result is recorded, whether repeating it is safe."""

    name: str
    """The adapter's method (`post_message`), or `step:NAME` for `ctx.step`."""
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]
    safe_to_repeat: bool = False
    """Applying it twice has the effect of applying it once (rename, set members, delete)."""
    fixed_arguments: bool = False
    """Its arguments are strings and tuples of them, which nothing can change while it runs: its key may be worked
    out later (`StepJournal._key_of`)."""


class _Step:
    """One call to make a step of: its operation, its arguments, and how to perform it and read it back.

    A plain slotted class, not attrs: one is made for every provider call a handler makes.
    """

    __slots__ = ("adapter", "arguments", "key", "kind", "perform", "readback")

    def __init__(
        self,
        kind: _Operation,
        adapter: str | None,
        arguments: Any,
        perform: Callable[[], Awaitable[Any]],
        readback: Callable[[datetime], Awaitable[Any]] | None = None,
    ) -> None:
        self.kind = kind
        self.adapter = adapter
        """The name the handler looked the adapter up by (None for `ctx.step`)."""
        self.arguments = arguments
        self.perform = perform
        self.readback = readback
        self.key: str | None = None

    @property
    def operation(self) -> str:
        """`adapter.method`, or `step:NAME`: what its key and log lines name."""
        return self.kind.name if self.adapter is None else f"{self.adapter}.{self.kind.name}"


_CREATE_CHAT = _Operation("create_chat", _chat_record, _recorded_chat)
_CREATE_CHAT_FIXED = _Operation("create_chat", _chat_record, _recorded_chat, fixed_arguments=True)
_RENAME_CHAT = _Operation(
    "rename_chat", _chat_record, _recorded_chat, safe_to_repeat=True, fixed_arguments=True
)
_SET_MEMBERS = _Operation(
    "set_members", _chat_record, _recorded_chat, safe_to_repeat=True, fixed_arguments=True
)
_SET_MEMBERS_UNCHECKED = _Operation("set_members", _chat_record, _recorded_chat, safe_to_repeat=True)
_POST_MESSAGE = _Operation("post_message", _message_record, _recorded_message, fixed_arguments=True)
_DELETE_CHAT = _Operation("delete_chat", _none, _none, safe_to_repeat=True, fixed_arguments=True)


class StepJournal:
    """The steps of one handler call: answers recorded ones, reconciles those in doubt, records the rest."""

    __slots__ = (
        "_delivery",
        "_event",
        "_handler",
        "_new_operations",
        "_occurrences",
        "_pending",
        "_recorded",
        "_rerun",
        "_shared",
        "_unkeyed",
        "writes",
    )

    def __init__(self, shared: Steps, event: Event, handler: str, delivery: Delivery) -> None:
        self._shared = shared
        self._event = event
        self._handler = handler
        self._delivery = delivery
        self._rerun = delivery is not Delivery.FIRST
        self._new_operations: set[str] = set()
        """Operations this re-run performed without a record: where a recorded step of one went unused, the
        handler's calls changed."""
        self._occurrences: dict[tuple[str, str], int] = {}
        self._unkeyed: list[_Step] = []
        """Steps of a first delivery begun without their key, in the order begun. A key is needed only for a
        record, and a handler's last step writes none, so a handler with one call never works its key out."""
        self._recorded: dict[str, _Record] | None = None
        """This handler's records from earlier attempts, loaded on the first step of a re-run."""
        self.writes: list[Awaitable[None]] = []
        """Record writes under way; the worker waits for them before it acks, retries or dead-letters."""
        self._pending: _Pending | None = None
        """The latest step's record, written when the handler moves on to another step or fails (`flush`); a
        handler that returns has its event acked, which removes the event's records anyway (`finish`)."""

    def _key(self, operation: str, arguments: Any) -> str:
        """`handler|operation|digest of the arguments|occurrence`: readable where it can be, exact where it counts."""
        digest = _digest(arguments)
        occurrence = self._occurrences.get((operation, digest), 0) + 1
        self._occurrences[(operation, digest)] = occurrence
        return f"{self._handler}|{operation}|{digest}|{occurrence}"

    def _key_of(self, step: _Step) -> str:
        """The key of `step`, after those of the steps begun before it: an occurrence counts the equal steps begun
        before it, so keys are worked out in the order the steps began, whenever that is."""
        if step.key is None:
            for begun in self._unkeyed:
                begun.key = self._key(begun.operation, begun.arguments)
            self._unkeyed.clear()
            if step.key is None:
                step.key = self._key(step.operation, step.arguments)
        return step.key

    async def _earlier(self) -> dict[str, _Record]:
        if self._recorded is None:
            prefix = self._handler + "|"
            stored = await self._shared.store.load_steps(self._event.id)
            self._recorded = {
                key: _Record.from_json(raw) for key, raw in stored.items() if key.startswith(prefix)
            }
        return self._recorded

    def _record(self, step: _Step, state: _State, started: float, result: Any = None) -> None:
        if self._pending is not None:
            self.flush()
        self._pending = _Pending(step, state, started, result)

    def flush(self) -> None:
        """Start writing the latest step's record (the handler moves on, or failed)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        result = None if pending.result is None else pending.step.kind.encode(pending.result)
        record = _Record(pending.state, pending.started, result)
        self.writes.append(
            self._shared.store.record_step(
                self._event.id, self._key_of(pending.step), record.to_json(), self._shared.settings.ttl
            )
        )

    async def run(self, step: _Step) -> Any:
        """Perform `step` once in effect: its recorded result, a read-back of its effect, or the call itself."""
        token = None
        if step.adapter is not None:
            # the provider calls it makes are labelled (metrics, log lines, spans) with its adapter and operation
            token = scope.bind(scope.current().with_call(step.adapter, step.kind.name))
        try:
            if self._pending is not None:
                self.flush()  # the step before is recorded before this one acts
            if self._rerun:
                return await self._run_again(step)
            # A first delivery has no records to look for. The key waits until a record needs one (the arguments
            # cannot change meanwhile), or is worked out now, after those of the steps begun before it.
            if step.kind.fixed_arguments:
                self._unkeyed.append(step)
            else:
                self._key_of(step)
            return await self._perform(step)
        finally:
            if token is not None:
                scope.reset(token)

    async def _run_again(self, step: _Step) -> Any:
        """A step of a re-run: its record's result, or a read-back where it is in doubt, or the call."""
        key = self._key_of(step)
        since = self._event.received_at - READBACK_SKEW
        record = (await self._earlier()).pop(key, None)
        if record is not None and record.state is _State.DONE:
            self._shared.counters.replayed += 1
            return step.kind.decode(record.result)
        if record is None:
            self._new_operations.add(step.operation)
        if record is not None and record.state is _State.DOUBT:
            since = datetime.fromtimestamp(record.started_at, UTC) - READBACK_SKEW
        if (record is not None and record.state is _State.DOUBT) or (
            record is None and self._delivery is Delivery.RESUMED
        ):
            found = await self._reconcile(step, since)
            if found is not None:
                return found
        return await self._perform(step)

    async def _reconcile(self, step: _Step, since: datetime) -> Any:
        """Look for the effect of a step that may have happened; record and return it if found, else None."""
        if step.kind.safe_to_repeat:
            return None
        if step.readback is not None:
            try:
                found = await step.readback(since)
            except Unsupported:
                found = None
            else:
                if found is not None:
                    self._shared.counters.reconciled += 1
                    log.info(
                        "[%s] %s: %s found at the provider; not repeated",
                        self._event.id,
                        self._handler,
                        step.operation,
                    )
                    self._record(step, _State.DONE, time.time(), found)
                    return found
                self._shared.counters.not_found += 1
                return None
        policy = self._shared.settings.in_doubt.get(step.adapter or "", InDoubtPolicy.REPEAT)
        if policy is InDoubtPolicy.FAIL:
            raise StepInDoubt(
                f"{step.operation} may have taken effect in an earlier attempt and {step.adapter or 'this step'}"
                ' cannot read back whether it did (in_doubt = "fail"); check the provider, then replay the event'
                " (`chatwright replay`) or discard it"
            )
        self._shared.counters.possible_duplicates += 1
        log.warning(
            "[%s] %s: %s may have taken effect in an earlier attempt and cannot be read back; performing it"
            " again (a possible duplicate)",
            self._event.id,
            self._handler,
            step.operation,
        )
        return None

    async def _perform(self, step: _Step) -> Any:
        started = time.time()
        try:
            result = await step.perform()
        except NotFound:
            if step.kind is _DELETE_CHAT and self._rerun:
                self._record(step, _State.DONE, started)
                return None
            self._record(step, _State.ABSENT, started)
            raise
        except ProviderError as error:
            self._record(step, _State.DOUBT if error.may_have_acted else _State.ABSENT, started)
            if error.may_have_acted and step.readback is not None:
                # Worth a retry even when the error says otherwise (a create answered without a body): the
                # retry reads back before it acts, so it finds the effect instead of doubling it.
                error.retryable = True
            raise
        except BaseException:
            self._record(step, _State.DOUBT, started)
            raise
        self._shared.counters.performed += 1
        self._record(step, _State.DONE, started, result)
        return result

    def finish(self) -> None:
        """After the handler returned: its last record is not written (the event's ack, which follows, removes its
        records anyway); warn when it made other calls than an earlier attempt recorded."""
        self._pending = None
        # Its steps' calls refer back to this journal (through the provider wrapper): left here, each handler call
        # would leave a reference cycle, holding its event and steps until the collector found it.
        self._unkeyed.clear()
        if not self._recorded:
            return
        unused = self._recorded
        self._recorded = {}
        changed = sorted({key.split("|")[1] for key in unused} & self._new_operations)
        if not changed:
            # steps the handler skipped this time (its own state said they were done): nothing was made twice
            log.debug(
                "[%s] %s: %d recorded step(s) not needed again", self._event.id, self._handler, len(unused)
            )
            return
        self._shared.counters.mismatched += len(unused)
        log.warning(
            "[%s] %s: recorded step(s) of %s were not made again on this attempt, and other calls of the same"
            " operation(s) were made instead: the handler's arguments changed between attempts - keep values such as"
            " timestamps in the event or in ctx.state so a re-run makes the same calls",
            self._event.id,
            self._handler,
            ", ".join(changed),
        )

    async def step(
        self, name: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], reconcile: Any
    ) -> Any:
        """`ctx.step(name, fn, *args, **kwargs)`: `fn` run once in effect, its JSON result recorded."""

        async def perform() -> Any:
            result = await call(fn, *args, **kwargs)
            try:
                jsoncodec.dumps(result)
            except TypeError as error:
                raise TypeError(
                    f"ctx.step({name!r}): the result of {getattr(fn, '__qualname__', fn)!r} must be JSON (a str,"
                    f" number, bool, None, list or dict) to be recorded: {error}"
                ) from None
            return result

        readback = None if reconcile is None else functools.partial(call, reconcile)

        kind = _Operation(f"step:{name}", _identity, _identity)
        return await self.run(_Step(kind, None, {"args": args, "kwargs": kwargs}, perform, readback))


def _identity(value: T) -> T:
    return value


def _members(members: Iterable[str | int]) -> tuple[Any, ...] | Any:
    """Members as given, read once (a one-shot iterator is kept for the call); a string stays (it is invalid)."""
    if isinstance(members, str | bytes) or not isinstance(members, Iterable):
        return members
    return tuple(members)


def _member_strings(members: Any) -> tuple[str, ...]:
    if isinstance(members, tuple):
        return tuple(str(member) for member in members)
    return ()


class JournaledProvider:
    """An adapter as a handler sees it through `ctx.chats`: its effects are steps, its reads go straight through.

    Every other attribute (`client`, `capabilities`, adapter-specific helpers) is the adapter's own.
    """

    def __init__(self, provider: ChatProvider, journal: StepJournal, adapter: str) -> None:
        self._provider = provider
        self._journal = journal
        self._adapter = adapter
        """The name the handler looked it up by (`[adapters.NAME]`): its steps and its in-doubt policy go by it."""
        self.name = provider.name
        self.capabilities = provider.capabilities

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._provider, attribute)

    # `isinstance(ctx.chats["x"], PopsellProvider)` keeps working in plugins that check which adapter they got
    # (as unittest.mock's spec does); `type()` still tells the truth.
    @property  # type: ignore[misc]
    def __class__(self) -> type[Any]:
        return self._provider.__class__  # type: ignore[no-any-return]  # through a wrapper that does the same

    def __repr__(self) -> str:
        return f"<journaled {self._provider!r}>"

    @property
    def adapter(self) -> ChatProvider:
        """The adapter itself: calls on it are not steps."""
        return self._provider

    def _readback(self) -> ReadBack | None:
        # not isinstance(provider, ReadBack): a runtime protocol check costs tens of microseconds per call
        provider = self._provider
        return provider if isinstance(getattr(provider, "readback", None), frozenset) else None  # type: ignore[return-value]

    async def create_chat(self, name: str | None, members: Iterable[str | int], **options: Any) -> Chat:
        given = _members(members)
        readback = self._readback()
        find = None
        if readback is not None and Capability.CREATE_CHAT in readback.readback:

            def find(since: datetime) -> Awaitable[Chat | None]:
                return readback.find_chat(name, _member_strings(given), since, **options)

        fixed = isinstance(given, tuple) and all(type(value) in _SCALARS for value in options.values())
        return await self._journal.run(  # type: ignore[no-any-return]
            _Step(
                _CREATE_CHAT_FIXED if fixed else _CREATE_CHAT,
                self._adapter,
                [name, _member_strings(given) if isinstance(given, tuple) else given, options],
                lambda: self._provider.create_chat(name, given, **options),
                find,
            )
        )

    async def rename_chat(self, chat_id: str | int, name: str) -> Chat:
        return await self._journal.run(  # type: ignore[no-any-return]
            _Step(
                _RENAME_CHAT,
                self._adapter,
                [str(chat_id), name],
                lambda: self._provider.rename_chat(chat_id, name),
            )
        )

    async def set_members(self, chat_id: str | int, members: Iterable[str | int]) -> Chat:
        given = _members(members)
        checked = isinstance(given, tuple)
        return await self._journal.run(  # type: ignore[no-any-return]
            _Step(
                _SET_MEMBERS if checked else _SET_MEMBERS_UNCHECKED,
                self._adapter,
                [str(chat_id), _member_strings(given) if checked else given],
                lambda: self._provider.set_members(chat_id, given),
            )
        )

    async def post_message(self, chat_id: str | int, text: str) -> Message:
        readback = self._readback()
        find = None
        if readback is not None and Capability.POST_MESSAGE in readback.readback:

            def find(since: datetime) -> Awaitable[Message | None]:
                return readback.find_message(str(chat_id), text, since)

        return await self._journal.run(  # type: ignore[no-any-return]
            _Step(
                _POST_MESSAGE,
                self._adapter,
                [str(chat_id), text],
                lambda: self._provider.post_message(chat_id, text),
                find,
            )
        )

    async def delete_chat(self, chat_id: str | int) -> None:
        await self._journal.run(
            _Step(_DELETE_CHAT, self._adapter, [str(chat_id)], lambda: self._provider.delete_chat(chat_id))
        )

    async def get_chat(self, chat_id: str | int) -> Chat:
        return await self._provider.get_chat(chat_id)

    def list_chats(self) -> AsyncIterator[Chat]:
        return self._provider.list_chats()

    def list_messages(self, chat_id: str | int) -> AsyncIterator[Message]:
        return self._provider.list_messages(chat_id)

    async def close(self) -> None:
        await self._provider.close()


class JournaledChats(Mapping[str, ChatProvider]):
    """`ctx.chats` inside a handler: the configured adapters, each call of theirs a step of this journal."""

    def __init__(self, providers: Mapping[str, ChatProvider], journal: StepJournal) -> None:
        self._providers = providers
        self._journal = journal
        self._wrapped: dict[str, JournaledProvider] = {}

    def __getitem__(self, name: str) -> ChatProvider:
        wrapped = self._wrapped.get(name)
        if wrapped is None:
            wrapped = self._wrapped[name] = JournaledProvider(self._providers[name], self._journal, name)
        return wrapped  # type: ignore[return-value]

    def __iter__(self) -> Iterator[str]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)


@attrs.frozen
class Steps:
    """What a runtime's journals share: the store, the settings and the counters."""

    store: Store
    settings: StepSettings = StepSettings()
    counters: StepCounters = attrs.field(factory=StepCounters)

    def journal(self, event: Event, handler: str, *, delivery: Delivery = Delivery.FIRST) -> StepJournal:
        return StepJournal(self, event, handler, delivery)
