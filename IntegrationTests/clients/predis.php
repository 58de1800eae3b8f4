<?php
// The common client scenario through Predis (Debian's php-predis, pure PHP). usage: php predis.php PORT
require '/usr/share/php/Predis/autoload.php';
$port = (int)$argv[1];
function show(string $label, $value): void { echo $label, ': ', json_encode($value, JSON_INVALID_UTF8_SUBSTITUTE), "\n"; }
function errorOf(callable $f): string {
    try { return 'no error: ' . json_encode($f()); } catch (Predis\PredisException $e) { return get_class($e) . ': ' . $e->getMessage(); }
}
// Status replies are objects (Predis\Response\Status); print them as their text.
function plain($v) { return $v instanceof Predis\Response\Status ? (string)$v : (is_array($v) ? array_map('plain', $v) : $v); }

$r = new Predis\Client(['host' => '127.0.0.1', 'port' => $port]);
show('ping', plain($r->ping()));
show('flushall', plain($r->flushall()));

show('set', plain($r->set('foo', 'bar')));
show('get', $r->get('foo'));
show('get missing', $r->get('missing'));
show('set nx on existing', plain($r->set('foo', 'x', 'NX')));
show('incr', [$r->incr('counter'), $r->incr('counter'), $r->incr('counter')]);
show('incrby', $r->incrby('counter', 10));
show('incrbyfloat', [$r->incrbyfloat('fl', 0.1), $r->incrbyfloat('fl', 0.1)]);
show('mset', plain($r->mset(['a' => '1', 'b' => '2', 'c' => '3'])));
show('mget', $r->mget(['a', 'b', 'missing', 'c']));

$results = $r->pipeline(function ($pipe) {
    for ($i = 0; $i < 100; $i++) { $i % 2 == 0 ? $pipe->set("p:$i", (string)$i) : $pipe->incr('pcounter'); }
});
show('pipeline count', count($results));
show('pipeline results', plain($results));
show('pipeline check', [$r->get('p:98'), $r->get('pcounter')]);

$info = $r->info(); // Predis parses INFO into sections of key => value
show('info type', gettype($info));
show('info has Server, Clients, Memory, Persistence, Stats, Replication, Keyspace sections',
     count(array_intersect(['Server', 'Clients', 'Memory', 'Persistence', 'Stats', 'Replication', 'Keyspace'], array_keys($info))));
foreach ([['Server', 'redis_mode'], ['Server', 'arch_bits'], ['Replication', 'role'], ['Persistence', 'loading'],
          ['Memory', 'maxmemory'], ['Memory', 'maxmemory_policy']] as [$s, $f]) show("info $s $f", $info[$s][$f] ?? null);
foreach ([['Server', 'redis_version'], ['Server', 'process_id'], ['Memory', 'used_memory'], ['Stats', 'total_commands_processed'],
          ['Stats', 'keyspace_hits'], ['Clients', 'connected_clients']] as [$s, $f]) show("info $s $f present", isset($info[$s][$f]));
show('info tcp_port is our port', ($info['Server']['tcp_port'] ?? null) == $port);
$db0 = $info['Keyspace']['db0'] ?? [];
unset($db0['avg_ttl']);
show('info Keyspace db0', $db0);
show('dbsize', $r->dbsize());

show('zadd', $r->zadd('z', ['a' => 1, 'b' => 2, 'c' => 3.5, 'd' => -1]));
show('zrange withscores', $r->zrange('z', 0, -1, ['withscores' => true]));
show('zrevrange withscores', $r->zrevrange('z', 0, 1, ['withscores' => true]));
show('zscore', $r->zscore('z', 'c'));
show('zrangebyscore', $r->zrangebyscore('z', 1, '+inf', ['withscores' => true]));
show('zincrby', $r->zincrby('z', 0.5, 'a'));
show('zcard', $r->zcard('z'));

$r->set('notanumber', 'abc');
show('incr error', errorOf(fn() => $r->incr('notanumber')));
show('wrongtype error', errorOf(fn() => $r->get('z')));
show('unknown command', errorOf(fn() => $r->executeRaw(['NOSUCHCOMMAND', 'x'])));
show('arity error', errorOf(fn() => $r->executeCommand($r->createCommand('GET', []))));
show('syntax error', errorOf(fn() => $r->set('k', 'v', 'BOGUS')));
show('error inside pipeline', errorOf(fn() => $r->pipeline(function ($p) { $p->set('x', '1'); $p->incr('notanumber'); $p->get('x'); })));

$r->set('e', 'v');
show('expire', $r->expire('e', 100));
show('ttl', $r->ttl('e'));
show('ttl no expiry', $r->ttl('foo'));
show('ttl missing', $r->ttl('missing'));
show('persist', $r->persist('e'));
show('set ex', plain($r->set('e2', 'v', 'EX', 50)));
show('ttl after set ex', $r->ttl('e2'));

$blob = implode('', array_map('chr', range(0, 255))) . "\r\n\0end\r\n";
$key = "bin\0key\r\n";
show('binary set', plain($r->set($key, $blob)));
show('binary get equal', $r->get($key) === $blob);
show('binary strlen', $r->strlen($key));
show('binary append', $r->append($key, "\0\xff"));
show('binary getrange', bin2hex($r->getrange($key, -4, -1)));

// Hashes (a small listpack keeps insertion order in both servers; big ones and sets are sorted)
show('hset', [$r->hset('h', 'name', 'ann'), plain($r->hmset('h', ['age' => '31', 'city' => 'Oslo'])), $r->hset('h', 'age', '32')]);
show('hgetall', $r->hgetall('h'));
show('hget/hmget', [$r->hget('h', 'name'), $r->hmget('h', ['city', 'missing', 'name'])]);
show('hincrby', [$r->hincrby('h', 'age', 5), $r->hincrby('h', 'visits', -2)]);
show('hincrbyfloat', $r->hincrbyfloat('h', 'age', 0.25));
show('hlen/hexists/hdel', [$r->hlen('h'), $r->hexists('h', 'city'), $r->hdel('h', ['city']), $r->hexists('h', 'city')]);
$big = []; for ($i = 0; $i < 300; $i++) $big["field:$i"] = (string)$i;
$r->hmset('hbig', $big);
$all = iterator_to_array(new Predis\Collection\Iterator\HashKey($r, 'hbig', 'field:1?', 20));
ksort($all);
show('hscan big', $all);
show('hincrby error', errorOf(fn() => $r->hincrby('h', 'name', 1)));

// Sets
show('sadd ints', $r->sadd('si', [5, 3, 10, 1, -7]));
show('smembers intset', $r->smembers('si'));
show('sadd strings', [$r->sadd('s1', ['a', 'b', 'c', 'd']), $r->sadd('s2', ['c', 'd', 'e'])]);
$sorted = function ($a) { sort($a); return $a; };
show('smembers', $sorted($r->smembers('s1')));
show('sinter/sunion/sdiff', [$sorted($r->sinter(['s1', 's2'])), $sorted($r->sunion(['s1', 's2'])), $sorted($r->sdiff(['s1', 's2']))]);
show('sismember/scard', [$r->sismember('s1', 'a'), $r->sismember('s1', 'x'), $r->scard('s1')]);
show('sinterstore', [$r->sinterstore('s3', ['s1', 's2']), $sorted($r->smembers('s3'))]);
show('srem/smove', [$r->srem('s1', 'a'), $r->smove('s1', 's2', 'b'), $sorted($r->smembers('s2'))]);
$members = []; for ($i = 0; $i < 500; $i++) $members[] = "m$i";
$r->sadd('sbig', $members);
show('sscan big', $sorted(array_values(array_unique(iterator_to_array(new Predis\Collection\Iterator\SetKey($r, 'sbig', 'm1?', 50), false)))));

// Lists, LPOP with a count (a raw command: Predis 1.1 has no count argument), BLPOP with a timeout
show('rpush/lpush', [$r->rpush('l', ['a', 'b', 'c', 'd', 'e']), $r->lpush('l', ['z'])]);
show('lrange', $r->lrange('l', 0, -1));
show('lpop count', $r->executeRaw(['LPOP', 'l', '2']));
show('rpop/llen/lindex', [$r->rpop('l'), $r->llen('l'), $r->lindex('l', 1)]);
show('blpop served', $r->blpop(['nolist', 'l'], 1));
show('blpop timeout', $r->blpop(['nolist'], 1));
show('brpop served', $r->brpop(['l'], 1));
show('lset/linsert/lrem/ltrim', plain([$r->lset('l', 0, 'x'), $r->linsert('l', 'AFTER', 'x', 'y'), $r->lrem('l', 0, 'y'), $r->ltrim('l', 0, 0), $r->lrange('l', 0, -1)]));

// SORT
$r->rpush('nums', ['3', '1', '10', '2', '-1', '2.5']);
show('sort', $r->sort('nums'));
show('sort desc limit', $r->sort('nums', ['sort' => 'desc', 'limit' => [1, 3]]));
show('sort alpha', $r->sort('nums', ['alpha' => true]));
$r->mset(['w_3' => 30, 'w_1' => 10, 'w_10' => 5, 'w_2' => 20, 'w_-1' => 100, 'w_2.5' => 25]);
$r->hset('o_1', 'name', 'one');
show('sort by get', $r->sort('nums', ['by' => 'w_*', 'get' => ['#', 'w_*', 'o_*->name']]));
show('sort by nosort', $r->sort('nums', ['by' => 'nosort']));
show('sort set', $r->sort('si'));
$r->zadd('zs', ['b' => 1, 'a' => 2, 'c' => 3]);
show('sort zset alpha desc', $r->sort('zs', ['alpha' => true, 'sort' => 'desc']));
show('sort store', [$r->sort('nums', ['store' => 'sorted']), $r->lrange('sorted', 0, -1)]);
show('sort_ro', $r->executeRaw(['SORT_RO', 'nums', 'LIMIT', '0', '2']));
show('sort wrongtype', errorOf(fn() => $r->sort('h')));
show('sort non-numeric', errorOf(fn() => $r->sort('s2')));

show('client setname', plain($r->client('SETNAME', 'clients-test')));
show('client getname', $r->client('GETNAME'));
show('exists', $r->exists('foo', 'a', 'missing'));
show('type', plain([$r->type('foo'), $r->type('z'), $r->type('missing')]));
show('del', $r->del(['foo', 'a', 'missing']));
show('final dbsize', $r->dbsize());
$r->disconnect();
echo "done\n";
