import Glibc

/// A small fixed pool of worker threads with a FIFO job queue, for work that must not stall the event loop:
/// freeing huge values (lazyfree), fsync of the AOF, writing snapshots (Redis's bio.c threads).
///
/// Jobs run in submission order per pool but concurrently across workers; a job must not touch loop-owned
/// state. Freeing works because Swift reference counting is atomic: the loop hands over the last reference
/// to a value it has already unlinked, and the release (and the deallocation of every node) happens on the
/// worker that drops it.
final class ThreadPool {
    typealias Job = () -> Void

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let workAvailable = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let jobFinished = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [Job] = []
    private var queueHead = 0
    private var running = 0
    private var stopping = false
    private var threads: [pthread_t] = []

    /// Runs on each worker thread before its first job.
    private let threadStart: (() -> Void)?

    init(threads count: Int, threadStart: (() -> Void)? = nil) {
        precondition(count > 0, "a thread pool needs at least one thread")
        self.threadStart = threadStart
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(workAvailable, nil)
        pthread_cond_init(jobFinished, nil)
        for _ in 0..<count {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(self).toOpaque()
            let rc = pthread_create(&thread, nil, { context in
                let pool = Unmanaged<ThreadPool>.fromOpaque(context!).takeRetainedValue()
                pool.workerLoop()
                return nil
            }, context)
            precondition(rc == 0, "pthread_create failed: \(rc)")
            threads.append(thread)
        }
    }

    deinit {
        pthread_mutex_destroy(mutex)
        pthread_cond_destroy(workAvailable)
        pthread_cond_destroy(jobFinished)
        mutex.deallocate()
        workAvailable.deallocate()
        jobFinished.deallocate()
    }

    /// Queues `job` to run on a worker thread.
    func submit(_ job: @escaping Job) {
        pthread_mutex_lock(mutex)
        precondition(!stopping, "submit after shutdown")
        queue.append(job)
        pthread_cond_signal(workAvailable)
        pthread_mutex_unlock(mutex)
    }

    /// Jobs queued or running (the AOF's pending fsyncs).
    var pendingJobs: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return queue.count - queueHead + running
    }

    /// Blocks until every job submitted so far has finished (tests, shutdown).
    func waitUntilIdle() { waitUntil(pendingAtMost: 0) }

    /// Blocks until at most `limit` jobs are queued or running (a producer that must not run ahead).
    func waitUntil(pendingAtMost limit: Int) {
        pthread_mutex_lock(mutex)
        while queue.count - queueHead + running > limit { pthread_cond_wait(jobFinished, mutex) }
        pthread_mutex_unlock(mutex)
    }

    /// Finishes the queued jobs, then stops and joins the workers.
    func shutdown() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(workAvailable)
        pthread_mutex_unlock(mutex)
        for thread in threads { pthread_join(thread, nil) }
        threads.removeAll()
    }

    private func workerLoop() {
        threadStart?()
        pthread_mutex_lock(mutex)
        while true {
            while queueHead == queue.count && !stopping { pthread_cond_wait(workAvailable, mutex) }
            if queueHead == queue.count { break }  // stopping, and nothing left to do
            let job = queue[queueHead]
            queueHead += 1
            if queueHead == queue.count {
                queue.removeAll(keepingCapacity: true)
                queueHead = 0
            }
            running += 1
            pthread_mutex_unlock(mutex)
            job()
            pthread_mutex_lock(mutex)
            running -= 1
            pthread_cond_broadcast(jobFinished)  // waiters recheck their limit
        }
        pthread_mutex_unlock(mutex)
    }
}

/// A one-shot signal from a job to the thread that needs its result: the job opens it when done, and `wait`
/// returns once it is open (at once if it already is). Writes the job made before `open` are visible after
/// `wait` (the mutex orders them).
final class Latch {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let opened = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var isOpen = false

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(opened, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        pthread_cond_destroy(opened)
        mutex.deallocate()
        opened.deallocate()
    }

    func open() {
        pthread_mutex_lock(mutex)
        isOpen = true
        pthread_cond_broadcast(opened)
        pthread_mutex_unlock(mutex)
    }

    func wait() {
        pthread_mutex_lock(mutex)
        while !isOpen { pthread_cond_wait(opened, mutex) }
        pthread_mutex_unlock(mutex)
    }
}
