import CKinemaAPI
import Foundation
import Kinema

// MARK: - Status codes

extension kinema_status {
    init(_ code: KinemaError.Code) {
        self.init(rawValue: code.rawValue)
    }
}

/// The status and message a failed call reports, from any error thrown below it.
struct CallFailure: Error {
    let status: kinema_status
    let message: String

    init(status: kinema_status, message: String) {
        self.status = status
        self.message = message
    }

    init(_ error: Error) {
        if let failure = error as? CallFailure {
            self = failure
        } else if let kinemaError = error as? KinemaError {
            self.init(status: kinema_status(kinemaError.code), message: kinemaError.message)
        } else {
            self.init(status: KINEMA_ERROR_INTERNAL, message: "internal error: \(error)")
        }
    }

    static func invalid(_ message: String) -> CallFailure {
        CallFailure(status: KINEMA_ERROR_INVALID_ARGUMENT, message: message)
    }

    static func wrongState(_ message: String) -> CallFailure {
        CallFailure(status: KINEMA_ERROR_WRONG_STATE, message: message)
    }
}

/// Runs `body`; a thrown error becomes its status and this thread's last-error message.
func withStatus(_ body: () throws -> Void) -> kinema_status {
    do {
        try body()
        return KINEMA_OK
    } catch {
        let failure = CallFailure(error)
        LastError.set(failure.message)
        return failure.status
    }
}

/// Fixed descriptions of the status codes (allocated once, never freed).
enum StatusText {
    private static let table: [Int32: OwnedCString] = {
        var table: [Int32: OwnedCString] = [:]
        table[KINEMA_OK.rawValue] = OwnedCString("ok")
        table[KINEMA_RUNNING.rawValue] = OwnedCString("running")
        for code in KinemaError.Code.allCases {
            table[code.rawValue] = OwnedCString(code.summary)
        }
        return table
    }()
    private static let unknown = OwnedCString("unknown status")

    static func string(_ status: Int32) -> UnsafePointer<CChar> {
        (table[status] ?? unknown).constPointer
    }
}

// MARK: - Per-thread last error

/// The message of the last failed call on each thread (kinema_last_error). Stored as a
/// malloc'd copy in a pthread key whose destructor frees it when the thread ends.
enum LastError {
    private static let key: pthread_key_t? = {
        var key = pthread_key_t()
        guard pthread_key_create(&key, { free($0) }) == 0 else { return nil }
        return key
    }()
    private static let empty = OwnedCString("")

    static func set(_ message: String) {
        guard let key else { return }
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, strdup(message))
        free(previous)
    }

    static var current: UnsafePointer<CChar> {
        if let key, let value = pthread_getspecific(key) {
            return UnsafePointer(value.assumingMemoryBound(to: CChar.self))
        }
        return empty.constPointer
    }
}

/// Fixed names of the generation phases (allocated once, never freed).
enum PhaseText {
    private static let table: [Int32: OwnedCString] = Dictionary(
        uniqueKeysWithValues: GenerationPhase.allCases.map { ($0.rawValue, OwnedCString($0.name)) })
    private static let unknown = OwnedCString("unknown")

    static func string(_ phase: Int32) -> UnsafePointer<CChar> {
        (table[phase] ?? unknown).constPointer
    }
}
