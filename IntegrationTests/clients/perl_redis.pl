#!/usr/bin/perl
# The common client scenario through Perl's Redis (libredis-perl) or Redis::Fast (libredis-fast-perl, over
# hiredis): they share one API. usage: perl perl_redis.pl PORT [Redis|Redis::Fast]
use strict;
use warnings;

my ($port, $module) = (shift, shift // 'Redis');
eval "require $module; 1" or die "cannot load $module: $@";
$| = 1;

# Data::Dumper with sorted keys and no indentation gives one deterministic line per value.
use Data::Dumper;
$Data::Dumper::Sortkeys = 1;
$Data::Dumper::Indent = 0;
$Data::Dumper::Terse = 1;
$Data::Dumper::Useqq = 1;
sub show { my ($label, $value) = @_; print "$label: ", Dumper($value), "\n"; }
# Errors are Perl exceptions: "[command] <Redis's text>, at <file> line N" (Redis::Fast adds a stack trace with
# addresses) -> keep what comes from the server.
sub error_of {
    my ($code) = @_;
    my @result = eval { $code->() };
    return 'no error: ' . Dumper(\@result) unless $@;
    (my $e = $@) =~ s/,?\s+at \S+ line \d+.*//s;
    return "died: $e";
}

my $r = $module->new(server => "127.0.0.1:$port");
show('ping', $r->ping);
show('flushall', $r->flushall);

show('set', $r->set('foo', 'bar'));
show('get', $r->get('foo'));
show('get missing', $r->get('missing'));
show('set nx on existing', $r->set('foo', 'x', 'NX'));
show('incr', [map { $r->incr('counter') } 1 .. 3]);
show('incrby', $r->incrby('counter', 10));
show('incrbyfloat', [$r->incrbyfloat('fl', 0.1), $r->incrbyfloat('fl', 0.1)]);
show('mset', $r->mset(a => 1, b => 2, c => 3));
show('mget', [$r->mget('a', 'b', 'missing', 'c')]);

# Pipelining: a callback per command, the commands are written without waiting, then wait_all_responses.
my @results;
for my $i (0 .. 99) {
    my $cb = sub { my ($reply, $error) = @_; $results[$i] = defined $error ? "error: $error" : $reply };
    $i % 2 == 0 ? $r->set("p:$i", $i, $cb) : $r->incr('pcounter', $cb);
}
$r->wait_all_responses;
show('pipeline count', scalar @results);
show('pipeline results', \@results);
show('pipeline check', [$r->get('p:98'), $r->get('pcounter')]);

my $info = $r->info; # a hashref of field => value
show('info type', ref $info);
show("info $_", $info->{$_}) for qw(redis_mode role loading arch_bits maxmemory maxmemory_policy connected_slaves);
show("info $_ present", exists $info->{$_} ? 1 : 0) for qw(redis_version process_id uptime_in_seconds used_memory total_commands_processed keyspace_hits);
show('info tcp_port is our port', $info->{tcp_port} eq $port ? 1 : 0);
(my $db0 = $info->{db0} // '') =~ s/,avg_ttl=\d+//;
show('info db0', $db0);
show('dbsize', $r->dbsize);

show('zadd', $r->zadd('z', 1, 'a', 2, 'b', 3.5, 'c', -1, 'd'));
show('zrange withscores', [$r->zrange('z', 0, -1, 'WITHSCORES')]);
show('zscore', $r->zscore('z', 'c'));
show('zincrby', $r->zincrby('z', 0.5, 'a'));
show('zcard', $r->zcard('z'));

$r->set('notanumber', 'abc');
show('incr error', error_of(sub { $r->incr('notanumber') }));
show('wrongtype error', error_of(sub { $r->get('z') }));
show('unknown command', error_of(sub { $r->nosuchcommand('x') }));
show('arity error', error_of(sub { $r->get() }));
show('syntax error', error_of(sub { $r->set('k', 'v', 'BOGUS') }));
my @piped;
$r->set('x', 1, sub { push @piped, [@_] });
$r->incr('notanumber', sub { push @piped, [@_] });
$r->get('x', sub { push @piped, [@_] });
$r->wait_all_responses;
show('error inside pipeline', \@piped);

$r->set('e', 'v');
show('expire', $r->expire('e', 100));
show('ttl', $r->ttl('e'));
show('ttl no expiry', $r->ttl('foo'));
show('ttl missing', $r->ttl('missing'));
show('persist', $r->persist('e'));
show('set ex', $r->set('e2', 'v', 'EX', 50));
show('ttl after set ex', $r->ttl('e2'));

my $blob = join('', map { chr } 0 .. 255) . "\r\n\0end\r\n";
my $key = "bin\0key\r\n";
show('binary set', $r->set($key, $blob));
show('binary get equal', $r->get($key) eq $blob ? 1 : 0);
show('binary strlen', $r->strlen($key));
show('binary append', $r->append($key, "\0\xff"));
show('binary getrange', $r->getrange($key, -4, -1));

# Hashes (a small listpack keeps insertion order in both servers; big ones and sets are sorted)
show('hset', [$r->hset('h', 'name', 'ann', 'age', '31', 'city', 'Oslo'), $r->hset('h', 'age', '32')]);
show('hgetall', [$r->hgetall('h')]);
show('hget/hmget', [$r->hget('h', 'name'), [$r->hmget('h', 'city', 'missing', 'name')]]);
show('hincrby', [$r->hincrby('h', 'age', 5), $r->hincrby('h', 'visits', -2)]);
show('hincrbyfloat', $r->hincrbyfloat('h', 'age', 0.25));
show('hlen/hexists/hdel', [$r->hlen('h'), $r->hexists('h', 'city'), $r->hdel('h', 'city'), $r->hexists('h', 'city')]);
$r->hset('hbig', map { ("field:$_", $_) } 0 .. 299);
# A full HSCAN, by hand (cursor, then field/value pairs).
sub scan_all {
    my ($command, $key, $match, $count, $group) = @_;
    my (%seen, $cursor);
    $cursor = 0;
    do {
        my ($next, $items) = $r->$command($key, $cursor, 'MATCH', $match, 'COUNT', $count);
        for (my $i = 0; $i + $group <= @$items; $i += $group) { $seen{join('=', @$items[$i .. $i + $group - 1])} = 1 }
        $cursor = $next;
    } while ($cursor ne '0');
    return [sort keys %seen];
}
show('hscan big', scan_all('hscan', 'hbig', 'field:1?', 20, 2));
show('hincrby error', error_of(sub { $r->hincrby('h', 'name', 1) }));

# Sets
show('sadd ints', $r->sadd('si', 5, 3, 10, 1, -7));
show('smembers intset', [$r->smembers('si')]);
show('sadd strings', [$r->sadd('s1', qw(a b c d)), $r->sadd('s2', qw(c d e))]);
show('smembers', [sort $r->smembers('s1')]);
show('sinter/sunion/sdiff', [[sort $r->sinter('s1', 's2')], [sort $r->sunion('s1', 's2')], [sort $r->sdiff('s1', 's2')]]);
show('sismember/scard', [$r->sismember('s1', 'a'), $r->sismember('s1', 'x'), $r->scard('s1')]);
show('sinterstore', [$r->sinterstore('s3', 's1', 's2'), [sort $r->smembers('s3')]]);
show('srem/smove', [$r->srem('s1', 'a'), $r->smove('s1', 's2', 'b'), [sort $r->smembers('s2')]]);
$r->sadd('sbig', map { "m$_" } 0 .. 499);
show('sscan big', scan_all('sscan', 'sbig', 'm1?', 50, 1));

# Lists, LPOP with a count, BLPOP with a timeout
show('rpush/lpush', [$r->rpush('l', qw(a b c d e)), $r->lpush('l', 'z')]);
show('lrange', [$r->lrange('l', 0, -1)]);
show('lpop count', [$r->lpop('l', 2)]);
show('rpop/llen/lindex', [$r->rpop('l'), $r->llen('l'), $r->lindex('l', 1)]);
show('blpop served', [$r->blpop('nolist', 'l', 1)]);
show('blpop timeout', [$r->blpop('nolist', 1)]);
show('brpop served', [$r->brpop('l', 1)]);
show('lset/linsert/lrem/ltrim', [$r->lset('l', 0, 'x'), $r->linsert('l', 'AFTER', 'x', 'y'), $r->lrem('l', 0, 'y'), $r->ltrim('l', 0, 0), [$r->lrange('l', 0, -1)]]);

# SORT
$r->rpush('nums', 3, 1, 10, 2, -1, 2.5);
show('sort', [$r->sort('nums')]);
show('sort desc limit', [$r->sort('nums', 'DESC', 'LIMIT', 1, 3)]);
show('sort alpha', [$r->sort('nums', 'ALPHA')]);
$r->mset('w_3', 30, 'w_1', 10, 'w_10', 5, 'w_2', 20, 'w_-1', 100, 'w_2.5', 25);
$r->hset('o_1', 'name', 'one');
show('sort by get', [$r->sort('nums', 'BY', 'w_*', 'GET', '#', 'GET', 'w_*', 'GET', 'o_*->name')]);
show('sort by nosort', [$r->sort('nums', 'BY', 'nosort')]);
show('sort set', [$r->sort('si')]);
$r->zadd('zs', 1, 'b', 2, 'a', 3, 'c');
show('sort zset alpha desc', [$r->sort('zs', 'ALPHA', 'DESC')]);
show('sort store', [$r->sort('nums', 'STORE', 'sorted'), [$r->lrange('sorted', 0, -1)]]);
# Both modules turn a method name with "_" into two words (client_setname -> CLIENT SETNAME): sort_ro sends
# SORT RO ..., a syntax error in both servers.
show('sort_ro method', error_of(sub { $r->sort_ro('nums', 'LIMIT', 0, 2) }));
show('sort wrongtype', error_of(sub { $r->sort('h') }));
show('sort non-numeric', error_of(sub { $r->sort('s2') }));

show('client setname', $r->client_setname('clients-test'));
show('client getname', $r->client_getname);
show('exists', $r->exists('foo', 'a', 'missing'));
show('type', [$r->type('foo'), $r->type('z'), $r->type('missing')]);
show('del', $r->del('foo', 'a', 'missing'));
show('final dbsize', $r->dbsize);
$r->quit;
print "done\n";
