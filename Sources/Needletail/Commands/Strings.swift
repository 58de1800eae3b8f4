/// String commands: GET, SET and family.

let stringCommands: [Command] = [
    Command("get", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "string",
            summary: "Returns the string value of a key.", complexity: "O(1)", handler: get),
    Command("set", arity: -3, flags: [.write, .denyoom], keys: (1, 1, 1), group: "string",
            summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
            complexity: "O(1)", handler: set),
]

private func get(_ c: Client) {
    guard let value = c.db.lookupRead(c.arg(1), now: c.server.now) else { return c.reply.null() }
    guard case .string(let s) = value else { return c.replyWrongType() }
    c.reply.bulk(s)
}

private func set(_ c: Client) {
    c.db.set(c.argBytes(1), .string(c.argBytes(2)))
    c.server.dirty += 1
    c.reply.ok()
}
