/// Counters INFO reports (`# Stats`), reset by CONFIG RESETSTAT.
final class ServerStats {
    @exclusivity(unchecked) var totalCommandsProcessed = 0
    @exclusivity(unchecked) var totalConnectionsReceived = 0
    @exclusivity(unchecked) var rejectedConnections = 0
    @exclusivity(unchecked) var keyspaceHits = 0
    @exclusivity(unchecked) var keyspaceMisses = 0
    @exclusivity(unchecked) var expiredKeys = 0
    @exclusivity(unchecked) var evictedKeys = 0
    @exclusivity(unchecked) var totalNetInputBytes = 0
    @exclusivity(unchecked) var totalNetOutputBytes = 0
    @exclusivity(unchecked) var totalErrorReplies = 0
    @exclusivity(unchecked) var unexpectedErrorReplies = 0

    func reset() {
        totalCommandsProcessed = 0
        totalConnectionsReceived = 0
        rejectedConnections = 0
        keyspaceHits = 0
        keyspaceMisses = 0
        expiredKeys = 0
        evictedKeys = 0
        totalNetInputBytes = 0
        totalNetOutputBytes = 0
        totalErrorReplies = 0
        unexpectedErrorReplies = 0
    }
}
