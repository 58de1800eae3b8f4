-- The common client scenario through redis-lua (Debian's lua-redis, over LuaSocket). usage: lua lua_redis.lua PORT
local redis = require('redis')
local port = tonumber(arg[1])

-- A deterministic rendering: tables with sorted keys, strings %q-quoted (binary shows as escapes).
local function render(v)
    if type(v) == 'table' then
        local keys = {}
        for k in pairs(v) do keys[#keys + 1] = k end
        table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
        local parts = {}
        for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. '=' .. render(v[k]) end
        return '{' .. table.concat(parts, ', ') .. '}'
    elseif type(v) == 'string' then
        return (string.format('%q', v):gsub('\r', '\\r'):gsub('\n', 'n'))
    end
    return tostring(v)
end
local function show(label, v) print(label .. ': ' .. render(v)) end
-- redis-lua raises a Lua error "redis error: <Redis's text>" for an error reply.
local function error_of(f)
    local ok, e = pcall(f)
    if ok then return 'no error: ' .. render(e) end
    return 'error: ' .. tostring(e):gsub('^.-redis error: ', 'redis error: ')
end

local r = redis.connect('127.0.0.1', port)
show('ping', r:ping())
show('flushall', r:flushall())

show('set', r:set('foo', 'bar'))
show('get', r:get('foo'))
show('get missing', r:get('missing'))
show('set nx on existing', r:set('foo', 'x', 'NX'))
show('incr', { r:incr('counter'), r:incr('counter'), r:incr('counter') })
show('incrby', r:incrby('counter', 10))
show('incrbyfloat', { r:incrbyfloat('fl', 0.1), r:incrbyfloat('fl', 0.1) })
show('mset', r:mset('a', '1', 'b', '2', 'c', '3'))
show('mget', { r:mget('a', 'b', 'missing', 'c') })

local results = r:pipeline(function(p)
    for i = 0, 99 do
        if i % 2 == 0 then p:set('p:' .. i, tostring(i)) else p:incr('pcounter') end
    end
end)
show('pipeline count', #results)
local flat = {}
for i, v in ipairs(results) do flat[i] = tostring(v) end
print('pipeline results: ' .. table.concat(flat, ' '))
show('pipeline check', { r:get('p:98'), r:get('pcounter') })

local info = r:info() -- parsed into sections of key -> value
show('info type', type(info))
show('info sections', (function() local s = {} for k in pairs(info) do s[#s + 1] = k end table.sort(s) return table.concat(s, ',') end)())
show('info server redis_mode', info.server.redis_mode)
show('info server arch_bits', info.server.arch_bits)
show('info replication role', info.replication.role)
show('info persistence loading', info.persistence.loading)
show('info memory maxmemory_policy', info.memory.maxmemory_policy)
show('info server redis_version present', info.server.redis_version ~= nil)
show('info stats total_commands_processed present', info.stats.total_commands_processed ~= nil)
show('info tcp_port is our port', info.server.tcp_port == tostring(port))
show('info keyspace has db0', info.keyspace.db0 ~= nil)
show('dbsize', r:dbsize())

show('zadd', r:zadd('z', 1, 'a', 2, 'b', 3.5, 'c', -1, 'd'))
show('zrange withscores', r:zrange('z', 0, -1, { withscores = true }))
show('zrangebyscore withscores', r:zrangebyscore('z', 1, '+inf', { withscores = true }))
show('zscore', r:zscore('z', 'c'))
show('zincrby', r:zincrby('z', 0.5, 'a'))
show('zcard', r:zcard('z'))

r:set('notanumber', 'abc')
show('incr error', error_of(function() return r:incr('notanumber') end))
show('wrongtype error', error_of(function() return r:get('z') end))
show('unknown command', error_of(function() return r:raw_cmd('NOSUCHCOMMAND x') end))
show('arity error', error_of(function() return r:get() end))
show('syntax error', error_of(function() return r:set('k', 'v', 'BOGUS') end))
-- An error reply inside a pipeline raises while the replies are read: the connection is then out of step,
-- so the rest runs on a new one.
show('error inside pipeline', error_of(function()
    return r:pipeline(function(p) p:set('x', '1'); p:incr('notanumber'); p:get('x') end)
end))
r = redis.connect('127.0.0.1', port)

r:set('e', 'v')
show('expire', r:expire('e', 100))
show('ttl', r:ttl('e'))
show('ttl no expiry', r:ttl('foo'))
show('ttl missing', r:ttl('missing'))
show('persist', r:persist('e'))
show('set ex', r:set('e2', 'v', 'EX', 50))
show('ttl after set ex', r:ttl('e2'))

local bytes = {}
for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
local blob = table.concat(bytes) .. '\r\n\0end\r\n'
local key = 'bin\0key\r\n'
show('binary set', r:set(key, blob))
show('binary get equal', r:get(key) == blob)
show('binary strlen', r:strlen(key))
show('binary append', r:append(key, '\0\255'))
show('binary getrange', r:getrange(key, -4, -1))

-- Hashes (a small listpack keeps insertion order in both servers; big ones and sets are sorted)
show('hset', { r:hset('h', 'name', 'ann'), r:hmset('h', { age = '31', city = 'Oslo' }), r:hset('h', 'age', '32') })
show('hgetall', r:hgetall('h'))
show('hget/hmget', { r:hget('h', 'name'), r:hmget('h', 'city', 'missing', 'name') })
show('hincrby', { r:hincrby('h', 'age', 5), r:hincrby('h', 'visits', -2) })
show('hincrbyfloat', r:hincrbyfloat('h', 'age', 0.25))
show('hlen/hexists/hdel', { r:hlen('h'), r:hexists('h', 'city'), r:hdel('h', 'city'), r:hexists('h', 'city') })
local big = {}
for i = 0, 299 do big['field:' .. i] = tostring(i) end
r:hmset('hbig', big)
-- A full scan by hand: {cursor, items} per call (redis-lua turns HSCAN's items into a field -> value table).
local function scan_all(command, key, match, count)
    local seen, cursor = {}, '0'
    repeat
        local reply = r[command](r, key, cursor, { match = match, count = count })
        cursor = reply[1]
        for k, v in pairs(reply[2]) do seen[#seen + 1] = command == 'hscan' and (k .. '=' .. v) or v end
    until cursor == '0'
    table.sort(seen)
    local unique = {}
    for i, v in ipairs(seen) do if v ~= seen[i - 1] then unique[#unique + 1] = v end end
    return unique
end
show('hscan big', scan_all('hscan', 'hbig', 'field:1?', 20))
show('hincrby error', error_of(function() return r:hincrby('h', 'name', 1) end))

-- Sets
local function sorted(t) table.sort(t) return t end
show('sadd ints', r:sadd('si', 5, 3, 10, 1, -7))
show('smembers intset', r:smembers('si'))
show('sadd strings', { r:sadd('s1', 'a', 'b', 'c', 'd'), r:sadd('s2', 'c', 'd', 'e') })
show('smembers', sorted(r:smembers('s1')))
show('sinter/sunion/sdiff', { sorted(r:sinter('s1', 's2')), sorted(r:sunion('s1', 's2')), sorted(r:sdiff('s1', 's2')) })
show('sismember/scard', { r:sismember('s1', 'a'), r:sismember('s1', 'x'), r:scard('s1') })
show('sinterstore', { r:sinterstore('s3', 's1', 's2'), sorted(r:smembers('s3')) })
show('srem/smove', { r:srem('s1', 'a'), r:smove('s1', 's2', 'b'), sorted(r:smembers('s2')) })
local members = {}
for i = 0, 499 do members[#members + 1] = 'm' .. i end
r:sadd('sbig', unpack(members))
show('sscan big', scan_all('sscan', 'sbig', 'm1?', 50))

-- Lists, LPOP with a count, BLPOP with a timeout
show('rpush/lpush', { r:rpush('l', 'a', 'b', 'c', 'd', 'e'), r:lpush('l', 'z') })
show('lrange', r:lrange('l', 0, -1))
show('lpop count', r:lpop('l', 2))
show('rpop/llen/lindex', { r:rpop('l'), r:llen('l'), r:lindex('l', 1) })
show('blpop served', r:blpop('nolist', 'l', 1))
show('blpop timeout', { r:blpop('nolist', 1) })
show('brpop served', r:brpop('l', 1))
show('lset/linsert/lrem/ltrim', { r:lset('l', 0, 'x'), r:linsert('l', 'AFTER', 'x', 'y'), r:lrem('l', 0, 'y'), r:ltrim('l', 0, 0), r:lrange('l', 0, -1) })

-- SORT
r:rpush('nums', 3, 1, 10, 2, -1, 2.5)
show('sort', r:sort('nums'))
show('sort desc limit', r:sort('nums', { sort = 'desc', limit = { 1, 3 } }))
show('sort alpha', r:sort('nums', { alpha = true }))
r:mset('w_3', 30, 'w_1', 10, 'w_10', 5, 'w_2', 20, 'w_-1', 100, 'w_2.5', 25)
r:hset('o_1', 'name', 'one')
show('sort by get', r:sort('nums', { by = 'w_*', get = { '#', 'w_*', 'o_*->name' } }))
show('sort by nosort', r:sort('nums', { by = 'nosort' }))
show('sort set', r:sort('si'))
r:zadd('zs', 1, 'b', 2, 'a', 3, 'c')
show('sort zset alpha desc', r:sort('zs', { alpha = true, sort = 'desc' }))
show('sort store', { r:sort('nums', { store = 'sorted' }), r:lrange('sorted', 0, -1) })
show('sort_ro', r:raw_cmd('SORT_RO nums LIMIT 0 2'))
show('sort wrongtype', error_of(function() return r:sort('h') end))
show('sort non-numeric', error_of(function() return r:sort('s2') end))

show('exists', r:exists('foo'))
show('type', { r:type('foo'), r:type('z'), r:type('missing') })
show('del', r:del('foo', 'a', 'missing'))
show('final dbsize', r:dbsize())
r:quit()
print('done')
