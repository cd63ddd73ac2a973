/// Kinema's version (semantic versioning); the C header's KINEMA_VERSION_* macros match it.
public enum KinemaVersion {
    public static let major = 0
    public static let minor = 1
    public static let patch = 0
    public static var string: String { "\(major).\(minor).\(patch)" }
}
