/// Expiry commands.

let expiryCommands: [Command] = []
