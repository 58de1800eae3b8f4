/// Keys commands.

let keyCommands: [Command] = []
