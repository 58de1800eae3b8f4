/// Server commands.

let serverCommands: [Command] = []
