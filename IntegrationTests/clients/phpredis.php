<?php
// The common client scenario through phpredis (Debian's php-redis C extension). usage: php phpredis.php PORT
// phpredis does not throw on a command error: the call returns false and getLastError() holds Redis's text.
$port = (int)$argv[1];
function show(string $label, $value): void { echo $label, ': ', json_encode($value, JSON_INVALID_UTF8_SUBSTITUTE), "\n"; }
$hex = fn($s) => is_string($s) ? bin2hex($s) : $s;

$r = new Redis();
show('connect', $r->connect('127.0.0.1', $port));
show('ping', $r->ping());
show('flushall', $r->flushAll());

show('set', $r->set('foo', 'bar'));
show('get', $r->get('foo'));
show('get missing', $r->get('missing'));
show('set nx on existing', $r->set('foo', 'x', ['nx']));
show('incr', [$r->incr('counter'), $r->incr('counter'), $r->incr('counter')]);
show('incrby', $r->incrBy('counter', 10));
show('incrbyfloat', [$r->incrByFloat('fl', 0.1), $r->incrByFloat('fl', 0.1)]);
show('mset', $r->mSet(['a' => '1', 'b' => '2', 'c' => '3']));
show('mget', $r->mGet(['a', 'b', 'missing', 'c']));

$pipe = $r->multi(Redis::PIPELINE);
for ($i = 0; $i < 100; $i++) { $i % 2 == 0 ? $pipe->set("p:$i", (string)$i) : $pipe->incr('pcounter'); }
$results = $pipe->exec();
show('pipeline count', count($results));
show('pipeline results', $results);
show('pipeline check', [$r->get('p:98'), $r->get('pcounter')]);

$info = $r->info(); // phpredis parses INFO into an array
show('info type', gettype($info));
foreach (['redis_mode', 'role', 'loading', 'arch_bits', 'maxmemory', 'maxmemory_policy', 'connected_slaves'] as $f) show("info $f", $info[$f] ?? null);
foreach (['redis_version', 'process_id', 'uptime_in_seconds', 'used_memory', 'total_commands_processed', 'keyspace_hits'] as $f) show("info $f present", isset($info[$f]));
show('info tcp_port is our port', ($info['tcp_port'] ?? null) == $port);
show('info db0', preg_replace('/,avg_ttl=\d+/', '', $info['db0'] ?? ''));
show('info keyspace', array_map(fn($v) => preg_replace('/,avg_ttl=\d+/', '', $v), $r->info('keyspace')));
show('dbsize', $r->dbSize());

show('zadd', $r->zAdd('z', 1, 'a', 2, 'b', 3.5, 'c', -1, 'd'));
show('zrange withscores', $r->zRange('z', 0, -1, true));
show('zrevrange withscores', $r->zRevRange('z', 0, 1, true));
show('zscore', $r->zScore('z', 'c'));
show('zrangebyscore', $r->zRangeByScore('z', 1, '+inf', ['withscores' => true]));
show('zincrby', $r->zIncrBy('z', 0.5, 'a'));
show('zcard', $r->zCard('z'));

$r->set('notanumber', 'abc');
$errorOf = function ($result) use ($r) { $e = $r->getLastError(); $r->clearLastError(); return [$result, $e]; };
show('incr error', $errorOf($r->incr('notanumber')));
show('wrongtype error', $errorOf($r->get('z')));
show('unknown command', $errorOf($r->rawCommand('NOSUCHCOMMAND', 'x')));
show('arity error', $errorOf($r->rawCommand('GET')));
show('syntax error', $errorOf($r->rawCommand('SET', 'k', 'v', 'BOGUS')));
show('error inside pipeline', $errorOf($r->multi(Redis::PIPELINE)->set('x', '1')->incr('notanumber')->get('x')->exec()));

$r->set('e', 'v');
show('expire', $r->expire('e', 100));
show('ttl', $r->ttl('e'));
show('ttl no expiry', $r->ttl('foo'));
show('ttl missing', $r->ttl('missing'));
show('persist', $r->persist('e'));
show('set ex', $r->set('e2', 'v', ['ex' => 50]));
show('ttl after set ex', $r->ttl('e2'));

$blob = implode('', array_map('chr', range(0, 255))) . "\r\n\0end\r\n";
$key = "bin\0key\r\n";
show('binary set', $r->set($key, $blob));
show('binary get equal', $r->get($key) === $blob);
show('binary strlen', $r->strlen($key));
show('binary append', $r->append($key, "\0\xff"));
show('binary getrange', $hex($r->getRange($key, -4, -1)));

// Hashes (a small listpack keeps insertion order in both servers; big ones and sets are sorted)
show('hset', [$r->hSet('h', 'name', 'ann'), $r->hMSet('h', ['age' => '31', 'city' => 'Oslo']), $r->hSet('h', 'age', '32')]);
show('hgetall', $r->hGetAll('h'));
show('hget/hmget', [$r->hGet('h', 'name'), $r->hMGet('h', ['city', 'missing', 'name'])]);
show('hincrby', [$r->hIncrBy('h', 'age', 5), $r->hIncrBy('h', 'visits', -2)]);
show('hincrbyfloat', $r->hIncrByFloat('h', 'age', 0.25));
show('hlen/hexists/hdel', [$r->hLen('h'), $r->hExists('h', 'city'), $r->hDel('h', 'city'), $r->hExists('h', 'city')]);
$big = []; for ($i = 0; $i < 300; $i++) $big["field:$i"] = (string)$i;
$r->hMSet('hbig', $big);
$all = []; $it = null;
do { $page = $r->hScan('hbig', $it, 'field:1?', 20); if ($page !== false) $all += $page; } while ($it > 0);
ksort($all);
show('hscan big', $all);
show('hincrby error', $errorOf($r->hIncrBy('h', 'name', 1)));

// Sets
show('sadd ints', $r->sAdd('si', 5, 3, 10, 1, -7));
show('smembers intset', $r->sMembers('si'));
show('sadd strings', [$r->sAdd('s1', 'a', 'b', 'c', 'd'), $r->sAdd('s2', 'c', 'd', 'e')]);
$sorted = function ($a) { if (is_array($a)) sort($a); return $a; };
show('smembers', $sorted($r->sMembers('s1')));
show('sinter/sunion/sdiff', [$sorted($r->sInter('s1', 's2')), $sorted($r->sUnion('s1', 's2')), $sorted($r->sDiff('s1', 's2'))]);
show('sismember/scard', [$r->sIsMember('s1', 'a'), $r->sIsMember('s1', 'x'), $r->sCard('s1')]);
show('sinterstore', [$r->sInterStore('s3', 's1', 's2'), $sorted($r->sMembers('s3'))]);
show('srem/smove', [$r->sRem('s1', 'a'), $r->sMove('s1', 's2', 'b'), $sorted($r->sMembers('s2'))]);
$members = []; for ($i = 0; $i < 500; $i++) $members[] = "m$i";
$r->sAdd('sbig', ...$members);
$all = []; $it = null;
do { $page = $r->sScan('sbig', $it, 'm1?', 50); if ($page !== false) $all = array_merge($all, $page); } while ($it > 0);
show('sscan big', $sorted(array_values(array_unique($all))));

// Lists, LPOP with a count (a raw command: phpredis 5 has no count argument), BLPOP with a timeout
show('rpush/lpush', [$r->rPush('l', 'a', 'b', 'c', 'd', 'e'), $r->lPush('l', 'z')]);
show('lrange', $r->lRange('l', 0, -1));
show('lpop count', $r->rawCommand('LPOP', 'l', 2));
show('rpop/llen/lindex', [$r->rPop('l'), $r->lLen('l'), $r->lIndex('l', 1)]);
show('blpop served', $r->blPop(['nolist', 'l'], 1));
show('blpop timeout', $r->blPop(['nolist'], 1));
show('brpop served', $r->brPop(['l'], 1));
show('lset/linsert/lrem/ltrim', [$r->lSet('l', 0, 'x'), $r->lInsert('l', Redis::AFTER, 'x', 'y'), $r->lRem('l', 'y', 0), $r->lTrim('l', 0, 0), $r->lRange('l', 0, -1)]);

// SORT
$r->rPush('nums', '3', '1', '10', '2', '-1', '2.5');
show('sort', $r->sort('nums'));
show('sort desc limit', $r->sort('nums', ['sort' => 'desc', 'limit' => [1, 3]]));
show('sort alpha', $r->sort('nums', ['alpha' => true]));
$r->mSet(['w_3' => 30, 'w_1' => 10, 'w_10' => 5, 'w_2' => 20, 'w_-1' => 100, 'w_2.5' => 25]);
$r->hSet('o_1', 'name', 'one');
show('sort by get', $r->sort('nums', ['by' => 'w_*', 'get' => ['#', 'w_*', 'o_*->name']]));
show('sort by nosort', $r->sort('nums', ['by' => 'nosort']));
show('sort set', $r->sort('si'));
$r->zAdd('zs', 1, 'b', 2, 'a', 3, 'c');
show('sort zset alpha desc', $r->sort('zs', ['alpha' => true, 'sort' => 'desc']));
show('sort store', [$r->sort('nums', ['store' => 'sorted']), $r->lRange('sorted', 0, -1)]);
show('sort_ro', $r->rawCommand('SORT_RO', 'nums', 'LIMIT', 0, 2));
show('sort wrongtype', $errorOf($r->sort('h')));
show('sort non-numeric', $errorOf($r->sort('s2')));

show('client setname', $r->client('setname', 'clients-test'));
show('client getname', $r->client('getname'));
show('exists', $r->exists('foo', 'a', 'missing'));
show('type', [$r->type('foo'), $r->type('z'), $r->type('missing')]);
show('del', $r->del('foo', 'a', 'missing'));
show('final dbsize', $r->dbSize());
$r->close();
echo "done\n";
