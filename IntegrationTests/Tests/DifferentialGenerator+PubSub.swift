/// The "pubsub" family of the differential test: what one connection sees of pub/sub. Subscribing and
/// unsubscribing to channels, patterns and shard channels (repeated names, none, binary and empty names),
/// PUBLISH/SPUBLISH (to the connection's own subscriptions in RESP3, where the message frames precede the
/// reply; rejected in RESP2's subscribed state), PUBSUB's introspection and its errors, PING and other
/// commands while subscribed, and RESET, which leaves the subscribed state.
///
/// (P|S)(UN)SUBSCRIBE answer several frames, or none when queued in MULTI: the runner reads them up to a
/// sentinel PING (`DiffSpecial.frames`). Where redis-server answers in its hash table's order (UNSUBSCRIBE
/// without arguments, a channel matching several patterns, PUBSUB CHANNELS), replies are compared as
/// multisets (`DiffNormalizer`). Delivery between connections is PubSubTests' job.
///
/// The weights are small: in RESP2 a subscribed connection rejects the other families' commands, so a
/// heavier family would leave most sequences testing that one error. PubSubTests.testDifferentialSequences
/// runs this family alone (with strings) for more of its own coverage.
extension DiffFamilies {
    static let channelNames: [[UInt8]] = [
        b("a"), b("a"), b("b"), b("news"), b("news.sport"), b("k1"), [], [0x00, 0xff, 0x0d, 0x0a], b("a*"), b("A"),
    ]

    static let channelPatterns: [[UInt8]] = [
        b("*"), b("a*"), b("news.*"), b("n?ws*"), b("[ab]"), b("\\*"), b("a"), [], b("[^a]*"), b("*.sport"),
    ]

    static func channels(_ g: inout DiffGenerator, _ lo: Int, _ hi: Int) -> [[UInt8]] {
        (0..<g.rng.between(lo, hi)).map { _ in g.rng.pick(channelNames) }
    }

    static func patterns(_ g: inout DiffGenerator, _ lo: Int, _ hi: Int) -> [[UInt8]] {
        (0..<g.rng.between(lo, hi)).map { _ in g.rng.pick(channelPatterns) }
    }

    static let pubsub = DiffFamily(name: "pubsub", commands: [
        spec("subscribe", 2) { g in [b("SUBSCRIBE")] + channels(&g, 1, 3) },
        spec("unsubscribe", 1) { g in [b("UNSUBSCRIBE")] + channels(&g, 0, 2) },
        spec("psubscribe", 1) { g in [b("PSUBSCRIBE")] + patterns(&g, 1, 3) },
        spec("punsubscribe", 1) { g in [b("PUNSUBSCRIBE")] + patterns(&g, 0, 2) },
        spec("ssubscribe", 1) { g in [b("SSUBSCRIBE")] + channels(&g, 1, 2) },
        spec("sunsubscribe", 1) { g in [b("SUNSUBSCRIBE")] + channels(&g, 0, 2) },
        spec("publish", 2) { g in [b("PUBLISH"), g.rng.pick(channelNames), g.value()] },
        spec("spublish", 1) { g in [b("SPUBLISH"), g.rng.pick(channelNames), g.value()] },
        spec("pubsub", 2) { g in
            switch g.rng.below(9) {
            case 0: return [b("PUBSUB"), g.word("CHANNELS")]
            case 1: return [b("PUBSUB"), g.word("CHANNELS"), g.rng.pick(channelPatterns)]
            case 2: return [b("PUBSUB"), g.word("NUMSUB")] + channels(&g, 0, 3)
            case 3: return [b("PUBSUB"), g.word("NUMPAT")]
            case 4: return [b("PUBSUB"), g.word("SHARDCHANNELS")] + patterns(&g, 0, 1)
            case 5: return [b("PUBSUB"), g.word("SHARDNUMSUB")] + channels(&g, 0, 3)
            case 6: return [b("PUBSUB"), g.word("HELP")]
            case 7: return [b("PUBSUB"), g.word("CHANNELS"), b("a"), b("b")]
            default: return [b("PUBSUB"), b(g.rng.pick(["NOSUCH", "", "NUMPAT"]))]
            }
        },
        spec("ping", 1) { g in g.rng.oneIn(2) ? [b("PING")] : [b("PING"), g.value()] },
        spec("others", 1) { g in g.rng.oneIn(2) ? [b("GET"), g.key()] : [b("SET"), g.key(), g.value()] },
        spec("reset", 1) { _ in [b("RESET")] },
        // Client-side caching on the connection itself: its invalidations follow its replies (RESP3), so they
        // arrive with the next reply. Not BCAST, whose pushes go out when the server sleeps (timing).
        spec("tracking", 2) { g in
            switch g.rng.below(8) {
            case 0, 1:
                let options = ["OPTIN", "OPTOUT", "NOLOOP", "NOLOOP", "PREFIX", "REDIRECT"].filter { _ in g.rng.oneIn(3) }
                return [b("CLIENT"), b("TRACKING"), g.word("ON")] + options.flatMap { o -> [[UInt8]] in
                    o == "PREFIX" ? [b(o), b("a")] : o == "REDIRECT" ? [b(o), b(g.rng.pick(["0", "-1", "x", "99999999"]))] : [g.word(o)]
                }
            case 2: return [b("CLIENT"), b("TRACKING"), g.word("OFF")]
            case 3: return [b("CLIENT"), b("TRACKING"), g.word("ON"), b("BCAST"), b(g.rng.pick(["OPTIN", "OPTOUT"]))]
            case 4: return [b("CLIENT"), b("CACHING"), g.word(g.rng.pick(["YES", "NO", "MAYBE"]))]
            case 5: return [b("CLIENT"), b("TRACKINGINFO")]
            case 6: return [b("CLIENT"), b("GETREDIR")]
            default: return [b(g.rng.pick(["GET", "MGET", "STRLEN", "EXISTS"])), g.key()]
            }
        },
    ])
}

fileprivate func b(_ s: String) -> [UInt8] { Array(s.utf8) }
