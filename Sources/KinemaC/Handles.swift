import CKinemaAPI
import Foundation

/// Every object handed to C as a handle, keyed by its address. Each call looks its handle
/// up here, so a NULL, unknown or already freed handle is an error instead of a crash, and
/// the registry's strong reference keeps the object alive until its free function.
final class HandleRegistry: @unchecked Sendable {
    static let shared = HandleRegistry()

    private let lock = NSLock()
    private var objects: [UInt: AnyObject] = [:]

    /// Registers `object` and returns its handle (the object's address, never NULL).
    func register(_ object: AnyObject) -> UnsafeMutableRawPointer {
        let pointer = Unmanaged.passUnretained(object).toOpaque()
        lock.lock()
        objects[UInt(bitPattern: pointer)] = object
        lock.unlock()
        return pointer
    }

    /// The live object of type `T` behind `handle`, or nil.
    func lookup<T: AnyObject>(_ handle: UnsafeRawPointer?, as type: T.Type) -> T? {
        guard let handle else { return nil }
        lock.lock()
        defer { lock.unlock() }
        return objects[UInt(bitPattern: handle)] as? T
    }

    /// Unregisters and returns the object of type `T` behind `handle`, or nil.
    func remove<T: AnyObject>(_ handle: UnsafeRawPointer?, as type: T.Type) -> T? {
        guard let handle else { return nil }
        let key = UInt(bitPattern: handle)
        lock.lock()
        defer { lock.unlock() }
        guard let object = objects[key] as? T else { return nil }
        objects[key] = nil
        return object
    }
}

extension HandleRegistry {
    func model(_ handle: UnsafeRawPointer?) throws -> ModelHandle {
        guard handle != nil else { throw CallFailure.invalid("model is NULL") }
        guard let model = lookup(handle, as: ModelHandle.self) else {
            throw CallFailure.invalid("model is not a live kinema_model (already freed?)")
        }
        return model
    }

    func job(_ handle: UnsafeRawPointer?) throws -> Job {
        guard handle != nil else { throw CallFailure.invalid("job is NULL") }
        guard let job = lookup(handle, as: Job.self) else {
            throw CallFailure.invalid("job is not a live kinema_job (already freed?)")
        }
        return job
    }
}

/// A NUL-terminated copy of a Swift string, owned by the object that holds it.
final class OwnedCString: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<CChar>

    init(_ string: String) {
        let utf8 = Array(string.utf8CString)
        pointer = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
        pointer.initialize(from: utf8, count: utf8.count)
    }

    var constPointer: UnsafePointer<CChar> { UnsafePointer(pointer) }

    deinit {
        pointer.deallocate()
    }
}
