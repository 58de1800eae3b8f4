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

show('client setname', $r->client('setname', 'clients-test'));
show('client getname', $r->client('getname'));
show('exists', $r->exists('foo', 'a', 'missing'));
show('type', [$r->type('foo'), $r->type('z'), $r->type('missing')]);
show('del', $r->del('foo', 'a', 'missing'));
show('final dbsize', $r->dbSize());
$r->close();
echo "done\n";
