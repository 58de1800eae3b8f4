/// The loop's timer engine: one queue of timers keyed by deadline, the clock it reads, the list of clients
/// ordered by idleness. (When the active expire cycle runs is Engine/ActiveExpire.swift's.)
///
/// The loop asks the queue how long it may sleep (`pollTimeoutMillis`: until the nearest deadline, rounded
/// up so it never wakes early and spins), then runs what is due (`runDue`). Everything periodic is a
/// one-shot timer its handler schedules again: the server cron (`hz`), slices of the active expire cycle,
/// and the idle-client check, which is armed for the moment the least recently active client would pass
/// `timeout`, so no cron ever scans the clients.
///
/// TimerQueue is a binary min-heap of slot numbers ordered by (deadline, sequence). Each slot records its
/// position in the heap, so cancelling or moving a timer is O(log n) with no tombstones left in the heap.
/// The sequence number makes equal deadlines fire in the order they were set, and lets `runDue` skip timers
/// set while it runs: a handler that schedules work "now" (an expire slice) cannot keep the loop from
/// polling for events in between. Handles carry the slot's generation, so the handle of a timer that has
/// fired or was cancelled is simply stale: cancelling it does nothing.
///
/// Time is in monotonic microseconds from an injectable `MonotonicClock` (a generic parameter, so the hot
/// path has no existential): the real clock in the server, `ManualClock` in tests, which never sleep.

/// Where the timer engine reads the time: monotonic microseconds.
///
/// Not named `Clock`: that would shadow the standard library's `Clock` protocol inside the module.
protocol MonotonicClock {
    func nowMicros() -> Int64
}

/// CLOCK_MONOTONIC.
struct SystemClock: MonotonicClock {
    @inline(__always) func nowMicros() -> Int64 { monotonicMicros() }
}

/// A clock that moves only when told to (tests). A class, so a queue holding it sees every `advance`.
final class ManualClock: MonotonicClock {
    var micros: Int64
    init(micros: Int64 = 0) { self.micros = micros }
    func nowMicros() -> Int64 { micros }
    func advance(micros delta: Int64) { micros += delta }
    func advance(millis delta: Int64) { micros += delta * 1000 }
}

// MARK: - TimerQueue

/// Identifies one scheduled timer. Stale once the timer fired or was cancelled.
struct TimerHandle: Equatable {
    fileprivate let slot: Int32
    fileprivate let generation: UInt32
}

final class TimerQueue<Payload, Clock: MonotonicClock> {
    let clock: Clock

    private struct Slot {
        var deadline: Int64 = 0
        var sequence: UInt64 = 0
        /// Position in `heap`; -1 while the slot is free.
        var heapIndex: Int32 = -1
        var generation: UInt32 = 0
        var payload: Payload?
    }

    @exclusivity(unchecked) private var slots: [Slot] = []
    @exclusivity(unchecked) private var freeSlots: [Int32] = []
    /// Slot numbers; heap[0] is the earliest deadline.
    @exclusivity(unchecked) private var heap: [Int32] = []
    @exclusivity(unchecked) private var nextSequence: UInt64 = 0

    init(clock: Clock) { self.clock = clock }

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }
    @inline(__always) var now: Int64 { clock.nowMicros() }

    /// The earliest deadline, nil when nothing is scheduled.
    var nextDeadline: Int64? { heap.isEmpty ? nil : slots[Int(heap[0])].deadline }

    /// Schedules `payload` for `deadline` (monotonic µs; a time already past fires on the next `runDue`).
    /// - Complexity: O(log n)
    @discardableResult
    func schedule(at deadline: Int64, _ payload: Payload) -> TimerHandle {
        let slot: Int32
        if let reused = freeSlots.popLast() {
            slot = reused
        } else {
            slot = Int32(slots.count)
            slots.append(Slot())
        }
        slots[Int(slot)].payload = payload
        slots[Int(slot)].heapIndex = Int32(heap.count)
        heap.append(slot)
        place(slot, at: deadline)
        return TimerHandle(slot: slot, generation: slots[Int(slot)].generation)
    }

    /// Schedules `payload` `delay` microseconds from now.
    @discardableResult
    func schedule(after delay: Int64, _ payload: Payload) -> TimerHandle {
        schedule(at: now &+ delay, payload)
    }

    /// Whether the timer is still waiting to fire.
    func isScheduled(_ handle: TimerHandle) -> Bool { index(of: handle) != nil }

    func deadline(of handle: TimerHandle) -> Int64? {
        index(of: handle) == nil ? nil : slots[Int(handle.slot)].deadline
    }

    /// Cancels a timer; false when it had already fired or been cancelled.
    /// - Complexity: O(log n)
    @discardableResult
    func cancel(_ handle: TimerHandle) -> Bool {
        guard let i = index(of: handle) else { return false }
        removeFromHeap(at: i)
        release(handle.slot)
        return true
    }

    /// Moves a waiting timer to a new deadline (it then fires after timers already set for that same
    /// deadline); false when it had already fired or been cancelled.
    /// - Complexity: O(log n)
    @discardableResult
    func reschedule(_ handle: TimerHandle, at deadline: Int64) -> Bool {
        guard index(of: handle) != nil else { return false }
        place(handle.slot, at: deadline)
        return true
    }

    /// How long `epoll_wait` may sleep: until the nearest deadline in whole milliseconds rounded up (epoll
    /// cannot sleep less than a millisecond, and waking early would only spin), 0 when a timer is due,
    /// -1 (forever) when nothing is scheduled.
    func pollTimeoutMillis(now: Int64) -> Int32 {
        guard let deadline = nextDeadline else { return -1 }
        let wait = deadline &- now
        if wait <= 0 { return 0 }
        let millis = wait / 1000 + (wait % 1000 == 0 ? 0 : 1)
        return Int32(clamping: millis)
    }

    func pollTimeoutMillis() -> Int32 { pollTimeoutMillis(now: now) }

    /// Fires, earliest first, every timer whose deadline is at or before the current time and that was set
    /// before this call, passing its payload and deadline; `body` may schedule and cancel timers. A timer is
    /// unscheduled (its handle stale) before its handler runs: a periodic one schedules itself again.
    /// Returns how many fired.
    @discardableResult
    func runDue(_ body: (_ payload: Payload, _ deadline: Int64) -> Void) -> Int {
        let now = self.now
        let horizon = nextSequence
        var fired = 0
        // `heap[0]`, not `heap.first`: unspecialised in a debug build, `first` allocates, and this runs once
        // per loop iteration (AllocationTests count debug builds' allocations).
        while !heap.isEmpty {
            let top = heap[0]
            let s = slots[Int(top)]
            if s.deadline > now || s.sequence >= horizon { break }
            let payload = s.payload!
            removeFromHeap(at: 0)
            release(top)
            fired += 1
            body(payload, s.deadline)
        }
        return fired
    }

    // MARK: Heap internals

    private func index(of handle: TimerHandle) -> Int? {
        guard handle.slot >= 0 && Int(handle.slot) < slots.count else { return nil }
        let s = slots[Int(handle.slot)]
        guard s.generation == handle.generation && s.heapIndex >= 0 else { return nil }
        return Int(s.heapIndex)
    }

    /// Gives a slot in the heap a new deadline and sequence, and restores the heap order around it.
    private func place(_ slot: Int32, at deadline: Int64) {
        slots[Int(slot)].deadline = deadline
        slots[Int(slot)].sequence = nextSequence
        nextSequence += 1
        let i = Int(slots[Int(slot)].heapIndex)
        if !siftUp(i) { siftDown(i) }
    }

    private func release(_ slot: Int32) {
        slots[Int(slot)].heapIndex = -1
        slots[Int(slot)].payload = nil
        slots[Int(slot)].generation &+= 1
        freeSlots.append(slot)
    }

    private func removeFromHeap(at i: Int) {
        let last = heap.count - 1
        if i != last {
            move(heap[last], to: i)
            heap.removeLast()
            if !siftUp(i) { siftDown(i) }
        } else {
            heap.removeLast()
        }
    }

    @inline(__always) private func precedes(_ a: Int32, _ b: Int32) -> Bool {
        let x = slots[Int(a)], y = slots[Int(b)]
        return x.deadline < y.deadline || (x.deadline == y.deadline && x.sequence < y.sequence)
    }

    @inline(__always) private func move(_ slot: Int32, to i: Int) {
        heap[i] = slot
        slots[Int(slot)].heapIndex = Int32(i)
    }

    /// Returns whether the element moved.
    @discardableResult private func siftUp(_ start: Int) -> Bool {
        var i = start
        let slot = heap[i]
        while i > 0 {
            let parent = (i - 1) / 2
            if !precedes(slot, heap[parent]) { break }
            move(heap[parent], to: i)
            i = parent
        }
        if i != start { move(slot, to: i) }
        return i != start
    }

    private func siftDown(_ start: Int) {
        var i = start
        let slot = heap[i]
        let n = heap.count
        while true {
            var child = 2 * i + 1
            if child >= n { break }
            if child + 1 < n && precedes(heap[child + 1], heap[child]) { child += 1 }
            if !precedes(heap[child], slot) { break }
            move(heap[child], to: i)
            i = child
        }
        if i != start { move(slot, to: i) }
    }

    /// Heap order, positions recorded in the slots, free slots disjoint from the heap; tests call it after
    /// every mutation.
    func checkInvariants() {
        var inHeap = [Bool](repeating: false, count: slots.count)
        for (i, slot) in heap.enumerated() {
            precondition(slots[Int(slot)].heapIndex == Int32(i), "slot \(slot) records the wrong heap position")
            precondition(slots[Int(slot)].payload != nil, "a scheduled slot without its payload")
            precondition(!inHeap[Int(slot)], "slot \(slot) twice in the heap")
            inHeap[Int(slot)] = true
            if i > 0 { precondition(!precedes(slot, heap[(i - 1) / 2]), "heap order broken at \(i)") }
        }
        for slot in freeSlots {
            precondition(!inHeap[Int(slot)] && slots[Int(slot)].heapIndex == -1, "free slot \(slot) in the heap")
        }
        precondition(heap.count + freeSlots.count == slots.count, "slots lost")
    }
}

// MARK: - Idle clients

/// Clients ordered by the time of their last interaction, least recent first: a doubly-linked list threaded
/// through arrays indexed by a small integer slot (the server uses the client's fd, as dense as its
/// client table). A touch moves the slot to the tail in O(1); since the clock never goes back, the list
/// stays sorted by stamp, so the next client to time out is always the head, and the idle check looks at
/// the few clients that are actually due instead of scanning all of them.
///
/// Clients that must never time out (later: replicas, blocked and subscribed clients, as Redis exempts
/// them) are removed from the list while in that state, so the head is always a candidate.
struct IdleList {
    private struct Node {
        var previous: Int32 = -1
        var next: Int32 = -1
        var stamp: Int64 = 0
        var linked = false
    }

    private var nodes: [Node] = []
    private var head: Int32 = -1
    private var tail: Int32 = -1
    private(set) var count = 0

    /// The least recently active slot and its stamp.
    var oldest: (slot: Int, stamp: Int64)? {
        head < 0 ? nil : (Int(head), nodes[Int(head)].stamp)
    }

    func contains(_ slot: Int) -> Bool { slot < nodes.count && nodes[slot].linked }

    func stamp(of slot: Int) -> Int64? { contains(slot) ? nodes[slot].stamp : nil }

    /// Records an interaction at `stamp`: the slot (added if absent) becomes one of the most recent. A stamp
    /// earlier than the newest one is raised to it, which keeps the order (it cannot happen with a
    /// monotonic clock). A slot already stamped with the newest stamp stays where it is: every slot after it
    /// has that stamp too, so the list stays sorted without moving it (most touches under load, which come
    /// within the clock's tick).
    /// - Complexity: O(1) (amortised, when the slot table grows)
    mutating func touch(_ slot: Int, at stamp: Int64) {
        if slot >= nodes.count {
            nodes.append(contentsOf: repeatElement(Node(), count: max(slot + 1, nodes.count * 2) - nodes.count))
        }
        let s = Int32(slot)
        let newest = tail >= 0 ? nodes[Int(tail)].stamp : stamp
        let raised = max(stamp, newest)
        if nodes[slot].linked {
            if tail == s || nodes[slot].stamp == raised {
                nodes[slot].stamp = raised
                return
            }
            unlink(s)
        }
        nodes[slot].stamp = raised
        nodes[slot].previous = tail
        nodes[slot].next = -1
        nodes[slot].linked = true
        if tail >= 0 { nodes[Int(tail)].next = s } else { head = s }
        tail = s
        count += 1
    }

    /// Takes a slot out of the list (the client closed or became exempt); nothing when absent.
    /// - Complexity: O(1)
    mutating func remove(_ slot: Int) {
        guard contains(slot) else { return }
        unlink(Int32(slot))
    }

    private mutating func unlink(_ s: Int32) {
        let node = nodes[Int(s)]
        if node.previous >= 0 { nodes[Int(node.previous)].next = node.next } else { head = node.next }
        if node.next >= 0 { nodes[Int(node.next)].previous = node.previous } else { tail = node.previous }
        nodes[Int(s)].linked = false
        nodes[Int(s)].previous = -1
        nodes[Int(s)].next = -1
        count -= 1
    }

    /// Slots from least to most recently active (tests and debugging).
    var slotsInOrder: [Int] {
        var result: [Int] = []
        var s = head
        while s >= 0 {
            result.append(Int(s))
            s = nodes[Int(s)].next
        }
        return result
    }

    /// Links consistent both ways, stamps non-decreasing from head to tail, `count` right.
    func checkInvariants() {
        var seen = 0
        var previous: Int32 = -1
        var s = head
        while s >= 0 {
            let node = nodes[Int(s)]
            precondition(node.linked, "unlinked slot \(s) in the list")
            precondition(node.previous == previous, "broken back link at slot \(s)")
            if previous >= 0 { precondition(nodes[Int(previous)].stamp <= node.stamp, "idle list out of order at \(s)") }
            seen += 1
            precondition(seen <= count, "cycle in the idle list")
            previous = s
            s = node.next
        }
        precondition(previous == tail, "tail is not the last node")
        precondition(seen == count, "count \(count) but \(seen) linked")
        precondition(nodes.filter { $0.linked }.count == count, "linked nodes outside the list")
    }
}

/// The `timeout` setting on top of IdleList: one timer, armed for the moment the least recently active
/// client would pass the timeout. Touches never make the head older, so the timer is set again only when
/// it fires, when a first client arrives, or when `timeout` changes; when it fires, the clients due are
/// exactly a prefix of the list.
struct IdleClientTimeout {
    var list = IdleList()
    private(set) var timer: TimerHandle?
    /// The `timeout` (seconds) the timer was armed for; the server re-arms when the setting differs.
    private(set) var armedTimeout = 0

    /// Sets the timer (replacing any) for the head of the list; none when `timeout` is 0 or the list is
    /// empty.
    mutating func arm<Event, Clock>(timeout: Int, in timers: TimerQueue<Event, Clock>, event: Event) {
        if let timer { timers.cancel(timer) }
        timer = nil
        armedTimeout = timeout
        guard let (_, stamp) = list.oldest,
              let at = idleDeadlineMicros(lastInteractionMillis: stamp, timeoutSeconds: timeout) else { return }
        timer = timers.schedule(at: at, event)
    }

    /// The queue fired the timer (its handle is stale now).
    mutating func timerFired() { timer = nil }

    /// The slot of a client idle for more than `timeout` seconds at `now` (ms), least recent first; nil when
    /// none is. The caller closes it (removing it from the list) and asks again.
    func nextDue(nowMillis now: Int64, timeout: Int) -> Int? {
        guard timeout > 0, let (slot, stamp) = list.oldest, now - stamp > Int64(timeout) * 1000 else { return nil }
        return slot
    }
}

/// When a client idle since `stamp` (ms) passes a `timeout` of so many seconds: the first millisecond at
/// which it has been idle for *more* than the timeout, as Redis's `now - lastinteraction > maxidletime`;
/// in microseconds for the timer queue. nil when idle clients are never closed (timeout 0).
func idleDeadlineMicros(lastInteractionMillis stamp: Int64, timeoutSeconds: Int) -> Int64? {
    guard timeoutSeconds > 0 else { return nil }
    let timeoutMillis = Int64(timeoutSeconds).multipliedReportingOverflow(by: 1000)
    guard !timeoutMillis.overflow, stamp <= Int64.max / 1000 - timeoutMillis.partialValue - 1 else { return .max }
    return (stamp + timeoutMillis.partialValue + 1) * 1000
}

// MARK: - The cron

/// The server cron's period for `hz` (clamped to 1...500 as Redis does): Redis's serverCron returns
/// 1000/hz milliseconds.
func cronPeriodMicros(hz: Int) -> Int64 {
    Int64(1000 / max(1, min(500, hz))) * 1000
}

/// The next deadline of a periodic timer that fired for `deadline`: one period on, so the ticks do not
/// drift by the time the handler took; but when the loop was held up past that too, one period from now
/// (missed ticks are skipped, not run back to back).
func nextPeriodicDeadline(after deadline: Int64, period: Int64, now: Int64) -> Int64 {
    let next = deadline &+ period
    return next > now ? next : now &+ period
}
