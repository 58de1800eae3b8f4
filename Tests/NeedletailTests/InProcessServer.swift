@testable import Needletail

/// A server run in-process with one internal client whose replies are captured: how the command tests drive
/// the call path (`Server.run(_:on:)`) without a socket. `configure` adjusts the config before the start
/// (the port is an ephemeral one, the log level "warning").
final class InProcessServer {
    let server: Server
    let client: Client

    init(_ configure: (Config) -> Void = { _ in }) throws {
        let config = Config()
        config.port = 0
        config.loglevel = "warning"
        configure(config)
        server = try Server(config: config, ephemeralPort: true)
        client = server.makeInternalClient()
        client.replySink = .capture
    }

    /// The reply to one request, as the client would read it.
    @discardableResult func run(_ words: [String]) -> String {
        String(decoding: server.run(words.map { ByteString($0) }, on: client) ?? [], as: UTF8.self)
    }
}
