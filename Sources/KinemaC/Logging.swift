import CKinemaAPI
import Foundation

/// A C log callback with its user data and the least level it wants.
struct LogSink: @unchecked Sendable {
    let callback: kinema_log_callback
    let userData: UnsafeMutableRawPointer?
    let minimumLevel: Int32

    init?(callback: kinema_log_callback?, userData: UnsafeMutableRawPointer?, minimumLevel: Int32) {
        guard let callback else { return nil }
        self.callback = callback
        self.userData = userData
        self.minimumLevel = minimumLevel
    }

    func emit(_ level: kinema_log_level, _ message: String) {
        guard Int32(level.rawValue) >= minimumLevel else { return }
        message.withCString { callback(Int32(level.rawValue), $0, userData) }
    }
}

/// Checks a `log_level` field.
func validateLogLevel(_ level: Int32, field: String) throws {
    guard (Int32(KINEMA_LOG_DEBUG.rawValue)...Int32(KINEMA_LOG_ERROR.rawValue)).contains(level) else {
        throw CallFailure.invalid("\(field) is \(level); expected KINEMA_LOG_DEBUG (0) to KINEMA_LOG_ERROR (3)")
    }
}
