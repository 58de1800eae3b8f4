// The common client scenario through node-redis (Debian's node-redis, v4: RESP2).
// usage: NODE_PATH=/usr/share/nodejs node node_redis.js PORT
'use strict';
const { createClient, commandOptions } = require('redis');

const port = Number(process.argv[2]);
const show = (label, value) =>
  console.log(`${label}: ${JSON.stringify(value, (k, v) => (v && v.type === 'Buffer' ? `<buffer ${Buffer.from(v.data).toString('hex')}>` : v))}`);
const errorOf = async (promise) => {
  try { return `no error: ${JSON.stringify(await promise)}`; } catch (e) { return `${e.constructor.name}: ${e.message}`; }
};

async function main() {
  const client = createClient({ socket: { port } });
  client.on('error', (e) => console.log(`client error event: ${e.message}`));
  await client.connect();
  show('ping', await client.ping());
  show('flushall', await client.flushAll());

  show('set', await client.set('foo', 'bar'));
  show('get', await client.get('foo'));
  show('get missing', await client.get('missing'));
  show('set nx on existing', await client.set('foo', 'x', { NX: true }));
  show('incr', [await client.incr('counter'), await client.incr('counter'), await client.incr('counter')]);
  show('incrby', await client.incrBy('counter', 10));
  show('incrbyfloat', [await client.incrByFloat('fl', 0.1), await client.incrByFloat('fl', 0.1)]);
  show('mset', await client.mSet({ a: '1', b: '2', c: '3' }));
  show('mget', await client.mGet(['a', 'b', 'missing', 'c']));

  // node-redis pipelines every command issued in the same tick; multi().execAsPipeline() is the explicit form.
  const auto = [];
  for (let i = 0; i < 100; i++) auto.push(i % 2 === 0 ? client.set(`p:${i}`, String(i)) : client.incr('pcounter'));
  show('auto-pipeline of 100', await Promise.all(auto));
  const pipe = client.multi();
  for (let i = 0; i < 100; i++) i % 2 === 0 ? pipe.get(`p:${i}`) : pipe.incr('pcounter2');
  const piped = await pipe.execAsPipeline();
  show('execAsPipeline count', piped.length);
  show('execAsPipeline results', piped);

  const info = await client.info();
  const lines = info.split('\r\n').filter((l) => l !== '');
  show('info lines all "# Section" or "key:value"', lines.every((l) => l.startsWith('# ') || /^[^:]+:/.test(l)));
  const fields = Object.fromEntries(lines.filter((l) => !l.startsWith('#')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));
  for (const f of ['redis_mode', 'role', 'loading', 'arch_bits', 'maxmemory_policy']) show(`info ${f}`, fields[f]);
  show('info tcp_port is our port', fields.tcp_port === String(port));
  show('info db0', fields.db0.replace(/,avg_ttl=\d+/, ''));
  show('dbsize', await client.dbSize());

  show('zadd', await client.zAdd('z', [{ score: 1, value: 'a' }, { score: 2, value: 'b' }, { score: 3.5, value: 'c' }, { score: -1, value: 'd' }]));
  show('zrange withscores', await client.zRangeWithScores('z', 0, -1));
  show('zrange', await client.zRange('z', 0, -1));
  show('zscore', await client.zScore('z', 'c'));
  show('zincrby', await client.zIncrBy('z', 0.5, 'a'));
  show('zcard', await client.zCard('z'));

  await client.set('notanumber', 'abc');
  show('incr error', await errorOf(client.incr('notanumber')));
  show('wrongtype error', await errorOf(client.get('z')));
  show('unknown command', await errorOf(client.sendCommand(['NOSUCHCOMMAND', 'x'])));
  show('arity error', await errorOf(client.sendCommand(['GET'])));
  show('syntax error', await errorOf(client.sendCommand(['SET', 'k', 'v', 'BOGUS'])));
  show('error inside pipeline', await errorOf(client.multi().set('x', '1').incr('notanumber').get('x').execAsPipeline()));

  await client.set('e', 'v');
  show('expire', await client.expire('e', 100));
  show('ttl', await client.ttl('e'));
  show('ttl no expiry', await client.ttl('foo'));
  show('ttl missing', await client.ttl('missing'));
  show('persist', await client.persist('e'));
  show('set ex', await client.set('e2', 'v', { EX: 50 }));
  show('ttl after set ex', await client.ttl('e2'));

  const blob = Buffer.concat([Buffer.from([...Array(256).keys()]), Buffer.from('\r\n\0end\r\n', 'binary')]);
  const key = Buffer.from('bin\0key\r\n', 'binary');
  show('binary set', await client.set(key, blob));
  const back = await client.get(commandOptions({ returnBuffers: true }), key);
  show('binary get equal', Buffer.compare(back, blob) === 0);
  show('binary strlen', await client.strLen(key));
  show('binary getrange', await client.getRange(commandOptions({ returnBuffers: true }), key, -4, -1));

  // Hashes (a small listpack keeps insertion order in both servers; big ones and sets are sorted)
  show('hset', [await client.hSet('h', { name: 'ann', age: '31', city: 'Oslo' }), await client.hSet('h', 'age', '32')]);
  show('hgetall', await client.hGetAll('h'));
  show('hget/hmget', [await client.hGet('h', 'name'), await client.hmGet('h', ['city', 'missing', 'name'])]);
  show('hincrby', [await client.hIncrBy('h', 'age', 5), await client.hIncrBy('h', 'visits', -2)]);
  show('hincrbyfloat', await client.hIncrByFloat('h', 'age', 0.25));
  show('hlen/hexists/hdel', [await client.hLen('h'), await client.hExists('h', 'city'), await client.hDel('h', 'city'), await client.hExists('h', 'city')]);
  const big = {};
  for (let i = 0; i < 300; i++) big[`field:${i}`] = String(i);
  await client.hSet('hbig', big);
  const scanned = [];
  for await (const { field, value } of client.hScanIterator('hbig', { MATCH: 'field:1?', COUNT: 20 })) scanned.push([field, value]);
  show('hscan big', scanned.sort());
  show('hincrby error', await errorOf(client.hIncrBy('h', 'name', 1)));

  // Sets
  const sorted = (a) => [...a].sort();
  show('sadd ints', await client.sAdd('si', ['5', '3', '10', '1', '-7']));
  show('smembers intset', await client.sMembers('si'));
  show('sadd strings', [await client.sAdd('s1', ['a', 'b', 'c', 'd']), await client.sAdd('s2', ['c', 'd', 'e'])]);
  show('smembers', sorted(await client.sMembers('s1')));
  show('sinter/sunion/sdiff', [sorted(await client.sInter(['s1', 's2'])), sorted(await client.sUnion(['s1', 's2'])), sorted(await client.sDiff(['s1', 's2']))]);
  show('sismember/scard', [await client.sIsMember('s1', 'a'), await client.sIsMember('s1', 'x'), await client.sCard('s1')]);
  show('sinterstore', [await client.sInterStore('s3', ['s1', 's2']), sorted(await client.sMembers('s3'))]);
  show('srem/smove', [await client.sRem('s1', 'a'), await client.sMove('s1', 's2', 'b'), sorted(await client.sMembers('s2'))]);
  await client.sAdd('sbig', [...Array(500).keys()].map((i) => `m${i}`));
  const members = new Set();
  for await (const m of client.sScanIterator('sbig', { MATCH: 'm1?', COUNT: 50 })) members.add(m);
  show('sscan big', sorted(members));

  // Lists, LPOP with a count, BLPOP with a timeout
  show('rpush/lpush', [await client.rPush('l', ['a', 'b', 'c', 'd', 'e']), await client.lPush('l', 'z')]);
  show('lrange', await client.lRange('l', 0, -1));
  show('lpop count', await client.lPopCount('l', 2));
  show('rpop/llen/lindex', [await client.rPop('l'), await client.lLen('l'), await client.lIndex('l', 1)]);
  show('blpop served', await client.blPop(['nolist', 'l'], 1));
  show('blpop timeout', await client.blPop('nolist', 0.1));
  show('brpop served', await client.brPop('l', 1));
  show('lset/linsert/lrem/ltrim', [await client.lSet('l', 0, 'x'), await client.lInsert('l', 'AFTER', 'x', 'y'), await client.lRem('l', 0, 'y'), await client.lTrim('l', 0, 0), await client.lRange('l', 0, -1)]);

  // SORT
  await client.rPush('nums', ['3', '1', '10', '2', '-1', '2.5']);
  show('sort', await client.sort('nums'));
  show('sort desc limit', await client.sort('nums', { DIRECTION: 'DESC', LIMIT: { offset: 1, count: 3 } }));
  show('sort alpha', await client.sort('nums', { ALPHA: true }));
  await client.mSet({ w_3: '30', w_1: '10', w_10: '5', w_2: '20', 'w_-1': '100', 'w_2.5': '25' });
  await client.hSet('o_1', 'name', 'one');
  show('sort by get', await client.sort('nums', { BY: 'w_*', GET: ['#', 'w_*', 'o_*->name'] }));
  show('sort by nosort', await client.sort('nums', { BY: 'nosort' }));
  show('sort set', await client.sort('si'));
  await client.zAdd('zs', [{ score: 1, value: 'b' }, { score: 2, value: 'a' }, { score: 3, value: 'c' }]);
  show('sort zset alpha desc', await client.sort('zs', { ALPHA: true, DIRECTION: 'DESC' }));
  show('sort store', [await client.sortStore('nums', 'sorted'), await client.lRange('sorted', 0, -1)]);
  show('sort_ro', await client.sortRo('nums', { LIMIT: { offset: 0, count: 2 } }));
  show('sort wrongtype', await errorOf(client.sort('h')));
  show('sort non-numeric', await errorOf(client.sort('s2')));

  show('client setname', await client.clientSetName('clients-test'));
  show('client getname', await client.clientGetName());
  show('exists', await client.exists(['foo', 'a', 'missing']));
  show('type', [await client.type('foo'), await client.type('z'), await client.type('missing')]);
  show('del', await client.del(['foo', 'a', 'missing']));
  show('final dbsize', await client.dbSize());

  // Pub/sub: a duplicate connection subscribes (channel and pattern), the main one publishes.
  const subscriber = client.duplicate();
  await subscriber.connect();
  const received = [];
  await subscriber.subscribe('news', (message, channel) => received.push(`${channel}:${message}`));
  await subscriber.pSubscribe('sport.*', (message, channel) => received.push(`p ${channel}:${message}`));
  show('numsub', await client.pubSubNumSub(['news', 'none']));
  show('publish', [await client.publish('news', 'hello'), await client.publish('sport.ski', 'fast'),
                   await client.publish('none', 'x')]);
  for (let i = 0; i < 100 && received.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  show('received', received);
  await subscriber.unsubscribe('news');
  await subscriber.pUnsubscribe();
  await subscriber.quit();
  await client.quit();
  console.log('done');
}

main().catch((e) => { console.log(`FAILED: ${e.constructor.name}: ${e.message}`); process.exit(1); });
