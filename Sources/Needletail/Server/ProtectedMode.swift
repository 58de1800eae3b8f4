/// Protected mode (Redis's clientAcceptHandler): while `protected-mode` is yes and the default user has no
/// password, a connection from anything but the loopback interface (127.0.0.1, ::1) or the Unix socket gets
/// one explanatory error and is closed; `rejected_connections` counts it. As redis-server 7.0, an explicit
/// `bind` does not lift it. A TLS client is checked once its handshake is done, so it reads the error over TLS.
extension Server {
    static let protectedModeError = "-DENIED Redis is running in protected mode because protected mode is enabled "
        + "and no password is set for the default user. In this mode connections are only accepted from the "
        + "loopback interface. If you want to connect from external computers to Redis you may adopt one of the "
        + "following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' "
        + "from the loopback interface by connecting to Redis from the same host the server is running, however "
        + "MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this "
        + "change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis "
        + "configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) "
        + "If you started the server manually just for testing, restart it with the '--protected-mode no' option. "
        + "4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above "
        + "things in order for the server to start accepting connections from the outside.\r\n"

    /// The default user needs no password (no `requirepass`).
    var defaultUserIsPasswordless: Bool { acl.defaultUser.rules.nopass }

    /// Refuses a new connection that protected mode does not let in: its error is queued, and the client is
    /// closed once it is written. Returns whether it was refused.
    @discardableResult
    func refuseIfProtected(_ client: Client) -> Bool {
        guard config.protectedMode && defaultUserIsPasswordless && !isLocalClient(client) else { return false }
        client.output.appendText(Server.protectedModeError)
        client.closeAfterReply = true
        stats.rejectedConnections += 1
        updateInterest(client)
        scheduleWrite(client)
        return true
    }
}
