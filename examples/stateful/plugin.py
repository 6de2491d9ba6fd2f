"""Alerts: count every alert per key, but notify only once per key until it is resolved.

`ctx.state` is a small JSON key-value store of the plugin's own, kept in the same store as the inbox, so it
survives restarts and is shared by replicas on the same store.
"""

from framework import Context, Event, Plugin

plugin = Plugin("alerts")

RENOTIFY_AFTER = 3600.0
"""Seconds after which an alert that is still open is notified again (its `open:` key expires)."""
WEEK = 7 * 24 * 3600.0


@plugin.on("alert.raised")
async def raised(event: Event, ctx: Context) -> None:
    key = str(event.data["key"])

    # Delivery is at-least-once: a retried event must not be counted twice, so remember what was counted.
    count: int = await ctx.state.get(f"count:{key}", 0)
    if not await ctx.state.get(f"counted:{event.id}"):
        count += 1
        await ctx.state.set(f"count:{key}", count)
        await ctx.state.set(f"counted:{event.id}", True, ttl=WEEK)

    if await ctx.state.get(f"open:{key}"):
        ctx.log.info("alert %s again (%d in all); already notified", key, count)
        return
    await ctx.state.set(f"open:{key}", event.id, ttl=RENOTIFY_AFTER)
    ctx.log.info("alert %s raised: notifying (in a real bot: post to a chat)", key)


@plugin.on("alert.resolved")
async def resolved(event: Event, ctx: Context) -> None:
    key = str(event.data["key"])
    if await ctx.state.delete(f"open:{key}"):
        ctx.log.info("alert %s resolved", key)
