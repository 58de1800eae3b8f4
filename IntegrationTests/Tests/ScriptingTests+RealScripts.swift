import Glibc
import XCTest

/// Scripts real libraries send, run on redis-server 7.0 and on Needletail with the same keys and arguments:
/// every reply and the resulting keyspace (DEBUG DIGEST) must be the same.
///
/// - redis-py's `Lock`: acquire with SET NX PX, then its release, extend and reacquire scripts.
/// - BullMQ's queue commands: those that touch no stream (inline below) on a queue seeded as BullMQ lays it
///   out; addStandardJob, moveToActive and moveToFinished (IntegrationTests/Scripts/bullmq) through the life
///   of a few jobs, once Needletail has streams (they XADD BullMQ's events).
/// Scripts run as the clients' Script objects run them: EVALSHA, and after NOSCRIPT, SCRIPT LOAD and EVALSHA.
extension ScriptingTests {
    /// One connection that runs scripts by SHA1 (computed by the server's redis.sha1hex, which loads nothing).
    final class ScriptClient {
        let c: RawClient
        private var shas: [String: [UInt8]] = [:]
        /// Each reply, in order.
        var transcript: [String] = []

        init(port: Int) throws { c = try RawClient(port: port) }

        @discardableResult
        func run(_ script: String, keys: [String], _ args: [[UInt8]]) throws -> String {
            if shas[script] == nil {
                shas[script] = try XCTUnwrap(bulkPayload(c.call("EVAL", "return redis.sha1hex(ARGV[1])", "0", script)))
            }
            let request = [Array("EVALSHA".utf8), shas[script]!, Array("\(keys.count)".utf8)] + keys.map { Array($0.utf8) } + args
            var reply = replyText(try c.call(request))
            if reply.hasPrefix("-NOSCRIPT") {
                transcript.append(reply)
                transcript.append(try c.say("SCRIPT", "LOAD", script))
                reply = replyText(try c.call(request))
            }
            transcript.append(reply)
            return reply
        }

        func run(_ script: String, keys: [String], _ args: String...) throws {
            try run(script, keys: keys, args.map { Array($0.utf8) })
        }

        func run(_ script: String, keys: [String], _ args: [String]) throws {
            try run(script, keys: keys, args.map { Array($0.utf8) })
        }

        /// A plain command whose reply goes to the transcript.
        func say(_ args: String...) throws {
            transcript.append(replyText(try c.call(args.map { Array($0.utf8) })))
        }
    }

    // MARK: - redis-py's Lock

    func testRedisPyLockScripts() throws {
        try sameOnBoth { port in
            let s = try ScriptClient(port: port)
            try s.say("SET", "lock", "token-1", "NX", "PX", "10000")
            try s.say("SET", "lock", "token-2", "NX", "PX", "10000")  // held: nil
            try s.run(RedisPyLock.release, keys: ["lock"], "token-2")  // not the owner: 0
            try s.run(RedisPyLock.extend, keys: ["lock"], "token-1", "5000", "0")  // adds 5 s: 1
            s.transcript.append(try self.ttlBucket(s.c, "lock"))
            try s.run(RedisPyLock.extend, keys: ["lock"], "token-1", "3000", "1")  // replaces: 1
            s.transcript.append(try self.ttlBucket(s.c, "lock"))
            try s.run(RedisPyLock.extend, keys: ["lock"], "token-2", "3000", "0")  // not the owner: 0
            try s.run(RedisPyLock.reacquire, keys: ["lock"], "token-1", "20000")  // 1
            s.transcript.append(try self.ttlBucket(s.c, "lock"))
            try s.run(RedisPyLock.reacquire, keys: ["lock"], "token-2", "20000")  // 0
            try s.say("SET", "forever", "token-3")
            try s.run(RedisPyLock.extend, keys: ["forever"], "token-3", "1000", "0")  // no TTL to extend: 0
            try s.run(RedisPyLock.release, keys: ["lock"], "token-1")  // 1
            try s.run(RedisPyLock.release, keys: ["lock"], "token-1")  // gone: 0
            try s.run(RedisPyLock.extend, keys: ["lock"], "token-1", "1000", "0")  // gone: 0
            try s.say("EXISTS", "lock")
            try s.say("DEBUG", "DIGEST")
            return s.transcript
        }
    }

    /// The key's time to live to the nearest second (each TTL here is a whole number of seconds, less the
    /// few milliseconds the test took).
    private func ttlBucket(_ c: RawClient, _ key: String) throws -> String {
        guard let ms = try RawReply.parse(c.call("PTTL", key)).integer else { return "no integer" }
        return "PTTL about \((ms + 500) / 1000) s"
    }

    // MARK: - BullMQ

    /// A queue `bull:q` laid out as BullMQ keeps it: jobs 1-3 waiting, 4 prioritized, 5 active and locked
    /// (and in the stalled set), 6 completed, 7 failed; then BullMQ's stream-free commands on it.
    func testBullMQCommandsWithoutStreams() throws {
        try sameOnBoth { port in
            let s = try ScriptClient(port: port)
            let q = "bull:q:"
            for id in 1...7 {
                try s.say("HSET", q + "\(id)", "name", "job\(id)", "data", "{\"n\":\(id)}", "opts", "{\"attempts\":3}",
                          "timestamp", "\(1_700_000_000_000 + id)", "delay", "0", "priority", id == 4 ? "2" : "0")
            }
            try s.say("LPUSH", q + "wait", "1", "2", "3")
            try s.say("ZADD", q + "prioritized", "\(2 * 0x1_0000_0000 + 1)", "4")
            try s.say("SET", q + "pc", "1")
            try s.say("LPUSH", q + "active", "5")
            try s.say("SET", q + "5:lock", "token-5", "PX", "30000")
            try s.say("SADD", q + "stalled", "5")
            try s.say("ZADD", q + "completed", "1700000000100", "6")
            try s.say("HSET", q + "6", "returnvalue", "\"done\"", "finishedOn", "1700000000100")
            try s.say("ZADD", q + "failed", "1700000000200", "7")
            try s.say("HSET", q + "7", "failedReason", "boom", "finishedOn", "1700000000200")

            let states = ["wait", "active", "prioritized", "completed", "failed", "delayed", "paused", "waiting-children"]
            try s.run(BullMQ.getCounts, keys: [q], states)
            try s.run(BullMQ.getRanges, keys: [q], ["0", "-1", "1"] + states)
            try s.run(BullMQ.getRanges, keys: [q], ["0", "1", "0", "wait", "completed"])
            let stateKeys = ["completed", "failed", "delayed", "active", "wait", "paused", "waiting-children", "prioritized"].map { q + $0 }
            for id in ["1", "4", "5", "6", "7", "99"] { try s.run(BullMQ.getStateV2, keys: stateKeys, id, q + id) }
            let priorityKeys = ["wait", "paused", "meta", "prioritized", "active", "pc", "marker"].map { q + $0 }
            try s.run(BullMQ.changePriority, keys: priorityKeys, "3", q, "2", "0")  // waiting -> prioritized
            try s.run(BullMQ.changePriority, keys: priorityKeys, "0", q, "4", "1")  // prioritized -> wait, lifo
            try s.run(BullMQ.changePriority, keys: priorityKeys, "1", q, "99", "0")  // no such job: -1
            try s.say("HSET", q + "meta", "paused", "1")
            try s.run(BullMQ.changePriority, keys: priorityKeys, "5", q, "1", "0")  // paused: no marker
            try s.run(BullMQ.extendLock, keys: [q + "5:lock", q + "stalled"], "token-5", "30000", "5")  // 1
            try s.run(BullMQ.extendLock, keys: [q + "5:lock", q + "stalled"], "token-x", "30000", "5")  // 0
            try s.say("SADD", q + "stalled", "5")
            try s.run(BullMQ.extendLocks, keys: [q + "stalled"],
                      [Array(q.utf8), Pack.array([.string("token-5"), .string("token-x")]).bytes,
                       Pack.array([.string("5"), .string("1")]).bytes, Array("30000".utf8)])  // ["1"]
            for line in ["first", "second", "third"] { try s.run(BullMQ.addLog, keys: [q + "1", q + "1:logs"], "1", line, "") }
            try s.run(BullMQ.addLog, keys: [q + "1", q + "1:logs"], "1", "fourth", "2")  // keeps two: 2
            try s.run(BullMQ.addLog, keys: [q + "99", q + "99:logs"], "99", "lost", "")  // -1
            try s.run(BullMQ.updateData, keys: [q + "1"], "{\"n\":10}")
            try s.run(BullMQ.updateData, keys: [q + "99"], "{}")
            try s.run(BullMQ.saveStacktrace, keys: [q + "7"], "[\"at f (x.js:1)\"]", "boom again")
            for (id, withValue) in [("6", "1"), ("7", "1"), ("1", "1"), ("6", "0"), ("99", "1")] {
                try s.run(BullMQ.isFinished, keys: [q + "completed", q + "failed", q + id], id, withValue)
            }
            try s.run(BullMQ.releaseLock, keys: [q + "5:lock"], "token-5", "30000")  // 1
            try s.run(BullMQ.releaseLock, keys: [q + "5:lock"], "token-5", "30000")  // 0
            try s.run(BullMQ.getCounts, keys: [q], states)
            try s.say("LRANGE", q + "wait", "0", "-1")
            try s.say("ZRANGE", q + "prioritized", "0", "-1", "WITHSCORES")
            try s.say("DEBUG", "DIGEST")
            return s.transcript
        }
    }

    /// addStandardJob, moveToActive and moveToFinished through the life of three jobs (added, taken by a
    /// worker, completed with the next job fetched, failed), as BullMQ's Python client calls them. The event
    /// stream starts at a far-future ID so that both servers give the events the same IDs.
    func testBullMQJobLifecycle() throws {
        let (server, oracle, _) = try bothServers()
        let expected = try bullMQLifecycle(port: oracle.port)
        let got = try bullMQLifecycle(port: server.port)
        XCTAssertEqual(got.count, expected.count)
        for (n, (e, g)) in zip(expected, got).enumerated() where e != g { XCTFail("reply \(n): redis \(e) needletail \(g)") }
    }

    func bullMQLifecycle(port: Int) throws -> [String] {
        let s = try ScriptClient(port: port)
        let q = "bull:q:"
        func keys(_ names: String...) -> [String] { names.map { q + $0 } }
        let now = 1_700_000_000_000
        try s.say("XADD", q + "events", "9999999999999-0", "event", "start")
        for (n, name) in ["resize", "encode", "upload"].enumerated() {
            let args = Pack.array([.string(q), .string(""), .string(name), .int(now + n), .null, .null, .null, .null, .null])
            try s.run(BullMQ.addStandardJob, keys: keys("wait", "paused", "meta", "id", "completed", "delayed", "active", "events", "marker"),
                      [args.bytes, Array("{\"file\":\"f\(n).png\"}".utf8), Pack.map([("attempts", .int(3))]).bytes, Array("\(now + n)".utf8)])
        }
        let activeKeys = keys("wait", "active", "prioritized", "events", "stalled", "limiter", "delayed", "paused", "meta", "pc", "marker")
        let workerOptions = Pack.map([("token", .string("worker-1")), ("lockDuration", .int(30000)), ("limiter", .null)])
        try s.run(BullMQ.moveToActive, keys: activeKeys, [Array(q.utf8), Array("\(now + 10)".utf8), workerOptions.bytes])
        func finish(_ id: String, _ target: String, _ property: String, _ value: String, fetchNext: Bool, at time: Int) throws {
            let options = Pack.map([
                ("token", .string("worker-1")), ("keepJobs", .map([("count", .int(-1))])), ("limiter", .null),
                ("lockDuration", .int(30000)), ("attempts", .int(3)), ("attemptsMade", .int(0)), ("maxMetricsSize", .string("")),
                ("fpof", .bool(false)), ("cpof", .bool(false)), ("idof", .bool(false)), ("rdof", .bool(false)),
            ])
            try s.run(BullMQ.moveToFinished,
                      keys: keys("wait", "active", "prioritized", "events", "stalled", "limiter", "delayed", "paused", "meta", "pc", target, id,
                                 "metrics:" + target, "marker"),
                      [id, "\(time)", property, value, target, fetchNext ? "1" : "", q].map { Array($0.utf8) } + [options.bytes])
        }
        try finish("1", "completed", "returnvalue", "\"resized\"", fetchNext: true, at: now + 20)
        try finish("2", "failed", "failedReason", "encoder crashed", fetchNext: false, at: now + 30)
        try finish("2", "failed", "failedReason", "not active any more", fetchNext: false, at: now + 31)
        try s.say("XRANGE", q + "events", "-", "+")
        try s.say("DEBUG", "DIGEST")
        return s.transcript
    }
}

/// redis-py's Lock scripts, from the redis 8.1.0 package on PyPI (redis/lock.py: Lock.LUA_RELEASE_SCRIPT,
/// LUA_EXTEND_SCRIPT and LUA_REACQUIRE_SCRIPT; MIT License), unchanged but for the Python indentation.
enum RedisPyLock {
    static let release = """
        local token = redis.call('get', KEYS[1])
        if not token or token ~= ARGV[1] then
            return 0
        end
        redis.call('del', KEYS[1])
        return 1
        """
    static let extend = """
        local token = redis.call('get', KEYS[1])
        if not token or token ~= ARGV[1] then
            return 0
        end
        local expiration = redis.call('pttl', KEYS[1])
        if not expiration then
            expiration = 0
        end
        if expiration < 0 then
            return 0
        end

        local newttl = ARGV[2]
        if ARGV[3] == "0" then
            newttl = ARGV[2] + expiration
        end
        redis.call('pexpire', KEYS[1], newttl)
        return 1
        """
    static let reacquire = """
        local token = redis.call('get', KEYS[1])
        if not token or token ~= ARGV[1] then
            return 0
        end
        redis.call('pexpire', KEYS[1], ARGV[2])
        return 1
        """
}

/// BullMQ's queue commands that touch no stream, from the bullmq 3.4.4 package on PyPI (bullmq/commands/*.lua,
/// with their includes inlined as the package ships them; MIT License, Taskforce.sh Inc.), unchanged. The
/// three that write the event stream are files in IntegrationTests/Scripts/bullmq.
enum BullMQ {
    static let addStandardJob = file("addStandardJob-9.lua")
    static let moveToActive = file("moveToActive-11.lua")
    static let moveToFinished = file("moveToFinished-14.lua")

    private static func file(_ name: String) -> String {
        let tests = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let path = tests + "/../Scripts/bullmq/" + name
        return String(decoding: readFileBytes(path) ?? [], as: UTF8.self)
    }

    /// changePriority-7.lua
    static let changePriority = #"""
--[[
  Change job priority
  Input:
    KEYS[1] 'wait',
    KEYS[2] 'paused'
    KEYS[3] 'meta'
    KEYS[4] 'prioritized'
    KEYS[5] 'active'
    KEYS[6] 'pc' priority counter
    KEYS[7] 'marker'
    ARGV[1] priority value
    ARGV[2] prefix key
    ARGV[3] job id
    ARGV[4] lifo
    Output:
       0  - OK
      -1  - Missing job
]]
local jobId = ARGV[3]
local jobKey = ARGV[2] .. jobId
local priority = tonumber(ARGV[1])
local rcall = redis.call
-- Includes
--[[
  Function to add job in target list and add marker if needed.
]]
-- Includes
--[[
  Add marker if needed when a job is available.
]]
local function addBaseMarkerIfNeeded(markerKey, isPausedOrMaxed)
  if not isPausedOrMaxed then
    rcall("ZADD", markerKey, 0, "0")
  end  
end
local function addJobInTargetList(targetKey, markerKey, pushCmd, isPausedOrMaxed, jobId)
  rcall(pushCmd, targetKey, jobId)
  addBaseMarkerIfNeeded(markerKey, isPausedOrMaxed)
end
--[[
  Function to add job considering priority.
]]
-- Includes
--[[
  Function to get priority score.
]]
local function getPriorityScore(priority, priorityCounterKey)
  local prioCounter = rcall("INCR", priorityCounterKey)
  return priority * 0x100000000 + prioCounter % 0x100000000
end
local function addJobWithPriority(markerKey, prioritizedKey, priority, jobId, priorityCounterKey,
  isPausedOrMaxed)
  local score = getPriorityScore(priority, priorityCounterKey)
  rcall("ZADD", prioritizedKey, score, jobId)
  addBaseMarkerIfNeeded(markerKey, isPausedOrMaxed)
end
--[[
  Function to check if queue is paused or maxed
  (since an empty list and !EXISTS are not really the same).
]]
local function isQueuePausedOrMaxed(queueMetaKey, activeKey)
  local queueAttributes = rcall("HMGET", queueMetaKey, "paused", "concurrency")
  if queueAttributes[1] then
    return true
  else
    if queueAttributes[2] then
      local activeCount = rcall("LLEN", activeKey)
      return activeCount >= tonumber(queueAttributes[2])
    end
  end
  return false
end
--[[
  Function to push back job considering priority in front of same prioritized jobs.
]]
local function pushBackJobWithPriority(prioritizedKey, priority, jobId)
  -- in order to put it at front of same prioritized jobs
  -- we consider prioritized counter as 0
  local score = priority * 0x100000000
  rcall("ZADD", prioritizedKey, score, jobId)
end
local function reAddJobWithNewPriority( prioritizedKey, markerKey, waitKey,
    priorityCounter, lifo, priority, jobId, isPausedOrMaxed)
    if priority == 0 then
        local pushCmd = lifo and 'RPUSH' or 'LPUSH'
        addJobInTargetList(waitKey, markerKey, pushCmd, isPausedOrMaxed, jobId)
    else
        if lifo then
            pushBackJobWithPriority(prioritizedKey, priority, jobId)
        else
            addJobWithPriority(markerKey, prioritizedKey, priority, jobId,
                priorityCounter, isPausedOrMaxed)
        end
    end
end
if rcall("EXISTS", jobKey) == 1 then
    local metaKey = KEYS[3]
    local activeKey = KEYS[5]
    local waitKey = KEYS[1]
    local pausedKey = KEYS[2]
    local isPausedOrMaxed = isQueuePausedOrMaxed(metaKey, activeKey)
    local prioritizedKey = KEYS[4]
    local priorityCounterKey = KEYS[6]
    local markerKey = KEYS[7]
    -- Re-add with the new priority
    if rcall("ZREM", prioritizedKey, jobId) > 0 then
        reAddJobWithNewPriority( prioritizedKey, markerKey, waitKey,
            priorityCounterKey, ARGV[4] == '1', priority, jobId, isPausedOrMaxed)
    elseif rcall("LREM", waitKey, -1, jobId) > 0 then
        reAddJobWithNewPriority( prioritizedKey, markerKey, waitKey,
            priorityCounterKey, ARGV[4] == '1', priority, jobId, isPausedOrMaxed)
    end
    rcall("HSET", jobKey, "priority", priority)
    return 0
else
    return -1
end
"""#

    /// extendLock-2.lua
    static let extendLock = #"""
--[[
  Extend lock and removes the job from the stalled set.
  Input:
    KEYS[1] 'lock',
    KEYS[2] 'stalled'
    ARGV[1]  token
    ARGV[2]  lock duration in milliseconds
    ARGV[3]  jobid
  Output:
    "1" if lock extended successfully.
]]
local rcall = redis.call
if rcall("GET", KEYS[1]) == ARGV[1] then
  --   if rcall("SET", KEYS[1], ARGV[1], "PX", ARGV[2], "XX") then
  if rcall("SET", KEYS[1], ARGV[1], "PX", ARGV[2]) then
    rcall("SREM", KEYS[2], ARGV[3])
    return 1
  end
end
return 0
"""#

    /// extendLocks-1.lua
    static let extendLocks = #"""
--[[
  Extend locks for multiple jobs and remove them from the stalled set if successful.
  Return the list of job IDs for which the operation failed.
  KEYS[1] = stalled key
  ARGV[1] = baseKey
  ARGV[2] = tokens
  ARGV[3] = jobIds
  ARGV[4] = lockDuration (ms)
  Output:
    An array of failed job IDs. If empty, all succeeded.
]]
local rcall = redis.call
local stalledKey = KEYS[1]
local baseKey = ARGV[1]
local tokens = cmsgpack.unpack(ARGV[2])
local jobIds = cmsgpack.unpack(ARGV[3])
local lockDuration = ARGV[4]
local jobCount = #jobIds
local failedJobs = {}
for i = 1, jobCount, 1 do
    local lockKey = baseKey .. jobIds[i] .. ':lock'
    local jobId = jobIds[i]
    local token = tokens[i]
    local currentToken = rcall("GET", lockKey)
    if currentToken then
        if currentToken == token then
            local setResult = rcall("SET", lockKey, token, "PX", lockDuration)
            if setResult then
                rcall("SREM", stalledKey, jobId)
            else
                table.insert(failedJobs, jobId)
            end
        else
            table.insert(failedJobs, jobId)
        end
    else
        table.insert(failedJobs, jobId)
    end
end
return failedJobs
"""#

    /// getCounts-1.lua
    static let getCounts = #"""
--[[
  Get counts per provided states
    Input:
      KEYS[1]    'prefix'
      ARGV[1...] types
]]
local rcall = redis.call;
local prefix = KEYS[1]
local results = {}
for i = 1, #ARGV do
  local stateKey = prefix .. ARGV[i]
  if ARGV[i] == "wait" or ARGV[i] == "paused" then
    -- Markers in waitlist DEPRECATED in v5: Remove in v6.
    local marker = rcall("LINDEX", stateKey, -1)
    if marker and string.sub(marker, 1, 2) == "0:" then
      local count = rcall("LLEN", stateKey)
      if count > 1 then
        rcall("RPOP", stateKey)
        results[#results+1] = count-1
      else
        results[#results+1] = 0
      end
    else
      results[#results+1] = rcall("LLEN", stateKey)
    end
  elseif ARGV[i] == "active" then
    results[#results+1] = rcall("LLEN", stateKey)
  else
    results[#results+1] = rcall("ZCARD", stateKey)
  end
end
return results
"""#

    /// getRanges-1.lua
    static let getRanges = #"""
--[[
  Get job ids per provided states
    Input:
      KEYS[1]    'prefix'
      ARGV[1]    start
      ARGV[2]    end
      ARGV[3]    asc
      ARGV[4...] types
]]
local rcall = redis.call
local prefix = KEYS[1]
local rangeStart = tonumber(ARGV[1])
local rangeEnd = tonumber(ARGV[2])
local asc = ARGV[3]
local results = {}
local function getRangeInList(listKey, asc, rangeStart, rangeEnd, results)
  if asc == "1" then
    local modifiedRangeStart
    local modifiedRangeEnd
    if rangeStart == -1 then
      modifiedRangeStart = 0
    else
      modifiedRangeStart = -(rangeStart + 1)
    end
    if rangeEnd == -1 then
      modifiedRangeEnd = 0
    else
      modifiedRangeEnd = -(rangeEnd + 1)
    end
    results[#results+1] = rcall("LRANGE", listKey,
      modifiedRangeEnd,
      modifiedRangeStart)
  else
    results[#results+1] = rcall("LRANGE", listKey, rangeStart, rangeEnd)
  end
end
for i = 4, #ARGV do
  local stateKey = prefix .. ARGV[i]
  if ARGV[i] == "wait" or ARGV[i] == "paused" then
    -- Markers in waitlist DEPRECATED in v5: Remove in v6.
    local marker = rcall("LINDEX", stateKey, -1)
    if marker and string.sub(marker, 1, 2) == "0:" then
      local count = rcall("LLEN", stateKey)
      if count > 1 then
        rcall("RPOP", stateKey)
        getRangeInList(stateKey, asc, rangeStart, rangeEnd, results)
      else
        results[#results+1] = {}
      end
    else
      getRangeInList(stateKey, asc, rangeStart, rangeEnd, results)
    end
  elseif ARGV[i] == "active" then
    getRangeInList(stateKey, asc, rangeStart, rangeEnd, results)
  else
    if asc == "1" then
      results[#results+1] = rcall("ZRANGE", stateKey, rangeStart, rangeEnd)
    else
      results[#results+1] = rcall("ZREVRANGE", stateKey, rangeStart, rangeEnd)
    end
  end
end
return results
"""#

    /// addLog-2.lua
    static let addLog = #"""
--[[
  Add job log
  Input:
    KEYS[1] job id key
    KEYS[2] job logs key
    ARGV[1] id
    ARGV[2] log
    ARGV[3] keepLogs
  Output:
    -1 - Missing job.
]]
local rcall = redis.call
if rcall("EXISTS", KEYS[1]) == 1 then -- // Make sure job exists
  local logCount = rcall("RPUSH", KEYS[2], ARGV[2])
  if ARGV[3] ~= '' then
    local keepLogs = tonumber(ARGV[3])
    rcall("LTRIM", KEYS[2], -keepLogs, -1)
    return math.min(keepLogs, logCount)
  end
  return logCount
else
  return -1
end
"""#

    /// updateData-1.lua
    static let updateData = #"""
--[[
  Update job data
  Input:
    KEYS[1] Job id key
    ARGV[1] data
  Output:
    0 - OK
   -1 - Missing job.
]]
local rcall = redis.call
if rcall("EXISTS",KEYS[1]) == 1 then -- // Make sure job exists
  rcall("HSET", KEYS[1], "data", ARGV[1])
  return 0
else
  return -1
end
"""#

    /// saveStacktrace-1.lua
    static let saveStacktrace = #"""
--[[
  Save stacktrace and failedReason.
  Input:
    KEYS[1] job key
    ARGV[1]  stacktrace
    ARGV[2]  failedReason
  Output:
     0 - OK
    -1 - Missing key
]]
local rcall = redis.call
if rcall("EXISTS", KEYS[1]) == 1 then
  rcall("HMSET", KEYS[1], "stacktrace", ARGV[1], "failedReason", ARGV[2])
  return 0
else
  return -1
end
"""#

    /// getStateV2-8.lua
    static let getStateV2 = #"""
--[[
  Get a job state
  Input: 
    KEYS[1] 'completed' key,
    KEYS[2] 'failed' key
    KEYS[3] 'delayed' key
    KEYS[4] 'active' key
    KEYS[5] 'wait' key
    KEYS[6] 'paused' key
    KEYS[7] 'waiting-children' key
    KEYS[8] 'prioritized' key
    ARGV[1] job id
  Output:
    'completed'
    'failed'
    'delayed'
    'active'
    'waiting'
    'waiting-children'
    'unknown'
]]
local rcall = redis.call
if rcall("ZSCORE", KEYS[1], ARGV[1]) then
  return "completed"
end
if rcall("ZSCORE", KEYS[2], ARGV[1]) then
  return "failed"
end
if rcall("ZSCORE", KEYS[3], ARGV[1]) then
  return "delayed"
end
if rcall("ZSCORE", KEYS[8], ARGV[1]) then
  return "prioritized"
end
if rcall("LPOS", KEYS[4] , ARGV[1]) then
  return "active"
end
if rcall("LPOS", KEYS[5] , ARGV[1]) then
  return "waiting"
end
if rcall("LPOS", KEYS[6] , ARGV[1]) then
  return "waiting"
end
if rcall("ZSCORE", KEYS[7] , ARGV[1]) then
  return "waiting-children"
end
return "unknown"
"""#

    /// isFinished-3.lua
    static let isFinished = #"""
--[[
  Checks if a job is finished (.i.e. is in the completed or failed set)
  Input: 
    KEYS[1] completed key
    KEYS[2] failed key
    KEYS[3] job key
    ARGV[1] job id
    ARGV[2] return value?
  Output:
    0 - Not finished.
    1 - Completed.
    2 - Failed.
   -1 - Missing job. 
]]
local rcall = redis.call
if rcall("EXISTS", KEYS[3]) ~= 1 then
  if ARGV[2] == "1" then
    return {-1,"Missing key for job " .. KEYS[3] .. ". isFinished"}
  end  
  return -1
end
if rcall("ZSCORE", KEYS[1], ARGV[1]) then
  if ARGV[2] == "1" then
    local returnValue = rcall("HGET", KEYS[3], "returnvalue")
    return {1,returnValue}
  end
  return 1
end
if rcall("ZSCORE", KEYS[2], ARGV[1]) then
  if ARGV[2] == "1" then
    local failedReason = rcall("HGET", KEYS[3], "failedReason")
    return {2,failedReason}
  end
  return 2
end
if ARGV[2] == "1" then
  return {0}
end
return 0
"""#

    /// releaseLock-1.lua
    static let releaseLock = #"""
--[[
  Release lock
    Input:
      KEYS[1] 'lock',
      ARGV[1]  token
      ARGV[2]  lock duration in milliseconds
    Output:
      "OK" if lock extended successfully.
]]
local rcall = redis.call
if rcall("GET", KEYS[1]) == ARGV[1] then
  return rcall("DEL", KEYS[1])
else
  return 0
end
"""#
}

/// A MessagePack value, encoded as Python's msgpack.packb(use_bin_type=True) encodes it: BullMQ's client
/// packs its job arguments and options so, and its scripts read them with cmsgpack.unpack.
indirect enum Pack {
    case string(String), int(Int), bool(Bool), null, array([Pack]), map([(String, Pack)])

    var bytes: [UInt8] {
        switch self {
        case .null: return [0xC0]
        case .bool(let b): return [b ? 0xC3 : 0xC2]
        case .int(let n):
            if n >= 0 && n < 128 { return [UInt8(n)] }
            if n < 0 && n >= -32 { return [UInt8(bitPattern: Int8(n))] }
            if n >= 0 { return [0xCF] + bigEndian(UInt64(n), 8) }
            return [0xD3] + bigEndian(UInt64(bitPattern: Int64(n)), 8)
        case .string(let text):
            let utf8 = Array(text.utf8)
            if utf8.count < 32 { return [0xA0 | UInt8(utf8.count)] + utf8 }
            if utf8.count < 256 { return [0xD9, UInt8(utf8.count)] + utf8 }
            return [0xDA] + bigEndian(UInt64(utf8.count), 2) + utf8
        case .array(let elements):
            precondition(elements.count < 16)
            return [0x90 | UInt8(elements.count)] + elements.flatMap(\.bytes)
        case .map(let pairs):
            precondition(pairs.count < 16)
            return [0x80 | UInt8(pairs.count)] + pairs.flatMap { Pack.string($0.0).bytes + $0.1.bytes }
        }
    }

    private func bigEndian(_ value: UInt64, _ count: Int) -> [UInt8] {
        (0..<count).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }
}
