import Glibc
import Needletail

let config = Config(); if CommandLine.arguments.count > 2 { config.port = Int(CommandLine.arguments[2])! }
do {
    let server = try Server(config: config)
    try server.listen()
    server.run(handleSignals: true)
} catch {
    fputs("Failed to start: \(error)\n", stderr)
    exit(1)
}
