"""Redis-backed limits: the access-token denylist, per-tenant rate limits (GCRA) and
throttling of failed password attempts."""

from __future__ import annotations

import time

from kopru.errors import KopruError

# One round trip per authenticated request: the denylist, the cut-offs of the token's client
# and refresh family, and the tenant's GCRA.
# KEYS[1] deny key ("" for none), KEYS[2] rate key ("" for no limit), KEYS[3] the client's
# cut-off, KEYS[4] the refresh family's cut-off ("" for none);
# ARGV: emission interval (ms), burst tolerance (ms), now (ms), the token's iat (s).
# Returns {denied, allowed, retry_after_ms}.
_ADMIT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {1, 0, 0} end
for i = 3, 4 do
  if KEYS[i] ~= '' then
    local cut = redis.call('GET', KEYS[i])
    if cut and tonumber(cut) >= tonumber(ARGV[4]) then return {1, 0, 0} end
  end
end
if KEYS[2] == '' then return {0, 1, 0} end
local now = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[2]) or ARGV[3])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst - interval
if allow_at > now then return {0, 0, allow_at - now} end
redis.call('SET', KEYS[2], new_tat, 'PX', math.ceil(burst + interval))
return {0, 1, 0}
"""
_admit_script = None


def _script():
    global _admit_script
    from kopru.redis import client

    r = client()
    if _admit_script is None:
        _admit_script = r.register_script(_ADMIT)
    return _admit_script, r


def _gcra_args(per_minute: int) -> list:
    interval = 60_000 / per_minute
    burst = max(interval, interval * per_minute / 10)
    return [interval, burst, int(time.time() * 1000)]


async def admit(jti: str | None, tenant_id: str | None, per_minute: int | None, *, client_id: str | None = None,
                family_id: str | None = None, issued_at: int = 0) -> None:
    """Refuse a revoked token (401: itself on the denylist, or issued no later than its
    client's or its refresh family's revocation) or a tenant over its rate (429), in one
    round trip (GCRA: the generic cell rate algorithm, atomically in Redis)."""
    script, r = _script()
    rate_key = f"kopru:rl:{tenant_id}" if tenant_id and per_minute else ""
    keys = [_deny_key(jti) if jti else "", rate_key,
            _cutoff_key("client", client_id) if client_id else "", _cutoff_key("family", family_id) if family_id else ""]
    denied, allowed, retry_ms = await script(keys=keys, args=[*_gcra_args(per_minute or 1), issued_at], client=r)
    if denied:
        raise KopruError("auth.token_revoked")
    if not allowed:
        retry = max(1, int(-(-int(retry_ms) // 1000)))
        raise KopruError("auth.rate_limited", headers={"Retry-After": str(retry)})


def _deny_key(jti: str) -> str:
    return f"kopru:deny:{jti}"


def _cutoff_key(kind: str, ident: str) -> str:
    return f"kopru:cutoff:{kind}:{ident}"


async def cut_off(kind: str, ident: str) -> None:
    """Every access token of a revoked client (`kind` "client") or refresh family
    ("family") issued until now is refused from now on, for as long as any could live."""
    from kopru.config import settings
    from kopru.redis import client

    now = int(time.time())
    await client().set(_cutoff_key(kind, ident), now, ex=settings().access_token_ttl + 120)


async def deny(jti: str, expires_at: int) -> None:
    from kopru.redis import client

    ttl = max(1, expires_at - int(time.time()) + 60)  # + leeway: a token is refused as long as it could pass
    await client().set(_deny_key(jti), b"1", ex=ttl)


async def is_denied(jti: str) -> bool:
    from kopru.redis import client

    return bool(await client().exists(_deny_key(jti)))


async def check_rate(tenant_id: str, per_minute: int) -> None:
    """The rate limit alone (no token to check)."""
    await admit(None, tenant_id, per_minute)


# failed passwords: per user and per IP, in a sliding 15-minute window; failed client
# authentications per client id, in the same window
FAIL_WINDOW = 15 * 60
MAX_FAILS_USER = 5
MAX_FAILS_IP = 30
MAX_FAILS_CLIENT = 20


def client_key(client_id: str) -> str:
    """A client id as a throttle key: hashed (any text a caller sends ends up in Redis)."""
    import hashlib

    return "client:" + hashlib.blake2b(client_id.encode("utf-8", "replace"), digest_size=16).hexdigest()


async def login_blocked(user_key: str, ip: str | None, *, max_fails: int = MAX_FAILS_USER) -> int:
    """Seconds to wait before another attempt is allowed (0 when allowed)."""
    from kopru.redis import client

    r = client()
    keys = [f"kopru:fail:u:{user_key}"] + ([f"kopru:fail:ip:{ip}"] if ip else [])
    async with r.pipeline(transaction=False) as p:
        for k in keys:
            p.get(k)
            p.ttl(k)
        res = await p.execute()
    limits = [max_fails, MAX_FAILS_IP]
    wait = 0
    for i, _ in enumerate(keys):
        count, ttl = res[2 * i], res[2 * i + 1]
        if count is not None and int(count) >= limits[i]:
            wait = max(wait, int(ttl) if ttl and ttl > 0 else FAIL_WINDOW)
    return wait


async def record_login_failure(user_key: str, ip: str | None) -> None:
    from kopru.redis import client

    r = client()
    async with r.pipeline(transaction=True) as p:
        for k in [f"kopru:fail:u:{user_key}"] + ([f"kopru:fail:ip:{ip}"] if ip else []):
            p.set(k, 0, ex=FAIL_WINDOW, nx=True)  # the window starts at the first failure
            p.incr(k)
        await p.execute()


async def clear_login_failures(user_key: str) -> None:
    from kopru.redis import client

    await client().delete(f"kopru:fail:u:{user_key}")
