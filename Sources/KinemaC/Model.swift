import CKinemaAPI
import CKinemaSupport
import Foundation
import Kinema

/// Where a NULL model path leads: `$KINEMA_MODEL`, else Kinema-Tiny installed beside this
/// library (`<prefix>/share/kinema/models/kinema-tiny`) or in the source tree it was built in.
enum LibraryDefaultModel {
    /// The file this library was loaded from (libkinema.so), as the dynamic loader reports it.
    static var libraryURL: URL? {
        guard let name = ksupport_own_image_path(), let path = String(validatingCString: name), !path.isEmpty else {
            return nil
        }
        return URL(fileURLWithPath: path).resolvingSymlinksInPath()
    }

    static func path() throws -> String {
        try Kinema.DefaultModel.locate(relativeTo: libraryURL).path
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
        let resolved = try path ?? LibraryDefaultModel.path()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory) else {
            throw KinemaError.io("no model at \(resolved)")
        }
        guard isDirectory.boolValue else {
            throw KinemaError.invalidArgument("\(resolved) is a file; a model is a directory")
        }
        settings.log?.emit(KINEMA_LOG_INFO, "loading model from \(resolved)")
        let start = DispatchTime.now()
        var options = PipelineOptions()
        options.threads = settings.threads
        options.keepStoredPrecision = settings.keepStoredPrecision
        if let budget = settings.vaeMemoryBudgetBytes { options.vaeMemoryBudgetBytes = budget }
        if let log = settings.log {
            options.log = { message in log.emit(KINEMA_LOG_INFO, message) }
        }
        let engine: any GenerationEngine
        do {
            engine = try Pipeline(modelDirectory: URL(fileURLWithPath: resolved, isDirectory: true), options: options)
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
