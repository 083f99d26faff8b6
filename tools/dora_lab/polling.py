# Waiting for a condition inside an asyncio loop, bounded (both interpreters).


async def until(pred, ms=3000):
    """Poll pred() every 10 ms inside an asyncio loop, for at most ms:
    True once it holds, else False."""
    from dora.compat import sleep_ms

    for _ in range(ms // 10):
        if pred():
            return True
        await sleep_ms(10)
    return False
