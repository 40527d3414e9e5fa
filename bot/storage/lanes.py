"""Chat lanes in Redis (see core.lanes): a sorted set of job ids per lane (score: update id), a hash
per job, a lock per lane and a set of lanes that hold jobs. Each state change is one Lua script, so
replicas racing on a lane see it either before or after, never half-changed — in particular a job
enqueued while the lock holder is releasing an empty lane either keeps the holder working or gets the
lock itself.

A finished job leaves a small tombstone (`done`) for a day, so a redelivered update is not answered
twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import redis.asyncio as aioredis

from bot.core.lanes import Claim, LaneJob, NewJob, Release, Submitted
from bot.storage.keys import ActiveLanesKey, LaneJobKey, LaneJobsKey, LaneLockKey, Namespace
from bot.storage.redis_typing import awaited, text_of

# A job nobody finished within a day is dropped (its lane moves on); tombstones live as long.
JOB_TTL_S = 24 * 3600

_ENQUEUE = """
-- KEYS: jobs zset, job hash, active lanes set, lock
-- ARGV: job id, order, kind, payload, max jobs, owner, lock ms, lane, job ttl s,
--       member ('' for none), max jobs of one member (0: no limit), job key prefix
-- → {status, locked}: status 0 duplicate, 1 accepted, 2 lane full, 3 the member's share is full
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {0, 0}
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[5]) then
  return {2, 0}
end
local score = tonumber(ARGV[2])
if ARGV[10] ~= '' then
  -- Fair turns: a member's k-th job in the lane goes after every other member's earlier ones.
  local mine = 0
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if redis.call('HGET', ARGV[12] .. id, 'member') == ARGV[10] then mine = mine + 1 end
  end
  if tonumber(ARGV[11]) > 0 and mine >= tonumber(ARGV[11]) then
    return {3, 0}
  end
  if score < 9007199254740992 then score = score + mine * 1099511627776 end
end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('HSET', KEYS[2], 'kind', ARGV[3], 'payload', ARGV[4], 'order', ARGV[2],
           'enqueued_ms', now_ms, 'attempt', 0, 'member', ARGV[10])
redis.call('EXPIRE', KEYS[2], ARGV[9])
redis.call('ZADD', KEYS[1], string.format('%.0f', score), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[9])
redis.call('SADD', KEYS[3], ARGV[8])
local locked = redis.call('SET', KEYS[4], ARGV[6], 'NX', 'PX', ARGV[7])
if locked then return {1, 1} end
return {1, 0}
"""

_NEXT = """
-- KEYS: jobs zset, lock, active lanes set
-- ARGV: job key prefix, owner, grace ms, done job id ('' for none), tombstone ttl s, lane
-- → {'lost'} | {'released'} | {'wait', ms} | {'job', id, hash fields...}
if ARGV[4] ~= '' then
  redis.call('ZREM', KEYS[1], ARGV[4])
  local done_key = ARGV[1] .. ARGV[4]
  redis.call('DEL', done_key)
  redis.call('HSET', done_key, 'done', 1)
  redis.call('EXPIRE', done_key, ARGV[5])
end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return {'lost'} end
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)
  if #head == 0 then
    redis.call('DEL', KEYS[2])
    redis.call('SREM', KEYS[3], ARGV[6])
    return {'released'}
  end
  local key = ARGV[1] .. head[1]
  if redis.call('HEXISTS', key, 'payload') == 0 then
    -- expired or already finished: skip it
    redis.call('ZREM', KEYS[1], head[1])
  else
    local attempt = tonumber(redis.call('HGET', key, 'attempt'))
    if attempt == 0 then
      local now = redis.call('TIME')
      local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
      local age = now_ms - tonumber(redis.call('HGET', key, 'enqueued_ms'))
      if age < tonumber(ARGV[3]) then return {'wait', tostring(tonumber(ARGV[3]) - age)} end
    end
    redis.call('HINCRBY', key, 'attempt', 1)
    local fields = redis.call('HGETALL', key)
    table.insert(fields, 1, head[1])
    table.insert(fields, 1, 'job')
    return fields
  end
end
"""

_COMPLETE = """
-- KEYS: jobs zset, job hash; ARGV: job id, tombstone ttl s
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'done', 1)
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_EXTEND = """
-- KEYS: locks; ARGV: ms, then one token per lock → one 1/0 per lock.
-- A lock that lapsed (a stalled heartbeat) but that nobody took meanwhile is taken back.
local kept = {}
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if holder == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
    kept[i] = 1
  elseif not holder then
    redis.call('SET', key, ARGV[i + 1], 'PX', ARGV[1])
    kept[i] = 1
  else
    kept[i] = 0
  end
end
return kept
"""

_ACQUIRE = """
-- KEYS: lock 1, jobs 1, lock 2, jobs 2, ..., active lanes set; ARGV: owner, ms, lane 1, lane 2, ...
-- → one 1/0 per lane. Only lanes that still hold jobs: one emptied since it was listed needs
-- nobody, and leaves the set unless someone holds its lock (and will release it).
local got = {}
for i = 1, #KEYS - 1, 2 do
  local ok = 0
  if redis.call('ZCARD', KEYS[i + 1]) > 0 then
    if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ARGV[2]) then ok = 1 end
  elseif redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('SREM', KEYS[#KEYS], ARGV[2 + (i + 1) / 2])
  end
  table.insert(got, ok)
end
return got
"""


class RedisLaneStore:
    def __init__(
        self, redis: aioredis.Redis, ns: Namespace, *, heartbeat_redis: aioredis.Redis | None = None
    ) -> None:
        """`heartbeat_redis`: a client of its own for lock heartbeats, so that they never queue
        behind a busy pool (a late heartbeat lets locks lapse)."""
        self._redis = redis
        self._ns = ns
        self._enqueue = redis.register_script(_ENQUEUE)
        self._next = redis.register_script(_NEXT)
        self._complete = redis.register_script(_COMPLETE)
        self._release = redis.register_script(_RELEASE)
        self._extend = (heartbeat_redis or redis).register_script(_EXTEND)
        self._acquire = redis.register_script(_ACQUIRE)

    def _job_key(self, job_id: str) -> str:
        return str(LaneJobKey(self._ns, job_id))

    async def enqueue(
        self,
        lane: str,
        job: NewJob,
        *,
        max_jobs: int,
        owner: str,
        lock_seconds: float,
        max_member_jobs: int = 0,
    ) -> tuple[Submitted, bool]:
        status, locked = await self._enqueue(
            keys=[
                str(LaneJobsKey(self._ns, lane)),
                self._job_key(job.job_id),
                str(ActiveLanesKey(self._ns)),
                str(LaneLockKey(self._ns, lane)),
            ],
            args=[
                job.job_id,
                job.order,
                job.kind,
                json.dumps(job.payload, ensure_ascii=False),
                max_jobs,
                owner,
                int(lock_seconds * 1000),
                lane,
                JOB_TTL_S,
                job.member or "",
                max_member_jobs,
                self._job_key(""),
            ],
        )
        result = {
            0: Submitted.DUPLICATE,
            1: Submitted.ACCEPTED,
            2: Submitted.FULL,
            3: Submitted.MEMBER_FULL,
        }[int(status)]
        return result, bool(locked)

    async def next(self, lane: str, owner: str, *, done: str | None, order_grace: float) -> Claim:
        reply = await self._next(
            keys=[
                str(LaneJobsKey(self._ns, lane)),
                str(LaneLockKey(self._ns, lane)),
                str(ActiveLanesKey(self._ns)),
            ],
            args=[self._job_key(""), owner, int(order_grace * 1000), done or "", JOB_TTL_S, lane],
        )
        tag = text_of(reply[0])
        if tag == "lost":
            return Claim(None, ended=Release.LOST)
        if tag == "released":
            return Claim(None, ended=Release.RELEASED)
        if tag == "wait":
            return Claim(None, wait=max(0.001, int(text_of(reply[1])) / 1000))
        job_id = text_of(reply[1])
        flat = [text_of(v) for v in reply[2:]]
        fields = dict(zip(flat[0::2], flat[1::2], strict=True))
        messages = tuple(sorted(int(name[4:]) for name in fields if name.startswith("msg:")))
        return Claim(
            LaneJob(
                lane=lane,
                job_id=job_id,
                kind=fields["kind"],
                payload=json.loads(fields["payload"]),
                order=int(fields["order"]),
                attempt=int(fields["attempt"]),
                messages=messages,
                finished="finished" in fields,
                sending="sending" in fields,
            )
        )

    async def complete(self, lane: str, job_id: str) -> None:
        await self._complete(
            keys=[str(LaneJobsKey(self._ns, lane)), self._job_key(job_id)], args=[job_id, JOB_TTL_S]
        )

    async def release(self, lane: str, owner: str) -> None:
        await self._release(keys=[str(LaneLockKey(self._ns, lane))], args=[owner])

    async def extend(self, locks: Mapping[str, str], lock_seconds: float) -> list[bool]:
        kept = await self._extend(
            keys=[str(LaneLockKey(self._ns, lane)) for lane in locks],
            args=[int(lock_seconds * 1000), *locks.values()],
        )
        return [bool(k) for k in kept]

    async def acquire_orphans(self, owner: str, lock_seconds: float, skip: set[str]) -> list[str]:
        candidates: list[str] = []
        async for raw in self._redis.sscan_iter(str(ActiveLanesKey(self._ns)), count=500):
            lane = text_of(raw)
            if lane not in skip:
                candidates.append(lane)
        acquired: list[str] = []
        for start in range(0, len(candidates), 200):
            batch = candidates[start : start + 200]
            got = await self._acquire(
                keys=[
                    *(
                        str(key)
                        for lane in batch
                        for key in (LaneLockKey(self._ns, lane), LaneJobsKey(self._ns, lane))
                    ),
                    str(ActiveLanesKey(self._ns)),
                ],
                args=[owner, int(lock_seconds * 1000), *batch],
            )
            acquired.extend(lane for lane, ok in zip(batch, got, strict=True) if ok)
        return acquired

    # -- progress of a running job (core.lanes.JobProgress) -----------------------------------

    async def message_sending(self, job_id: str) -> None:
        await awaited(self._redis.hset(self._job_key(job_id), "sending", "1"))

    async def message_shown(self, job_id: str, message_id: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._job_key(job_id), f"msg:{message_id}", "1")
            pipe.hdel(self._job_key(job_id), "sending")
            await pipe.execute()

    async def message_unsent(self, job_id: str) -> None:
        await awaited(self._redis.hdel(self._job_key(job_id), "sending"))

    async def finished(self, job_id: str) -> None:
        await awaited(self._redis.hset(self._job_key(job_id), "finished", "1"))
