/// The one error type Kinema throws: a stable numeric code (the C API's status) plus a
/// message that names the problem (the file, the tensor, the parameter).
public struct KinemaError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Status codes shared with the C API: 0 is success, every error is negative.
    public enum Code: Int32, Sendable, CaseIterable {
        case invalidArgument = -1
        case io = -2
        case corruptFile = -3
        case unsupported = -4
        case shapeMismatch = -5
        case cancelled = -6
        case outOfMemory = -7
        case missingComponent = -8
        case encoder = -9
        case wrongState = -10
        case internalError = -99

        public var summary: String {
            switch self {
            case .invalidArgument: return "invalid argument"
            case .io: return "input/output error"
            case .corruptFile: return "corrupt or malformed file"
            case .unsupported: return "unsupported"
            case .shapeMismatch: return "shape mismatch"
            case .cancelled: return "cancelled"
            case .outOfMemory: return "out of memory"
            case .missingComponent: return "missing model component"
            case .encoder: return "video encoder error"
            case .wrongState: return "call made in the wrong state"
            case .internalError: return "internal error"
            }
        }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func invalidArgument(_ m: String) -> KinemaError { .init(.invalidArgument, m) }
    public static func io(_ m: String) -> KinemaError { .init(.io, m) }
    public static func corrupt(_ m: String) -> KinemaError { .init(.corruptFile, m) }
    public static func unsupported(_ m: String) -> KinemaError { .init(.unsupported, m) }
    public static func shape(_ m: String) -> KinemaError { .init(.shapeMismatch, m) }
    public static let cancelled = KinemaError(.cancelled, "the operation was cancelled")
}
