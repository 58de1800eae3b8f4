# The common client scenario through redis-rb (Debian's ruby-redis). usage: ruby redis_rb.rb PORT
# redis-rb sends command names in lowercase, which is why needletail's lookup is case-insensitive.
require 'redis'

port = Integer(ARGV[0])
$stdout.sync = true
def show(label, value) = puts("#{label}: #{value.inspect}")
def error_of
  "no error: #{yield.inspect}"
rescue Redis::BaseError => e
  "#{e.class}: #{e.message}"
end

r = Redis.new(port: port)
show 'ping', r.ping
show 'flushall', r.flushall

show 'set', r.set('foo', 'bar')
show 'get', r.get('foo')
show 'get missing', r.get('missing')
show 'set nx on existing', r.set('foo', 'x', nx: true)
show 'incr', Array.new(3) { r.incr('counter') }
show 'incrby', r.incrby('counter', 10)
show 'incrbyfloat', [r.incrbyfloat('fl', 0.1), r.incrbyfloat('fl', 0.1)]
show 'mset', r.mset('a', '1', 'b', '2', 'c', '3')
show 'mget', r.mget('a', 'b', 'missing', 'c')

results = r.pipelined do |pipe|
  100.times { |i| i.even? ? pipe.set("p:#{i}", i) : pipe.incr('pcounter') }
end
show 'pipeline count', results.size
show 'pipeline results', results
show 'pipeline check', [r.get('p:98'), r.get('pcounter')]

info = r.info # redis-rb parses INFO into a Hash of strings
show 'info type', info.class
%w[redis_mode role loading arch_bits maxmemory maxmemory_policy connected_slaves].each { |f| show "info #{f}", info[f] }
%w[redis_version process_id uptime_in_seconds used_memory total_commands_processed keyspace_hits].each do |f|
  show "info #{f} present", info.key?(f)
end
show 'info tcp_port is our port', info['tcp_port'] == port.to_s
show 'info db0', info['db0'].sub(/,avg_ttl=\d+/, '')
show 'info keyspace', r.info('keyspace').transform_values { |v| v.sub(/,avg_ttl=\d+/, '') }
show 'dbsize', r.dbsize

show 'zadd', r.zadd('z', [[1, 'a'], [2, 'b'], [3.5, 'c'], [-1, 'd']])
show 'zrange withscores', r.zrange('z', 0, -1, with_scores: true)
show 'zrevrange withscores', r.zrevrange('z', 0, 1, withscores: true)
show 'zscore', r.zscore('z', 'c')
show 'zrangebyscore', r.zrangebyscore('z', 1, '+inf', with_scores: true)
show 'zincrby', r.zincrby('z', 0.5, 'a')
show 'zcard', r.zcard('z')

r.set('notanumber', 'abc')
show 'incr error', error_of { r.incr('notanumber') }
show 'wrongtype error', error_of { r.get('z') }
show 'unknown command', error_of { r.call('NOSUCHCOMMAND', 'x') }
show 'arity error', error_of { r.call('GET') }
show 'syntax error', error_of { r.call('SET', 'k', 'v', 'BOGUS') }
show 'error inside pipeline', error_of { r.pipelined { |p| p.set('x', 1); p.incr('notanumber'); p.get('x') } }

r.set('e', 'v')
show 'expire', r.expire('e', 100)
show 'ttl', r.ttl('e')
show 'ttl no expiry', r.ttl('foo')
show 'ttl missing', r.ttl('missing')
show 'persist', r.persist('e')
show 'set ex', r.set('e2', 'v', ex: 50)
show 'ttl after set ex', r.ttl('e2')

blob = (0..255).map(&:chr).join.b + "\r\n\0end\r\n".b
key = "bin\0key\r\n".b
show 'binary set', r.set(key, blob)
show 'binary get equal', r.get(key).b == blob
show 'binary strlen', r.strlen(key)
show 'binary append', r.append(key, "\0\xff".b)
show 'binary getrange', r.getrange(key, -4, -1).b

# Hashes (a small listpack keeps insertion order in both servers; big ones and sets are sorted)
show 'hset', r.hset('h', 'name', 'ann', 'age', '31', 'city', 'Oslo')
show 'hset one', r.hset('h', 'age', '32')
show 'hgetall', r.hgetall('h')
show 'hget/hmget', [r.hget('h', 'name'), r.hmget('h', 'city', 'missing', 'name')]
show 'hincrby', [r.hincrby('h', 'age', 5), r.hincrby('h', 'visits', -2)]
show 'hincrbyfloat', r.hincrbyfloat('h', 'age', 0.25)
show 'hlen/hexists/hdel', [r.hlen('h'), r.hexists('h', 'city'), r.hdel('h', 'city'), r.hexists('h', 'city')]
r.mapped_hmset('hbig', (0...300).to_h { |i| ["field:#{i}", i.to_s] })
show 'hscan_each big', r.hscan_each('hbig', match: 'field:1?', count: 20).to_a.sort
show 'hscan small', r.hscan('h', 0)
show 'hincrby error', error_of { r.hincrby('h', 'name', 1) }

# Sets
show 'sadd ints', r.sadd('si', [5, 3, 10, 1, -7])
show 'smembers intset', r.smembers('si')
show 'sadd strings', [r.sadd('s1', %w[a b c d]), r.sadd('s2', %w[c d e])]
show 'smembers', r.smembers('s1').sort
show 'sinter/sunion/sdiff', [r.sinter('s1', 's2').sort, r.sunion('s1', 's2').sort, r.sdiff('s1', 's2').sort]
show 'sismember/scard', [r.sismember('s1', 'a'), r.sismember('s1', 'x'), r.scard('s1')]
show 'sinterstore', [r.sinterstore('s3', 's1', 's2'), r.smembers('s3').sort]
show 'srem/smove', [r.srem('s1', 'a'), r.smove('s1', 's2', 'b'), r.smembers('s2').sort]
r.sadd('sbig', (0...500).map { |i| "m#{i}" })
show 'sscan_each big', r.sscan_each('sbig', match: 'm1?', count: 50).to_a.sort

# Lists, LPOP with a count, BLPOP with a timeout
show 'rpush/lpush', [r.rpush('l', %w[a b c d e]), r.lpush('l', 'z')]
show 'lrange', r.lrange('l', 0, -1)
show 'lpop count', r.lpop('l', 2)
show 'rpop/llen/lindex', [r.rpop('l'), r.llen('l'), r.lindex('l', 1)]
show 'blpop served', r.blpop(['nolist', 'l'], timeout: 1)
show 'blpop timeout', r.blpop('nolist', timeout: 1)
show 'brpop served', r.brpop('l', timeout: 1)
show 'lset/linsert/lrem/ltrim', [r.lset('l', 0, 'x'), r.linsert('l', :after, 'x', 'y'), r.lrem('l', 0, 'y'), r.ltrim('l', 0, 0), r.lrange('l', 0, -1)]

# SORT
r.rpush('nums', [3, 1, 10, 2, -1, 2.5])
show 'sort', r.sort('nums')
show 'sort desc limit', r.sort('nums', order: 'desc', limit: [1, 3])
show 'sort alpha', r.sort('nums', order: 'alpha')
r.mset('w_3', 30, 'w_1', 10, 'w_10', 5, 'w_2', 20, 'w_-1', 100, 'w_2.5', 25)
r.hset('o_1', 'name', 'one')
show 'sort by get', r.sort('nums', by: 'w_*', get: ['#', 'w_*', 'o_*->name'])
show 'sort by nosort', r.sort('nums', by: 'nosort')
show 'sort set', r.sort('si')
r.zadd('zs', [[1, 'b'], [2, 'a'], [3, 'c']])
show 'sort zset alpha desc', r.sort('zs', order: 'desc alpha')
show 'sort store', [r.sort('nums', store: 'sorted'), r.lrange('sorted', 0, -1)]
show 'sort wrongtype', error_of { r.sort('h') }
show 'sort non-numeric', error_of { r.sort('s2') }

show 'client setname', r.call('CLIENT', 'SETNAME', 'clients-test')
show 'client getname', r.call('CLIENT', 'GETNAME')
show 'exists', r.exists('foo', 'a', 'missing')
show 'type', [r.type('foo'), r.type('z'), r.type('missing')]
show 'del', r.del('foo', 'a', 'missing')
show 'final dbsize', r.dbsize
r.close
puts 'done'
