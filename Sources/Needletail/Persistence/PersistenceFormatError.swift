// PersistenceFormatError: what every reader of RDB / DUMP bytes throws on input it cannot trust.
//
// The readers in this folder (Listpack, Ziplist, Zipmap, IntSetBlob; the RDB loader reports RDBError) check every
// length and offset before reading through it, so a corrupt or hostile payload (a RESTORE argument, a
// damaged dump.rdb) ends in this error instead of a crash or an out-of-bounds read. The message says what
// was wrong, for logs and tests; the RESTORE / loader caller maps it to Redis's reply text
// ("Bad data format", "DUMP payload version or checksum are wrong").

struct PersistenceFormatError: Error, CustomStringConvertible, Equatable {
    let message: String

    init(_ message: String) { self.message = message }

    var description: String { "invalid persistence format: \(message)" }
}
