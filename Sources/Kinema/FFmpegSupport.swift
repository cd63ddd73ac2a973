// Pieces shared by the MP4 writer, the PNG sequence writer and the video probe: FFmpeg error
// text, RGB float → 8-bit quantisation, BT.709 swscale contexts and output-path handling.

import CFFmpeg
import Foundation

// MARK: - Errors

enum FFmpegError {
    /// FFmpeg's text for an error code (`av_strerror`).
    static func text(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        buffer.withUnsafeMutableBufferPointer { bp in
            if let base = bp.baseAddress { cff_err2str(code, base, bp.count) }
        }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A `KinemaError` of `code` saying what failed and FFmpeg's reason.
    static func error(_ code: KinemaError.Code, _ what: String, _ status: Int32) -> KinemaError {
        KinemaError(code, "\(what): \(text(status)) (FFmpeg error \(status))")
    }
}

// MARK: - Pixel conversion

enum PixelQuantizer {
    /// One channel value in [0, 1] to 8 bits: clamped, rounded to nearest. NaN becomes 0.
    @inline(__always)
    static func byte(_ v: Float) -> UInt8 {
        if !(v > 0) { return 0 }
        if v >= 1 { return 255 }
        return UInt8(v * 255 + 0.5)
    }

    /// Writes `height` rows of `width` RGB float pixels as packed RGB24 rows `stride` bytes apart.
    /// The caller has checked that `source` holds `height * width * 3` values and that
    /// `destination` holds `height * stride` bytes with `stride >= width * 3`.
    static func quantizeRGB(_ source: UnsafePointer<Float>, width: Int, height: Int,
                            into destination: UnsafeMutablePointer<UInt8>, stride: Int) {
        let rowValues = width * 3
        for y in 0..<height {
            let src = source + y * rowValues
            let dst = destination + y * stride
            for i in 0..<rowValues { dst[i] = byte(src[i]) }
        }
    }
}

/// swscale contexts tagged with the colour space Kinema writes: BT.709 coefficients, RGB in
/// full range, YUV in limited ("tv") range. The MP4 writer tags its streams to match.
enum ColorConversion {
    /// RGB → YUV: chroma is computed at full resolution, then filtered down.
    static let encodeFlags: Int32 = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP
    /// YUV → RGB: chroma is interpolated horizontally too (swscale otherwise repeats each
    /// chroma sample for two pixels).
    static let decodeFlags: Int32 = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT

    /// RGB24 → YUV 4:2:0 with BT.709 limited-range coefficients.
    static func makeRGBToYUV(width: Int, height: Int) throws -> OpaquePointer {
        guard let sws = sws_getContext(Int32(width), Int32(height), AV_PIX_FMT_RGB24,
                                       Int32(width), Int32(height), AV_PIX_FMT_YUV420P,
                                       encodeFlags, nil, nil, nil) else {
            throw KinemaError(.encoder, "swscale cannot convert RGB24 to yuv420p at \(width)x\(height)")
        }
        let bt709 = sws_getCoefficients(SWS_CS_ITU709)
        // srcRange 1: RGB uses 0…255; dstRange 0: Y in 16…235, Cb/Cr in 16…240.
        if sws_setColorspaceDetails(sws, bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16) < 0 {
            sws_freeContext(sws)
            throw KinemaError(.encoder, "swscale does not accept BT.709 coefficients for RGB24 → yuv420p")
        }
        return sws
    }

    /// swscale's coefficient table for a stream's colour matrix (BT.601 when unknown, as
    /// FFmpeg's players assume).
    static func swsColorspace(_ space: AVColorSpace) -> Int32 {
        switch space {
        case AVCOL_SPC_BT709: return SWS_CS_ITU709
        case AVCOL_SPC_FCC: return SWS_CS_FCC
        case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M
        case AVCOL_SPC_BT2020_NCL, AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020
        default: return SWS_CS_DEFAULT
        }
    }
}

// MARK: - Output files

/// Where a writer puts its result: the destination and a temporary sibling that is renamed
/// onto it once everything has been written, so that a failure never leaves a partial file.
struct OutputLocation {
    let destination: URL
    let temporary: URL

    /// Checks that `url`'s directory exists and is writable and that `url` is not a directory;
    /// picks a temporary name beside it.
    static func prepare(_ url: URL, kind: String) throws -> OutputLocation {
        guard url.isFileURL else {
            throw KinemaError.invalidArgument("\(kind) destination \(url.absoluteString) is not a file URL")
        }
        let destination = url.standardizedFileURL
        let name = destination.lastPathComponent
        guard !name.isEmpty, name != "/" else {
            throw KinemaError.invalidArgument("\(kind) destination \(destination.path) has no file name")
        }
        let directory = destination.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) else {
            throw KinemaError.io("cannot write \(destination.path): directory \(directory.path) does not exist")
        }
        guard isDirectory.boolValue else {
            throw KinemaError.io("cannot write \(destination.path): \(directory.path) is not a directory")
        }
        guard access(directory.path, W_OK | X_OK) == 0 else {
            throw KinemaError.io("cannot write \(destination.path): directory \(directory.path) is not writable")
        }
        let suffix = UUID().uuidString.prefix(8)
        let temporary = directory.appendingPathComponent(".\(name).\(suffix).partial")
        return OutputLocation(destination: destination, temporary: temporary)
    }

    /// Moves the finished temporary file or directory onto the destination (`rename(2)`: atomic,
    /// replaces a file or an empty directory).
    func commit() throws {
        if rename(temporary.path, destination.path) != 0 {
            let reason = String(cString: strerror(errno))
            throw KinemaError.io("cannot move the finished output into place at \(destination.path): \(reason)")
        }
    }

    /// Removes the temporary file or directory (if any).
    func discard() {
        try? FileManager.default.removeItem(at: temporary)
    }

    /// The URL string FFmpeg opens: the `file:` protocol, so that a ':' in a name is never
    /// taken for another protocol.
    var temporaryFFmpegURL: String { "file:" + temporary.path }
}

/// Size in bytes of the file at `url` (0 when it cannot be read).
func fileByteCount(_ url: URL) -> Int {
    let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
    return (attributes?[.size] as? NSNumber)?.intValue ?? 0
}

/// FFmpeg's own console messages (encoder statistics, muxer notes) are process-wide; a
/// command-line program may want only errors.
public enum FFmpegLogging {
    /// Shows only FFmpeg errors on stderr from now on, for the whole process.
    public static func showErrorsOnly() {
        av_log_set_level(AV_LOG_ERROR)
    }
}
