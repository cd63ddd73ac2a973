// Reading video files back through libavformat/libavcodec/libswscale: stream facts for
// `kinema info`-style checks and decoded RGB frames for round-trip tests.

import CFFmpeg
import Foundation

/// What a video file holds, as its container and first video stream describe it.
public struct VideoInfo: Sendable, Equatable {
    /// Demuxer name ("mov,mp4,m4a,3gp,3g2,mj2" for MP4).
    public var container: String
    /// Codec of the video stream ("h264", "mpeg4", …).
    public var codecName: String
    /// Pixel format the stream decodes to ("yuv420p", …).
    public var pixelFormat: String
    public var width: Int
    public var height: Int
    /// Video packets in the file (one per frame), counted by reading them all.
    public var frameCount: Int
    /// The stream's average frame rate.
    public var frameRate: FrameRate
    /// Stream duration in seconds (the container's when the stream has none).
    public var duration: Double
    /// FFmpeg's names for the colour tags ("bt709", "tv", …; "unknown" when untagged).
    public var colorPrimaries: String
    public var colorTransfer: String
    public var colorSpace: String
    public var colorRange: String
    public var byteCount: Int
}

/// Reads video files with FFmpeg.
public enum VideoProbe {
    /// Container, codec, size, frame count, frame rate, duration and colour tags of the first
    /// video stream. Throws `.io` when the file cannot be opened, `.corruptFile` when FFmpeg
    /// cannot parse it or it has no video stream.
    public static func probe(url: URL) throws -> VideoInfo {
        let input = try InputFile(url: url)
        defer { input.close() }
        guard let format = input.format, let stream = input.stream, let parameters = stream.pointee.codecpar else {
            throw KinemaError.corrupt("\(url.path) has no readable video stream")
        }
        var frames = 0
        try input.forEachPacket { _ in frames += 1 }

        let rate = stream.pointee.avg_frame_rate.den > 0 && stream.pointee.avg_frame_rate.num > 0
            ? stream.pointee.avg_frame_rate : stream.pointee.r_frame_rate
        var duration = 0.0
        if stream.pointee.duration != cff_nopts_value(), stream.pointee.duration > 0 {
            duration = Double(stream.pointee.duration) * av_q2d(stream.pointee.time_base)
        } else if format.pointee.duration != cff_nopts_value(), format.pointee.duration > 0 {
            duration = Double(format.pointee.duration) / Double(AV_TIME_BASE)
        }
        let p = parameters.pointee
        return VideoInfo(
            container: format.pointee.iformat.map { String(cString: $0.pointee.name) } ?? "unknown",
            codecName: String(cString: avcodec_get_name(p.codec_id)),
            pixelFormat: name(av_get_pix_fmt_name(AVPixelFormat(rawValue: p.format))),
            width: Int(p.width), height: Int(p.height),
            frameCount: frames,
            frameRate: FrameRate(numerator: Int(rate.num), denominator: Int(max(rate.den, 1))),
            duration: duration,
            colorPrimaries: name(av_color_primaries_name(p.color_primaries)),
            colorTransfer: name(av_color_transfer_name(p.color_trc)),
            colorSpace: name(av_color_space_name(p.color_space)),
            colorRange: name(av_color_range_name(p.color_range)),
            byteCount: fileByteCount(url))
    }

    /// Decodes every frame of the first video stream to RGB `[height, width, 3]` tensors in
    /// [0, 1], converting with the stream's own colour matrix and range. Holds the whole clip
    /// in memory: meant for tests and short clips.
    public static func decodeFrames(url: URL) throws -> [Tensor] {
        var frames: [Tensor] = []
        try decode(url: url) { frame in
            frames.append(try frame.rgbTensor())
        }
        return frames
    }

    /// Calls `body` with each decoded frame, in presentation order.
    static func decode(url: URL, kind: String = "video", _ body: (DecodedFrame) throws -> Void) throws {
        let input = try InputFile(url: url, kind: kind)
        defer { input.close() }
        let decoder = try input.openDecoder()
        defer { decoder.close() }
        try input.forEachPacket { packet in
            try decoder.send(packet, body)
        }
        try decoder.send(nil, body)
    }

    private static func name(_ cString: UnsafePointer<CChar>?) -> String {
        cString.map { String(cString: $0) } ?? "unknown"
    }
}

// MARK: - Input file

/// An opened input and its best video stream. `close()` frees it; safe to call repeatedly.
final class InputFile {
    private(set) var format: UnsafeMutablePointer<AVFormatContext>?
    private(set) var stream: UnsafeMutablePointer<AVStream>?
    let path: String

    /// `kind` names the file in errors ("video", "image").
    init(url: URL, kind: String = "video") throws {
        guard url.isFileURL else {
            throw KinemaError.invalidArgument("\(url.absoluteString) is not a file URL")
        }
        path = url.standardizedFileURL.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw KinemaError.io("\(kind) file \(path) does not exist")
        }
        var context: UnsafeMutablePointer<AVFormatContext>?
        let opened = avformat_open_input(&context, "file:" + path, nil, nil)
        guard opened >= 0, let context else {
            let code: KinemaError.Code = opened == cff_averror(EACCES) || opened == cff_averror(ENOENT) ? .io : .corruptFile
            throw FFmpegError.error(code, "cannot open \(kind) \(path)", opened)
        }
        format = context
        let info = avformat_find_stream_info(context, nil)
        guard info >= 0 else {
            close()
            throw FFmpegError.error(.corruptFile, "cannot read the streams of \(path)", info)
        }
        let index = av_find_best_stream(context, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard index >= 0, Int(index) < Int(context.pointee.nb_streams),
              let streams = context.pointee.streams, let stream = streams[Int(index)] else {
            close()
            throw KinemaError.corrupt("\(path) has no \(kind == "video" ? "video stream" : "picture")")
        }
        self.stream = stream
    }

    deinit { close() }

    /// Reads packets to the end of the file, passing those of the video stream to `body`.
    func forEachPacket(_ body: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws {
        guard let format, let stream else {
            throw KinemaError(.wrongState, "\(path) is closed")
        }
        guard let owned = av_packet_alloc() else {
            throw KinemaError(.outOfMemory, "cannot allocate a packet for \(path)")
        }
        defer {
            var packet: UnsafeMutablePointer<AVPacket>? = owned
            av_packet_free(&packet)
        }
        while true {
            let status = av_read_frame(format, owned)
            if status == cff_averror_eof() { return }
            guard status >= 0 else {
                throw FFmpegError.error(.corruptFile, "cannot read \(path)", status)
            }
            defer { av_packet_unref(owned) }
            if owned.pointee.stream_index == stream.pointee.index {
                try body(owned)
            }
        }
    }

    func openDecoder() throws -> VideoDecoder {
        guard let stream, let parameters = stream.pointee.codecpar else {
            throw KinemaError(.wrongState, "\(path) is closed")
        }
        guard let codec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            let name = String(cString: avcodec_get_name(parameters.pointee.codec_id))
            throw KinemaError.unsupported("this FFmpeg build has no \(name) decoder for \(path)")
        }
        let decoder = VideoDecoder(path: path)
        do {
            try decoder.open(codec: codec, parameters: parameters, timeBase: stream.pointee.time_base)
        } catch {
            decoder.close()
            throw error
        }
        return decoder
    }

    func close() {
        stream = nil
        avformat_close_input(&format)
    }
}

// MARK: - Decoder

/// One decoded picture, valid only during the callback that receives it.
struct DecodedFrame {
    let frame: UnsafeMutablePointer<AVFrame>
    let converter: RGBConverter

    var width: Int { Int(frame.pointee.width) }
    var height: Int { Int(frame.pointee.height) }

    /// RGB `[height, width, 3]` in [0, 1].
    func rgbTensor() throws -> Tensor {
        let rgb = try converter.convert(frame)
        let values = rgb.map { Float($0) / 255 }
        return try Tensor(shape: [height, width, 3], data: values)
    }

    /// The bytes of one plane (Y = 0, U = 1, V = 2 for yuv420p), rows packed tightly.
    func plane(_ index: Int, width planeWidth: Int, height planeHeight: Int) throws -> [UInt8] {
        let data = frame.pointee.data, lines = frame.pointee.linesize
        let pointers = [data.0, data.1, data.2, data.3]
        let strides = [lines.0, lines.1, lines.2, lines.3]
        guard index >= 0, index < 4, let base = pointers[index], Int(strides[index]) >= planeWidth,
              planeWidth <= width, planeHeight <= height else {
            throw KinemaError.invalidArgument("frame has no plane \(index) of width \(planeWidth)")
        }
        var bytes = [UInt8](repeating: 0, count: planeWidth * planeHeight)
        for y in 0..<planeHeight {
            for x in 0..<planeWidth { bytes[y * planeWidth + x] = base[y * Int(strides[index]) + x] }
        }
        return bytes
    }
}

/// Converts decoded frames to packed RGB24, keeping one swscale context while the source
/// format, size and colour tags stay the same.
final class RGBConverter {
    private var scaler: OpaquePointer?
    private var key: [Int32] = []

    deinit { close() }

    func convert(_ frame: UnsafeMutablePointer<AVFrame>) throws -> [UInt8] {
        let f = frame.pointee
        let width = Int(f.width), height = Int(f.height)
        guard width > 0, height > 0 else {
            throw KinemaError.corrupt("decoded frame has size \(width)x\(height)")
        }
        let newKey = [f.format, f.width, f.height, Int32(f.colorspace.rawValue), Int32(f.color_range.rawValue)]
        if scaler == nil || newKey != key {
            close()
            guard let sws = sws_getContext(f.width, f.height, AVPixelFormat(rawValue: f.format),
                                           f.width, f.height, AV_PIX_FMT_RGB24,
                                           ColorConversion.decodeFlags, nil, nil, nil) else {
                throw KinemaError.unsupported("swscale cannot convert pixel format \(f.format) at \(width)x\(height) to RGB")
            }
            scaler = sws
            key = newKey
            let descriptor = av_pix_fmt_desc_get(AVPixelFormat(rawValue: f.format))
            let isRGB = descriptor.map { $0.pointee.flags & UInt64(AV_PIX_FMT_FLAG_RGB) != 0 } ?? false
            if !isRGB {
                let coefficients = sws_getCoefficients(ColorConversion.swsColorspace(f.colorspace))
                let fullRange: Int32 = f.color_range == AVCOL_RANGE_JPEG ? 1 : 0
                _ = sws_setColorspaceDetails(sws, coefficients, fullRange, coefficients, 1, 0, 1 << 16, 1 << 16)
            }
        }
        guard let scaler else {
            throw KinemaError(.internalError, "no swscale context")
        }
        var rgb = [UInt8](repeating: 0, count: width * height * 3 + 64)  // swscale SIMD padding
        let converted: Int32 = rgb.withUnsafeMutableBufferPointer { bp in
            let data = f.data, lines = f.linesize
            let sourcePlanes: [UnsafePointer<UInt8>?] = [data.0, data.1, data.2, data.3].map { $0.map { UnsafePointer($0) } }
            let sourceStrides: [Int32] = [lines.0, lines.1, lines.2, lines.3]
            let targetPlanes: [UnsafeMutablePointer<UInt8>?] = [bp.baseAddress, nil, nil, nil]
            let targetStrides: [Int32] = [Int32(width * 3), 0, 0, 0]
            return sws_scale(scaler, sourcePlanes, sourceStrides, 0, f.height, targetPlanes, targetStrides)
        }
        guard converted == f.height else {
            throw KinemaError.corrupt("swscale converted \(converted) of \(height) rows")
        }
        rgb.removeLast(rgb.count - width * height * 3)
        return rgb
    }

    func close() {
        if let scaler { sws_freeContext(scaler) }
        scaler = nil
    }
}

/// A decoder context with its frame and RGB converter. `close()` is safe to call repeatedly.
final class VideoDecoder {
    private var context: UnsafeMutablePointer<AVCodecContext>?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private let converter = RGBConverter()
    let path: String

    init(path: String) { self.path = path }

    deinit { close() }

    func open(codec: UnsafePointer<AVCodec>, parameters: UnsafePointer<AVCodecParameters>, timeBase: AVRational) throws {
        guard let context = avcodec_alloc_context3(codec) else {
            throw KinemaError(.outOfMemory, "cannot allocate a decoder for \(path)")
        }
        self.context = context
        let copied = avcodec_parameters_to_context(context, parameters)
        guard copied >= 0 else {
            throw FFmpegError.error(.corruptFile, "invalid stream parameters in \(path)", copied)
        }
        context.pointee.pkt_timebase = timeBase
        context.pointee.thread_count = Int32(Compute.threadCount)
        let opened = avcodec_open2(context, codec, nil)
        guard opened >= 0 else {
            throw FFmpegError.error(.corruptFile, "cannot open the decoder for \(path)", opened)
        }
        guard let frame = av_frame_alloc() else {
            throw KinemaError(.outOfMemory, "cannot allocate a frame for \(path)")
        }
        self.frame = frame
    }

    /// Sends one packet (nil: end of stream) and passes every frame that comes out to `body`.
    func send(_ packet: UnsafeMutablePointer<AVPacket>?, _ body: (DecodedFrame) throws -> Void) throws {
        guard let context, let frame else {
            throw KinemaError(.wrongState, "the decoder for \(path) is closed")
        }
        let sent = avcodec_send_packet(context, packet)
        guard sent >= 0 || sent == cff_averror_eof() else {
            throw FFmpegError.error(.corruptFile, "cannot decode \(path)", sent)
        }
        while true {
            let received = avcodec_receive_frame(context, frame)
            if received == cff_averror_eagain() || received == cff_averror_eof() { return }
            guard received >= 0 else {
                throw FFmpegError.error(.corruptFile, "cannot decode \(path)", received)
            }
            defer { av_frame_unref(frame) }
            try body(DecodedFrame(frame: frame, converter: converter))
        }
    }

    func close() {
        converter.close()
        av_frame_free(&frame)
        avcodec_free_context(&context)
    }
}
