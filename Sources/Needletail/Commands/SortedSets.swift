/// SortedSets commands.

let sortedSetCommands: [Command] = []
