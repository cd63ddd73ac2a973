// Frames as numbered PNG files, encoded by FFmpeg's png encoder (lossless RGB24).

import CFFmpeg
import Foundation

/// Writes frames as `frame_00001.png`, `frame_00002.png`, … into a directory.
///
/// All-or-nothing: the files are written into a hidden temporary sibling directory that is
/// renamed onto `directory` only once every frame is on disk (one `rename(2)`, which may replace
/// an empty directory). A failure removes the temporary directory, so there is never a partial
/// set. The destination must not exist, or be an empty directory; a non-empty one is refused
/// rather than mixed with older frames.
public enum PNGSequenceWriter {
    /// Writes `frames` (each RGB `[height, width, 3]` in [0, 1], clamped and rounded to 8 bits;
    /// all the same size) and returns the files' URLs in order.
    @discardableResult
    public static func write(frames: [Tensor], to directory: URL) throws -> [URL] {
        guard let first = frames.first else {
            throw KinemaError.invalidArgument("no frames to write to \(directory.path)")
        }
        let shape = first.shape
        guard shape.count == 3, shape[2] == 3 else {
            throw KinemaError.shape("frame shape \(shape) is not [height, width, 3]")
        }
        let (height, width) = (shape[0], shape[1])
        guard width > 0, height > 0, width <= 16384, height <= 16384 else {
            throw KinemaError.invalidArgument("frame size \(width)x\(height) must be within 1…16384")
        }
        for (i, frame) in frames.enumerated() where frame.shape != shape {
            throw KinemaError.shape("frame \(i + 1) has shape \(frame.shape), frame 1 has \(shape)")
        }

        let location = try OutputLocation.prepare(directory, kind: "PNG sequence")
        let destination = location.destination
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: destination.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw KinemaError.io("cannot write frames to \(destination.path): it exists and is not a directory")
            }
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: destination.path)) ?? []
            guard contents.isEmpty else {
                throw KinemaError.io("cannot write frames to \(destination.path): the directory is not empty")
            }
        }
        do {
            try FileManager.default.createDirectory(at: location.temporary, withIntermediateDirectories: false)
        } catch {
            throw KinemaError.io("cannot create \(location.temporary.path) (for \(destination.path)): \(error.localizedDescription)")
        }

        let names = frames.indices.map { String(format: "frame_%05d.png", $0 + 1) }
        let encoder = PNGEncoder(width: width, height: height, path: destination.path)
        defer { encoder.close() }
        do {
            try encoder.open()
            for (frame, name) in zip(frames, names) {
                let png = try frame.data.withUnsafeBufferPointer { bp -> Data in
                    guard let base = bp.baseAddress else {
                        throw KinemaError.shape("frame \(name) is empty")
                    }
                    return try encoder.encode(rgb: base)
                }
                let file = location.temporary.appendingPathComponent(name)
                do {
                    try png.write(to: file)
                } catch {
                    throw KinemaError.io("cannot write \(file.path): \(error.localizedDescription)")
                }
            }
            try location.commit()
        } catch {
            location.discard()
            throw error
        }
        return names.map { destination.appendingPathComponent($0) }
    }
}

/// FFmpeg's png encoder with one reusable RGB24 frame. `close()` frees everything.
final class PNGEncoder {
    private var context: UnsafeMutablePointer<AVCodecContext>?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private let width: Int
    private let height: Int
    private let path: String
    private var frameIndex: Int64 = 0

    init(width: Int, height: Int, path: String) {
        self.width = width
        self.height = height
        self.path = path
    }

    deinit { close() }

    func open() throws {
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_PNG) else {
            throw KinemaError(.encoder, "this FFmpeg build has no png encoder (needed for \(path))")
        }
        guard let context = avcodec_alloc_context3(codec) else {
            throw KinemaError(.outOfMemory, "cannot allocate a png encoder for \(path)")
        }
        self.context = context
        context.pointee.width = Int32(width)
        context.pointee.height = Int32(height)
        context.pointee.pix_fmt = AV_PIX_FMT_RGB24
        context.pointee.time_base = AVRational(num: 1, den: 1)
        let opened = avcodec_open2(context, codec, nil)
        guard opened >= 0 else {
            throw FFmpegError.error(.encoder, "the png encoder did not open at \(width)x\(height) for \(path)", opened)
        }
        guard let frame = av_frame_alloc() else {
            throw KinemaError(.outOfMemory, "cannot allocate a frame for \(path)")
        }
        self.frame = frame
        frame.pointee.format = AV_PIX_FMT_RGB24.rawValue
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        let buffers = av_frame_get_buffer(frame, 0)
        guard buffers >= 0 else {
            throw FFmpegError.error(.outOfMemory, "cannot allocate \(width)x\(height) frame buffers for \(path)", buffers)
        }
        guard let packet = av_packet_alloc() else {
            throw KinemaError(.outOfMemory, "cannot allocate a packet for \(path)")
        }
        self.packet = packet
    }

    /// Encodes one packed RGB float frame (`height * width * 3` values, checked by the caller)
    /// and returns the PNG file's bytes.
    func encode(rgb source: UnsafePointer<Float>) throws -> Data {
        guard let context, let frame, let packet else {
            throw KinemaError(.wrongState, "the png encoder for \(path) is not open")
        }
        let writable = av_frame_make_writable(frame)
        guard writable >= 0 else {
            throw FFmpegError.error(.outOfMemory, "cannot make the frame writable for \(path)", writable)
        }
        let stride = Int(frame.pointee.linesize.0)
        guard let plane = frame.pointee.data.0, stride >= width * 3 else {
            throw KinemaError(.internalError, "the png frame for \(path) has no RGB plane")
        }
        PixelQuantizer.quantizeRGB(source, width: width, height: height, into: plane, stride: stride)
        frame.pointee.pts = frameIndex
        frameIndex += 1

        let sent = avcodec_send_frame(context, frame)
        guard sent >= 0 else {
            throw FFmpegError.error(.encoder, "the png encoder rejected a frame for \(path)", sent)
        }
        var bytes = Data()
        while true {
            let received = avcodec_receive_packet(context, packet)
            if received == cff_averror_eagain() || received == cff_averror_eof() { break }
            guard received >= 0 else {
                throw FFmpegError.error(.encoder, "png encoding failed for \(path)", received)
            }
            if let data = packet.pointee.data, packet.pointee.size > 0 {
                bytes.append(data, count: Int(packet.pointee.size))
            }
            av_packet_unref(packet)
        }
        guard !bytes.isEmpty else {
            throw KinemaError(.encoder, "the png encoder produced no data for \(path)")
        }
        return bytes
    }

    func close() {
        av_packet_free(&packet)
        av_frame_free(&frame)
        avcodec_free_context(&context)
    }
}
