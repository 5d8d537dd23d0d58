//! The Redis store's Lua scripts: every operation that changes the spool is one script, so
//! Redis runs it as one atomic step (a record, its stream entry, its indexes and the counts
//! against the limits change together or not at all), and no two replicas interleave.
//!
//! Every script gets the key prefix as `ARGV[1]`; the keys under it are:
//!
//! - `d:<id>`: a delivery's hash: the record's fields, `state` (0 pending, 1 in flight,
//!   2 delivered, 3 dead), `attempts`, `next_at`, `updated_at`, `last_status`, `last_error`,
//!   `dead_reason`, `bytes`, `entry` (its stream entry's id, or empty when it is in none),
//!   `ordered` (whether the attempt under way was claimed by an ordered route);
//! - `s:<route>`: the route's stream of due deliveries (one field, `id`), with the consumer
//!   group `hookwall`; an entry read and not yet settled sits in the group's pending list;
//! - `w:<route>`: the route's deliveries waiting for a retry, scored by when it is due;
//! - `i:<state>:<route>`: each state's index of the route's deliveries, scored by when they
//!   were received (listings, counts);
//! - `done` and `dead`: delivered and dead deliveries scored by when they got there (the
//!   purge; `dead` is the dead-letter set);
//! - `routes`: every route that has had a delivery; `kept`: deliveries (`n`) and `bytes`
//!   kept against the limits (pending, in flight and dead).
//!
//! Numbers go into Redis as the strings they came in, never through Lua's doubles.

/// Key names and the steps the scripts share.
macro_rules! prelude {
    () => {
        r#"
local P, G = ARGV[1], 'hookwall'
local function dkey(id) return P .. 'd:' .. id end
local function skey(route) return P .. 's:' .. route end
local function wkey(route) return P .. 'w:' .. route end
local function ikey(state, route) return P .. 'i:' .. state .. ':' .. route end
local RECORD = {'id', 'route', 'method', 'target', 'headers', 'body', 'delivery_id',
  'replay_key', 'received_at', 'client', 'attempts'}
local SUMMARY = {'id', 'route', 'state', 'attempts', 'received_at', 'next_at', 'last_status',
  'last_error', 'delivery_id', 'bytes', 'dead_reason', 'updated_at'}

-- The route's stream, made with its consumer group when it is not there.
local function stream(route)
  local s = skey(route)
  if redis.call('EXISTS', s) == 0 then
    redis.call('XGROUP', 'CREATE', s, G, '0', 'MKSTREAM')
  end
  return s
end

-- Appends a delivery to its route's stream, due for any replica to read.
local function enqueue(route, id)
  local entry = redis.call('XADD', stream(route), '*', 'id', id)
  redis.call('HSET', dkey(id), 'entry', entry)
end

-- Takes an entry out of its stream and out of the group's pending list.
local function unqueue(route, entry)
  if entry and entry ~= '' then
    local s = skey(route)
    redis.call('XACK', s, G, entry)
    redis.call('XDEL', s, entry)
  end
end

local function reindex(route, id, from, to, received)
  redis.call('ZREM', ikey(from, route), id)
  redis.call('ZADD', ikey(to, route), received, id)
end

-- One delivery and its bytes fewer against the limits.
local function unkeep(bytes)
  redis.call('HINCRBY', P .. 'kept', 'n', -1)
  if bytes and bytes ~= '0' then
    redis.call('HINCRBY', P .. 'kept', 'bytes', '-' .. bytes)
  end
end

-- Each delivery's `names` fields, in order.
local function fields(ids, names)
  local out = {}
  for i, id in ipairs(ids) do out[i] = redis.call('HMGET', dkey(id), unpack(names)) end
  return out
end

-- A pending or dead delivery due now, back in its stream; 1 if there was one.
local function revive(id, now)
  local d = dkey(id)
  local h = redis.call('HMGET', d, 'state', 'route', 'entry', 'received_at')
  if h[1] == '3' then
    redis.call('ZREM', P .. 'dead', id)
    reindex(h[2], id, 3, 0, h[4])
    enqueue(h[2], id)
  elseif h[1] == '0' then
    if not h[3] or h[3] == '' then
      redis.call('ZREM', wkey(h[2]), id)
      enqueue(h[2], id)
    end
  else
    return 0
  end
  redis.call('HSET', d, 'state', 0, 'next_at', now, 'updated_at', now)
  redis.call('HDEL', d, 'dead_reason')
  return 1
end
"#
    };
}

/// What the two claims share: due retries join the stream, and an entry is taken.
macro_rules! claiming {
    () => {
        r#"
-- The route's retries that are due join its stream again (at most `limit` of them).
local function move_due(route, now, limit)
  local w = wkey(route)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', w, '-inf', now, 'LIMIT', 0, limit)) do
    redis.call('ZREM', w, id)
    enqueue(route, id)
  end
end

-- Takes stream entry `e` in flight, unless its delivery is gone, settled or queued
-- elsewhere (the entry is then dropped) or, with `check_due`, waits for a later retry.
local function take(route, e, now, check_due, ordered, taken)
  if type(e) ~= 'table' or type(e[2]) ~= 'table' then return end
  local entry, id = e[1], e[2][2]
  local h = {}
  if type(id) == 'string' then
    h = redis.call('HMGET', dkey(id), 'state', 'next_at', 'entry', 'received_at')
  end
  if (h[1] ~= '0' and h[1] ~= '1') or h[3] ~= entry then
    unqueue(route, entry)
    return
  end
  if h[1] == '0' and check_due and tonumber(h[2]) > tonumber(now) then return end
  redis.call('HINCRBY', dkey(id), 'attempts', 1)
  redis.call('HSET', dkey(id), 'state', 1, 'updated_at', now, 'ordered', ordered)
  if h[1] == '0' then reindex(route, id, 0, 1, h[4]) end
  taken[#taken + 1] = id
end
"#
    };
}

/// `id route received_at size max_deliveries max_bytes field value…`: the record, its entry
/// and its indexes, or `full` (nothing written) when it would pass a limit.
pub const INSERT: &str = concat!(
    prelude!(),
    r#"
local id, route, received, size = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local d = dkey(id)
if redis.call('EXISTS', d) == 1 then return 'exists' end
local kept = redis.call('HMGET', P .. 'kept', 'n', 'bytes')
local n, bytes = tonumber(kept[1]) or 0, tonumber(kept[2]) or 0
if n + 1 > tonumber(ARGV[6]) or bytes + tonumber(size) > tonumber(ARGV[7]) then
  return 'full'
end
redis.call('HSET', d, 'id', id, 'route', route, 'state', 0, 'attempts', 0,
  'received_at', received, 'next_at', received, 'updated_at', received, 'bytes', size,
  unpack(ARGV, 8))
enqueue(route, id)
redis.call('ZADD', ikey(0, route), received, id)
redis.call('SADD', P .. 'routes', route)
redis.call('HINCRBY', P .. 'kept', 'n', 1)
redis.call('HINCRBY', P .. 'kept', 'bytes', size)
return 'ok'
"#
);

/// `route now limit consumer claim_after_ms`: up to `limit` deliveries in flight: attempts a
/// crashed replica left (idle past `claim_after`, by `XAUTOCLAIM`), then new entries (by
/// `XREADGROUP`), after due retries joined the stream. Each record's fields.
pub const CLAIM: &str = concat!(
    prelude!(),
    claiming!(),
    r#"
local route, now, limit, me = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local s = skey(route)
if limit < 1 or redis.call('EXISTS', s) == 0 then return {} end
move_due(route, now, limit)
local taken = {}
local left = redis.call('XAUTOCLAIM', s, G, me, ARGV[6], '0-0', 'COUNT', limit)
for _, e in ipairs(left[2]) do take(route, e, now, true, '0', taken) end
if #taken < limit then
  local new = redis.call('XREADGROUP', 'GROUP', G, me, 'COUNT', limit - #taken, 'STREAMS', s, '>')
  if new then
    for _, e in ipairs(new[1][2]) do take(route, e, now, false, '0', taken) end
  end
end
return fields(taken, RECORD)
"#
);

/// `route now - consumer claim_after_ms`: an ordered route's head, alone: the oldest entry in
/// the group's pending list (a failed head waits there for its retry; one in flight is taken
/// over only when idle past `claim_after`), else the next new entry once that list is empty.
pub const CLAIM_ORDERED: &str = concat!(
    prelude!(),
    claiming!(),
    r#"
local route, now, me, idle = ARGV[2], ARGV[3], ARGV[5], tonumber(ARGV[6])
local s = skey(route)
if redis.call('EXISTS', s) == 0 then return {} end
move_due(route, now, 100)
local taken = {}
local function head()
  local p = redis.call('XPENDING', s, G, '-', '+', 1)[1]
  if not p then return 'none' end
  local entry = p[1]
  local e = redis.call('XRANGE', s, entry, entry)[1]
  local id = e and e[2][2]
  local h = {}
  if type(id) == 'string' then h = redis.call('HMGET', dkey(id), 'state', 'next_at', 'entry') end
  if (h[1] ~= '0' and h[1] ~= '1') or h[3] ~= entry then
    unqueue(route, entry)
    return 'stale'
  end
  if h[1] == '1' and p[3] < idle then return 'busy' end
  if h[1] == '0' and tonumber(h[2]) > tonumber(now) then return 'waiting' end
  redis.call('XCLAIM', s, G, me, 0, entry)
  take(route, e, now, false, '1', taken)
  return 'taken'
end
local found = 'stale'
for _ = 1, 16 do
  found = head()
  if found ~= 'stale' then break end
end
if found == 'none' then
  local new = redis.call('XREADGROUP', 'GROUP', G, me, 'COUNT', 1, 'STREAMS', s, '>')
  if new then take(route, new[1][2][1], now, false, '1', taken) end
end
return fields(taken, RECORD)
"#
);

/// `route`: when the route's next pending delivery is due (its waiting retries, the first
/// entry no replica has read, the head of the pending list), or nil.
pub const NEXT_DUE: &str = concat!(
    prelude!(),
    r#"
local route = ARGV[2]
local s = skey(route)
local best = nil
local function consider(id)
  local h = redis.call('HMGET', dkey(id), 'state', 'next_at')
  local at = tonumber(h[2])
  if h[1] == '0' and at and (not best or at < best) then best = at end
end
local w = redis.call('ZRANGE', wkey(route), 0, 0, 'WITHSCORES')
if w[2] then best = tonumber(w[2]) end
if redis.call('EXISTS', s) == 1 then
  local last = '0-0'
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', s)) do
    local info = {}
    for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
    if info['name'] == G then last = info['last-delivered-id'] end
  end
  local unread = redis.call('XRANGE', s, '(' .. last, '+', 'COUNT', 1)[1]
  if unread then consider(unread[2][2]) end
  local p = redis.call('XPENDING', s, G, '-', '+', 1)[1]
  local e = p and redis.call('XRANGE', s, p[1], p[1])[1]
  if e then consider(e[2][2]) end
end
return best
"#
);

/// `id kind now status error retry_at reason`, `kind` one of `delivered`, `retry`, `dead`,
/// and empty `status` or `error` for none: what an attempt came to. Delivered drops the body
/// and headers and frees their room; a retry of an ordered route's head keeps its entry in
/// the pending list (so it stays the head), any other waits in `w:<route>`.
pub const SETTLE: &str = concat!(
    prelude!(),
    r#"
local id, kind, now, status, err = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local d = dkey(id)
local h = redis.call('HMGET', d, 'state', 'route', 'entry', 'received_at', 'bytes', 'ordered')
local state, route = h[1], h[2]
local function put(field, value)
  if value == '' then redis.call('HDEL', d, field) else redis.call('HSET', d, field, value) end
end
if kind == 'delivered' and state == '1' then
  unqueue(route, h[3])
  redis.call('HDEL', d, 'headers', 'body', 'last_error')
  redis.call('HSET', d, 'state', 2, 'updated_at', now, 'entry', '')
  put('last_status', status)
  reindex(route, id, 1, 2, h[4])
  redis.call('ZADD', P .. 'done', now, id)
  unkeep(h[5])
elseif kind == 'retry' and state == '1' then
  redis.call('HSET', d, 'state', 0, 'next_at', ARGV[7], 'updated_at', now)
  put('last_status', status)
  put('last_error', err)
  if h[6] ~= '1' then
    unqueue(route, h[3])
    redis.call('HSET', d, 'entry', '')
    redis.call('ZADD', wkey(route), ARGV[7], id)
  end
  reindex(route, id, 1, 0, h[4])
elseif kind == 'dead' and (state == '0' or state == '1') then
  unqueue(route, h[3])
  redis.call('ZREM', wkey(route), id)
  redis.call('HSET', d, 'state', 3, 'dead_reason', ARGV[8], 'updated_at', now, 'entry', '')
  if status ~= '' then redis.call('HSET', d, 'last_status', status) end
  if err ~= '' then redis.call('HSET', d, 'last_error', err) end
  reindex(route, id, state, 3, h[4])
  redis.call('ZADD', P .. 'dead', now, id)
end
return 1
"#
);

/// `id`: the delivery's summary fields, all nil when there is no such delivery.
pub const GET: &str = concat!(prelude!(), "\nreturn fields({ARGV[2]}, SUMMARY)[1]\n");

/// `state route limit` (empty for any): up to `limit` summaries, newest received first.
pub const LIST: &str = concat!(
    prelude!(),
    r#"
local state, route, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
if limit < 1 then return {} end
local routes = {route}
if route == '' then routes = redis.call('SMEMBERS', P .. 'routes') end
local states = {state}
if state == '' then states = {'0', '1', '2', '3'} end
local found = {}
for _, r in ipairs(routes) do
  for _, st in ipairs(states) do
    local z = redis.call('ZREVRANGE', ikey(st, r), 0, limit - 1, 'WITHSCORES')
    for i = 1, #z, 2 do found[#found + 1] = {tonumber(z[i + 1]), z[i]} end
  end
end
table.sort(found, function(a, b)
  if a[1] ~= b[1] then return a[1] > b[1] end
  return a[2] > b[2]
end)
local ids = {}
for i = 1, math.min(limit, #found) do ids[i] = found[i][2] end
return fields(ids, SUMMARY)
"#
);

/// `id now`: a pending or dead delivery due now; 1 if there was one.
pub const RETRY: &str = concat!(prelude!(), "\nreturn revive(ARGV[2], ARGV[3])\n");

/// `route now`: every dead delivery of the route due now, oldest first; how many.
pub const REDRIVE: &str = concat!(
    prelude!(),
    r#"
local n = 0
for _, id in ipairs(redis.call('ZRANGE', ikey(3, ARGV[2]), 0, -1)) do
  n = n + revive(id, ARGV[3])
end
return n
"#
);

/// `id`: a pending or dead delivery removed, entry, indexes and all; 1 if there was one.
pub const REMOVE: &str = concat!(
    prelude!(),
    r#"
local id = ARGV[2]
local d = dkey(id)
local h = redis.call('HMGET', d, 'state', 'route', 'entry', 'bytes')
if h[1] ~= '0' and h[1] ~= '3' then return 0 end
unqueue(h[2], h[3])
redis.call('ZREM', wkey(h[2]), id)
redis.call('ZREM', ikey(h[1], h[2]), id)
redis.call('ZREM', P .. 'dead', id)
redis.call('DEL', d)
unkeep(h[4])
return 1
"#
);

/// Kept deliveries and bytes, then `route state count oldest_received` for every non-empty
/// index.
pub const COUNTS: &str = concat!(
    prelude!(),
    r#"
local kept = redis.call('HMGET', P .. 'kept', 'n', 'bytes')
local out = {tonumber(kept[1]) or 0, tonumber(kept[2]) or 0}
for _, r in ipairs(redis.call('SMEMBERS', P .. 'routes')) do
  for st = 0, 3 do
    local z = ikey(st, r)
    local n = redis.call('ZCARD', z)
    if n > 0 then
      local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
      out[#out + 1] = r
      out[#out + 1] = st
      out[#out + 1] = n
      out[#out + 1] = tonumber(first[2])
    end
  end
end
return out
"#
);

/// The routes with pending or in-flight deliveries.
pub const PENDING_ROUTES: &str = concat!(
    prelude!(),
    r#"
local out = {}
for _, r in ipairs(redis.call('SMEMBERS', P .. 'routes')) do
  if redis.call('ZCARD', ikey(0, r)) + redis.call('ZCARD', ikey(1, r)) > 0 then
    out[#out + 1] = r
  end
end
return out
"#
);

/// `delivered_before dead_before batch`: forgets up to `batch` delivered and `batch` dead
/// deliveries last changed before their time; {forgotten, 1 if there may be more}.
pub const PURGE: &str = concat!(
    prelude!(),
    r#"
local batch = tonumber(ARGV[4])
local purged, more = 0, 0
local function forget(set, before, state)
  local ids = redis.call('ZRANGEBYSCORE', P .. set, '-inf', '(' .. before, 'LIMIT', 0, batch)
  for _, id in ipairs(ids) do
    redis.call('ZREM', P .. set, id)
    local d = dkey(id)
    local h = redis.call('HMGET', d, 'state', 'route', 'bytes')
    if h[1] == state then
      redis.call('ZREM', ikey(state, h[2]), id)
      redis.call('DEL', d)
      if state == '3' then unkeep(h[3]) end
      purged = purged + 1
    end
  end
  if #ids >= batch then more = 1 end
end
forget('done', ARGV[2], '2')
forget('dead', ARGV[3], '3')
return {purged, more}
"#
);

/// `idle_ms consumer`: removes the group's consumers (other than `consumer`) that hold
/// nothing and have not asked for `idle_ms`: replicas that have gone; how many.
pub const FORGET_CONSUMERS: &str = concat!(
    prelude!(),
    r#"
local idle, me, n = tonumber(ARGV[2]), ARGV[3], 0
for _, r in ipairs(redis.call('SMEMBERS', P .. 'routes')) do
  local s = skey(r)
  if redis.call('EXISTS', s) == 1 then
    for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', s, G)) do
      local info = {}
      for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
      if info['pending'] == 0 and info['idle'] > idle and info['name'] ~= me then
        redis.call('XGROUP', 'DELCONSUMER', s, G, info['name'])
        n = n + 1
      end
    end
  end
end
return n
"#
);
