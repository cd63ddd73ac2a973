import CKinemaAPI
import Foundation
import Kinema

/// Turns a model directory into an engine. Loaders registered here are tried first, in
/// order (a loader returns nil for a directory it does not recognise); the built-in one
/// follows.
public enum ModelLoader {
    /// Options read from `kinema_model_params`.
    public struct Options: Sendable {
        public var threads: Int?
    }

    public typealias Loader = @Sendable (URL, Options) throws -> (any GenerationEngine)?

    private static let lock = NSLock()
    nonisolated(unsafe) private static var loaders: [Loader] = []

    /// Adds a loader tried before the built-in one.
    public static func register(_ loader: @escaping Loader) {
        lock.lock()
        loaders.append(loader)
        lock.unlock()
    }

    static func load(_ url: URL, options: Options) throws -> any GenerationEngine {
        lock.lock()
        let registered = loaders
        lock.unlock()
        for loader in registered {
            if let engine = try loader(url, options) { return engine }
        }
        throw KinemaError.unsupported("\(url.path) is not a model directory this build of Kinema can load")
    }

    /// The model a NULL path means: the directory named by the KINEMA_MODEL environment variable.
    static func defaultModelPath() throws -> String {
        guard let value = getenv("KINEMA_MODEL") else {
            throw KinemaError(.missingComponent, "no model path given and KINEMA_MODEL is not set")
        }
        guard let path = String(validatingCString: value), !path.isEmpty else {
            throw KinemaError.invalidArgument("KINEMA_MODEL is empty or not valid UTF-8")
        }
        return path
    }
}

/// What a `kinema_model` handle refers to: a loaded engine plus the strings the C side reads.
final class ModelHandle: @unchecked Sendable {
    let engine: any GenerationEngine
    let path: OwnedCString
    let negativePrompt: OwnedCString

    // Recursive, so the callback may free its own model.
    private let logLock = NSRecursiveLock()
    private var logSink: LogSink?

    init(engine: any GenerationEngine, path: String, log: LogSink?) {
        self.engine = engine
        self.path = OwnedCString(path)
        self.negativePrompt = OwnedCString(engine.defaults.negativePrompt)
        self.logSink = log
    }

    /// Loads the model at `path` (nil: the default model), reporting to `log`.
    static func load(path: String?, settings: ModelLoadSettings) throws -> ModelHandle {
        let resolved = try path ?? ModelLoader.defaultModelPath()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory) else {
            throw KinemaError.io("no model at \(resolved)")
        }
        guard isDirectory.boolValue else {
            throw KinemaError.invalidArgument("\(resolved) is a file; a model is a directory")
        }
        // The kernels are built for AVX2/FMA: refuse here rather than fault in a job.
        try Compute.requireSupportedCPU()
        if let threads = settings.threads { Compute.setThreadCount(threads) }
        settings.log?.emit(KINEMA_LOG_INFO, "loading model from \(resolved)")
        let start = DispatchTime.now()
        let engine: any GenerationEngine
        do {
            engine = try ModelLoader.load(URL(fileURLWithPath: resolved, isDirectory: true),
                                          options: ModelLoader.Options(threads: settings.threads))
        } catch {
            settings.log?.emit(KINEMA_LOG_ERROR, CallFailure(error).message)
            throw error
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        settings.log?.emit(KINEMA_LOG_INFO, String(format: "model loaded in %.2f s", seconds))
        return ModelHandle(engine: engine, path: resolved, log: settings.log)
    }

    func log(_ level: kinema_log_level, _ message: String) {
        logLock.lock()
        defer { logLock.unlock() }
        logSink?.emit(level, message)
    }

    /// Called by kinema_model_free: no model callback runs after it returns.
    func detachLog() {
        logLock.lock()
        logSink = nil
        logLock.unlock()
    }
}
