/// Counters INFO reports (`# Stats`), reset by CONFIG RESETSTAT.
final class ServerStats: ErrorReplyCounter {
    /// The keyspace counts its own hits, misses, expired and evicted keys (Storage knows no server type).
    let keyspace: KeyspaceChanges
    @exclusivity(unchecked) var totalCommandsProcessed = 0
    @exclusivity(unchecked) var totalConnectionsReceived = 0
    @exclusivity(unchecked) var rejectedConnections = 0
    var keyspaceHits: Int { keyspace.hits }
    var keyspaceMisses: Int { keyspace.misses }
    var expiredKeys: Int { keyspace.expiredKeys }
    var evictedKeys: Int { keyspace.evictedKeys }
    /// Clients closed by maxmemory-clients (Server/ClientMemory.swift).
    @exclusivity(unchecked) var evictedClients = 0
    @exclusivity(unchecked) var totalNetInputBytes = 0
    /// Calls of the read and write handlers (INFO's total_reads_processed / total_writes_processed).
    @exclusivity(unchecked) var totalReadsProcessed = 0
    @exclusivity(unchecked) var totalWritesProcessed = 0
    @exclusivity(unchecked) var totalNetOutputBytes = 0
    /// Bytes read from our master and written to our replicas.
    @exclusivity(unchecked) var totalNetReplInputBytes = 0
    @exclusivity(unchecked) var totalNetReplOutputBytes = 0
    @exclusivity(unchecked) var totalErrorReplies = 0
    @exclusivity(unchecked) var unexpectedErrorReplies = 0

    /// Error replies by their code (the first word: "ERR", "WRONGTYPE", ...), INFO errorstats.
    @exclusivity(unchecked) private(set) var errorCodes: [ByteString: Int] = [:]
    /// As Redis's ERROR_STATS_NUMBER: past this many distinct codes, new ones are not tracked.
    static let maxErrorCodes = 128

    /// Counts one error reply, as Redis's afterErrorReply.
    func countError(_ message: UnsafeRawBufferPointer) {
        totalErrorReplies += 1
        let end = message.firstIndex(of: 32) ?? message.count
        let code = ByteString(UnsafeRawBufferPointer(rebasing: message[0..<end]))
        if let n = errorCodes[code] {
            errorCodes[code] = n + 1
        } else if errorCodes.count < ServerStats.maxErrorCodes {
            errorCodes[code] = 1
        }
    }

    init(keyspace: KeyspaceChanges) { self.keyspace = keyspace }

    func reset() {
        errorCodes = [:]
        totalCommandsProcessed = 0
        totalConnectionsReceived = 0
        rejectedConnections = 0
        keyspace.resetStats()
        totalNetInputBytes = 0
        totalNetOutputBytes = 0
        totalReadsProcessed = 0
        totalWritesProcessed = 0
        totalNetReplInputBytes = 0
        totalNetReplOutputBytes = 0
        totalErrorReplies = 0
        evictedClients = 0
        unexpectedErrorReplies = 0
    }
}
