import CKinemaAPI
import Foundation
import Kinema

/// One generation: runs on its own thread (or the caller's, for kinema_generate), reports
/// progress to its callbacks and keeps its outcome until freed.
///
/// Every callback runs before the job is marked finished, so a waiter that returns (and
/// kinema_job_free, which waits) knows no callback of this job runs afterwards.
final class Job: @unchecked Sendable {
    private enum State {
        case created, running, finished(kinema_status)
    }

    let model: ModelHandle
    private let settings: JobSettings
    private let token = CancellationToken()

    // `condition` guards everything below it.
    private let condition = NSCondition()
    private var state = State.created
    private var progress: GenerationProgress
    private var progressTime = DispatchTime.now()
    private var startTime = DispatchTime.now()
    private var storage: ResultStorage?
    private var message: OwnedCString?
    private var worker: pthread_t?
    private var callbacksEnabled = true
    /// Whether the job runs on a thread of its own (false for kinema_generate).
    private var background = true

    // Serialises the C callbacks, so a job's callbacks never run concurrently even if the
    // engine reports from several threads. Recursive: a callback may end up logging.
    private let callbackLock = NSRecursiveLock()

    private static let noMessage = OwnedCString("")

    init(model: ModelHandle, settings: JobSettings) {
        self.model = model
        self.settings = settings
        self.progress = GenerationProgress(phase: .queued, step: 0, totalSteps: 0, fraction: 0,
                                           elapsedSeconds: 0, etaSeconds: nil)
    }

    // MARK: - Running

    /// Starts the generation on a new thread.
    func start() throws {
        markRunning()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        pthread_attr_setstacksize(&attributes, 8 << 20)
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { raw in
            if let raw {
                Unmanaged<Job>.fromOpaque(raw).takeRetainedValue().run()
            }
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<Job>.fromOpaque(context).release()
            let failure = CallFailure(status: KINEMA_ERROR_OUT_OF_MEMORY,
                                      message: "could not start a thread for the job: \(String(cString: strerror(rc)))")
            finish(failure.status, storage: nil, message: failure.message)
            throw failure
        }
    }

    /// Runs the generation on the calling thread and returns its status.
    func runHere() -> kinema_status {
        markRunning()
        background = false
        run()
        return status
    }

    /// Marks the job running before its thread exists, so a kinema_job_free right after
    /// kinema_job_start waits for it.
    private func markRunning() {
        condition.lock()
        state = .running
        startTime = DispatchTime.now()
        condition.unlock()
    }

    private func run() {
        condition.lock()
        worker = pthread_self()
        condition.unlock()
        if background { Thread.current.name = "kinema-job" }

        if let threads = settings.threads { Compute.setThreadCount(threads) }
        log(KINEMA_LOG_INFO, "generating \"\(settings.request.prompt.prefix(80))\"")
        do {
            try token.check()
            let result = try model.engine.generate(settings.request, cancel: token) { [self] report in
                reportProgress(report)
            }
            let stored = ResultStorage(result)
            for note in result.notes { log(KINEMA_LOG_INFO, note) }
            log(KINEMA_LOG_INFO, "done: " + stored.summary)
            finish(KINEMA_OK, storage: stored, message: nil)
        } catch {
            let failure = CallFailure(error)
            log(failure.status == KINEMA_ERROR_CANCELLED ? KINEMA_LOG_INFO : KINEMA_LOG_ERROR, failure.message)
            finish(failure.status, storage: nil, message: failure.message)
        }
    }

    private func finish(_ status: kinema_status, storage: ResultStorage?, message: String?) {
        condition.lock()
        self.storage = storage
        self.message = message.map(OwnedCString.init)
        if status == KINEMA_OK {
            progress = GenerationProgress(phase: .finished, step: progress.totalSteps,
                                          totalSteps: progress.totalSteps, fraction: 1,
                                          elapsedSeconds: seconds(since: startTime), etaSeconds: 0)
            progressTime = DispatchTime.now()
        }
        state = .finished(status)
        condition.broadcast()
        condition.unlock()
    }

    // MARK: - Callbacks

    private func reportProgress(_ report: GenerationProgress) {
        condition.lock()
        let phaseChanged = report.phase != progress.phase
        progress = report
        progressTime = DispatchTime.now()
        let enabled = callbacksEnabled
        condition.unlock()

        if phaseChanged {
            log(KINEMA_LOG_DEBUG, "phase: \(report.phase.name)")
        }
        guard enabled, let callback = settings.progressCallback else { return }
        var snapshot = progressStruct(report)
        callbackLock.lock()
        let keepGoing = callback(&snapshot, settings.progressUserData)
        callbackLock.unlock()
        if !keepGoing {
            log(KINEMA_LOG_INFO, "cancel requested by the progress callback")
            token.cancel()
        }
    }

    private func log(_ level: kinema_log_level, _ message: String) {
        condition.lock()
        let enabled = callbacksEnabled
        condition.unlock()
        guard enabled else { return }
        callbackLock.lock()
        defer { callbackLock.unlock() }
        if let sink = settings.log {
            sink.emit(level, message)
        } else {
            model.log(level, message)
        }
    }

    // MARK: - Queries

    /// KINEMA_RUNNING until the job finishes, then its final status.
    var status: kinema_status {
        condition.lock()
        defer { condition.unlock() }
        if case .finished(let status) = state { return status }
        return KINEMA_RUNNING
    }

    /// Latest progress, with the elapsed time and ETA brought up to now while running.
    var currentProgress: GenerationProgress {
        condition.lock()
        defer { condition.unlock() }
        var snapshot = progress
        switch state {
        case .created:
            break
        case .running:
            let sinceReport = seconds(since: progressTime)
            snapshot.elapsedSeconds = seconds(since: startTime)
            snapshot.etaSeconds = progress.etaSeconds.map { max(0, $0 - sinceReport) }
        case .finished:
            break
        }
        return snapshot
    }

    func cancel() {
        token.cancel()
    }

    /// Whether the calling thread is this job's own (a callback is running on it).
    var isOnWorkerThread: Bool {
        condition.lock()
        defer { condition.unlock() }
        if let worker { return pthread_equal(worker, pthread_self()) != 0 }
        return false
    }

    /// Blocks until the job finishes; returns its status.
    func wait() throws -> kinema_status {
        try checkNotWorker("kinema_job_wait")
        condition.lock()
        defer { condition.unlock() }
        while true {
            if case .finished(let status) = state { return status }
            condition.wait()
        }
    }

    /// Blocks until the job finishes or `timeout` seconds pass (KINEMA_RUNNING).
    func wait(timeout: Double) throws -> kinema_status {
        try checkNotWorker("kinema_job_wait_timeout")
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if case .finished(let status) = state { return status }
            if !condition.wait(until: deadline) {
                if case .finished(let status) = state { return status }
                return KINEMA_RUNNING
            }
        }
    }

    private func checkNotWorker(_ function: String) throws {
        if isOnWorkerThread {
            throw CallFailure.wrongState("\(function) called from the job's own callback; it would never return")
        }
    }

    /// The result, once the job has finished successfully.
    func result() throws -> ResultStorage {
        condition.lock()
        defer { condition.unlock() }
        switch state {
        case .created, .running:
            throw CallFailure.wrongState("the job has not finished; call kinema_job_wait first")
        case .finished(let status):
            guard let storage else {
                throw CallFailure(
                    status: KINEMA_ERROR_WRONG_STATE,
                    message: "the job failed (\(String(cString: StatusText.string(status.rawValue)))): "
                        + String(cString: (message ?? Job.noMessage).constPointer))
            }
            return storage
        }
    }

    /// The failure message ("" while running and after success), owned by the job.
    var errorMessage: UnsafePointer<CChar> {
        condition.lock()
        defer { condition.unlock() }
        return (message ?? Job.noMessage).constPointer
    }

    /// For kinema_job_free: cancel, wait unless called from a callback of this very job,
    /// and call no callback after that.
    func release() {
        token.cancel()
        if isOnWorkerThread {
            condition.lock()
            callbacksEnabled = false
            condition.unlock()
            return
        }
        condition.lock()
        while true {
            if case .running = state {
                condition.wait()
                continue
            }
            break
        }
        callbacksEnabled = false
        condition.unlock()
    }
}

private func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds &- start.uptimeNanoseconds) / 1e9
}
