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

show('client setname', $r->client_setname('clients-test'));
show('client getname', $r->client_getname);
show('exists', $r->exists('foo', 'a', 'missing'));
show('type', [$r->type('foo'), $r->type('z'), $r->type('missing')]);
show('del', $r->del('foo', 'a', 'missing'));
show('final dbsize', $r->dbsize);
$r->quit;
print "done\n";
