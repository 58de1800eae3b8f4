/// Counters INFO reports (`# Stats`), reset by CONFIG RESETSTAT.
final class ServerStats {
    var totalCommandsProcessed = 0
    var totalConnectionsReceived = 0
    var rejectedConnections = 0
    var keyspaceHits = 0
    var keyspaceMisses = 0
    var expiredKeys = 0
    var evictedKeys = 0
    var totalNetInputBytes = 0
    var totalNetOutputBytes = 0
    var totalErrorReplies = 0
    var unexpectedErrorReplies = 0

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
