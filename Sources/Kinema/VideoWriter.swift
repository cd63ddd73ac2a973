// MP4 output through libavformat/libavcodec/libswscale, following FFmpeg's
// doc/examples/mux.c (output context, encoder, stream, parameters copied after opening,
// send/receive loop, interleaved writes, NULL flush, trailer), with every resource freed on
// every path and the file written under a temporary name until it is complete.

import CFFmpeg
import Foundation

// MARK: - Options and results

/// A frame rate as an exact fraction (16, 24, 30000/1001…).
public struct FrameRate: Sendable, Equatable, CustomStringConvertible {
    public var numerator: Int
    public var denominator: Int

    /// Whole frames per second.
    public init(_ framesPerSecond: Int) {
        self.init(numerator: framesPerSecond, denominator: 1)
    }

    public init(numerator: Int, denominator: Int) {
        self.numerator = numerator
        self.denominator = denominator
    }

    /// The fraction for a rate given in frames per second: whole numbers stay whole, the
    /// NTSC rates (23.976, 29.97, 59.94…) become n·1000/1001, anything else the closest
    /// fraction with a denominator up to 1000. Throws `.invalidArgument` unless 0 < fps ≤ 1000.
    public init(framesPerSecond fps: Double) throws {
        guard fps.isFinite, fps > 0, fps <= 1000 else {
            throw KinemaError.invalidArgument("frame rate \(fps) must be a number in (0, 1000]")
        }
        let whole = fps.rounded()
        if abs(fps - whole) < 1e-6 {
            self.init(Int(whole))
            return
        }
        let ntsc = (fps * 1.001).rounded()
        if ntsc >= 1, abs(fps - ntsc * 1000 / 1001) < 5e-4 {
            self.init(numerator: Int(ntsc) * 1000, denominator: 1001)
            return
        }
        let q = av_d2q(fps, 1000)
        guard q.num > 0, q.den > 0, q.den <= 1000 else {
            throw KinemaError.invalidArgument("frame rate \(fps) has no fraction with a denominator up to 1000")
        }
        self.init(numerator: Int(q.num), denominator: Int(q.den))
    }

    public var framesPerSecond: Double { Double(numerator) / Double(denominator) }

    public var description: String {
        denominator == 1 ? "\(numerator)" : "\(numerator)/\(denominator)"
    }

    func validate() throws {
        guard numerator > 0, denominator > 0, numerator <= Int(Int32.max), denominator <= Int(Int32.max) else {
            throw KinemaError.invalidArgument("frame rate \(numerator)/\(denominator) must be a positive fraction")
        }
    }

    var rational: AVRational { AVRational(num: Int32(numerator), den: Int32(denominator)) }
}

/// How `MP4Writer` encodes.
public struct VideoEncodingOptions: Sendable, Equatable {
    /// Constant frame rate of the output. Wan2.1 produces 16 frames per second.
    public var frameRate: FrameRate
    /// Constant rate factor on x264's scale (0 lossless … 51 worst). 18 keeps generated
    /// content above 35 dB PSNR (see VideoWriterTests). Encoders without a CRF mode get a
    /// fixed quantiser derived from it (`crf / 6`, clamped to 2…31: 18 → 3).
    public var crf: Double
    /// x264 speed/size trade-off ("ultrafast" … "veryslow"); used by encoders that have it.
    public var preset: String
    /// Encoder names tried in order. The first one present in the FFmpeg build that opens with
    /// yuv420p is used; when that is not the first, `VideoWriteResult.fallbackReason` says why.
    public var encoders: [String]
    /// Moves the `moov` index before the media data so that players can start while the
    /// file is still downloading.
    public var faststart: Bool

    public static let defaultEncoders = ["libx264", "mpeg4"]

    public init(frameRate: FrameRate = FrameRate(16), crf: Double = 18, preset: String = "medium",
                encoders: [String] = VideoEncodingOptions.defaultEncoders, faststart: Bool = true) {
        self.frameRate = frameRate
        self.crf = crf
        self.preset = preset
        self.encoders = encoders
        self.faststart = faststart
    }

    /// Rejects a non-positive frame rate, a CRF outside 0…51 and an empty encoder list.
    public func validate() throws {
        try frameRate.validate()
        guard crf >= 0, crf <= 51 else {
            throw KinemaError.invalidArgument("crf \(crf) is outside 0…51")
        }
        guard !encoders.isEmpty else {
            throw KinemaError.invalidArgument("the encoder list is empty")
        }
    }
}

/// What `MP4Writer.finish()` produced.
public struct VideoWriteResult: Sendable, Equatable {
    public var url: URL
    /// FFmpeg encoder that was used ("libx264", "mpeg4", …).
    public var encoder: String
    /// Codec of the stream in the file ("h264", "mpeg4", …).
    public var codec: String
    public var frameCount: Int
    public var byteCount: Int
    /// Why the first preferred encoder was not used; nil when it was.
    public var fallbackReason: String?
}

// MARK: - MP4Writer

/// Streams RGB frames into an MP4 file: frames are encoded as they are appended, so a decoder
/// can hand over each frame as soon as it exists.
///
/// The file appears at `url` only when `finish()` succeeds; until then it is written under a
/// hidden temporary name in the same directory, which `cancel()`, a failure, or dropping the
/// writer removes. Not thread-safe: use one writer from one thread at a time.
public final class MP4Writer {
    public let url: URL
    public let width: Int
    public let height: Int
    public let options: VideoEncodingOptions
    /// Frames appended so far.
    public private(set) var frameCount = 0

    private enum State {
        case open(MP4EncoderSession)
        case finished
        case cancelled
        case failed(KinemaError)
    }

    private var state: State
    private let location: OutputLocation

    /// Opens the encoder and the temporary output file. Throws `.invalidArgument` for sizes
    /// that are not positive and even (yuv420p halves both), `.io` naming the path when the
    /// directory is missing or not writable, `.encoder` when no listed encoder can be opened.
    public init(url: URL, width: Int, height: Int, options: VideoEncodingOptions = VideoEncodingOptions()) throws {
        guard width > 0, height > 0 else {
            throw KinemaError.invalidArgument("video size \(width)x\(height) must be positive")
        }
        guard width % 2 == 0, height % 2 == 0 else {
            throw KinemaError.invalidArgument("video size \(width)x\(height) must be even in both dimensions for yuv420p")
        }
        guard width <= 16384, height <= 16384 else {
            throw KinemaError.invalidArgument("video size \(width)x\(height) exceeds 16384 in a dimension")
        }
        try options.validate()
        let location = try OutputLocation.prepare(url, kind: "MP4")
        self.url = location.destination
        self.width = width
        self.height = height
        self.options = options
        self.location = location
        let session = MP4EncoderSession()
        do {
            try session.open(location: location, width: width, height: height, options: options)
        } catch {
            session.close()
            location.discard()
            throw error
        }
        self.state = .open(session)
    }

    deinit {
        cancel()
    }

    /// Encodes one frame: `frame` holds `height * width * 3` RGB values, row-major, in [0, 1]
    /// (clamped and rounded to 8 bits).
    public func append(frame: UnsafeBufferPointer<Float>) throws {
        let session = try openSession()
        let expected = width * height * 3
        guard frame.count == expected, let base = frame.baseAddress else {
            throw KinemaError.shape("frame has \(frame.count) values; a \(width)x\(height) RGB frame needs \(expected)")
        }
        do {
            try session.encode(rgb: base, pts: Int64(frameCount))
            frameCount += 1
        } catch let error as KinemaError {
            fail(session, error)
            throw error
        }
    }

    /// Encodes one frame given as a `[height, width, 3]` tensor with values in [0, 1].
    public func append(_ frame: Tensor) throws {
        guard frame.shape == [height, width, 3] else {
            throw KinemaError.shape("frame shape \(frame.shape) does not match the video's [\(height), \(width), 3]")
        }
        try frame.data.withUnsafeBufferPointer { try append(frame: $0) }
    }

    /// Flushes the encoder, writes the trailer (and the faststart index move) and renames the
    /// file into place. A writer with no frames throws and leaves nothing behind.
    public func finish() throws -> VideoWriteResult {
        let session = try openSession()
        guard frameCount > 0 else {
            let error = KinemaError.invalidArgument("no frames were appended to \(url.path); nothing was written")
            fail(session, error)
            throw error
        }
        do {
            try session.finish()
            try location.commit()
        } catch let error as KinemaError {
            fail(session, error)
            throw error
        }
        let result = VideoWriteResult(
            url: url, encoder: session.encoderName, codec: session.codecName,
            frameCount: frameCount, byteCount: fileByteCount(url), fallbackReason: session.fallbackReason)
        session.close()
        state = .finished
        return result
    }

    /// Stops writing and removes the temporary file. Does nothing after `finish()` succeeded.
    public func cancel() {
        guard case .open(let session) = state else { return }
        session.close()
        location.discard()
        state = .cancelled
    }

    private func openSession() throws -> MP4EncoderSession {
        switch state {
        case .open(let session): return session
        case .finished: throw KinemaError(.wrongState, "\(url.path) is already finished")
        case .cancelled: throw KinemaError(.wrongState, "writing \(url.path) was cancelled")
        case .failed(let error): throw KinemaError(.wrongState, "writing \(url.path) failed earlier: \(error.message)")
        }
    }

    private func fail(_ session: MP4EncoderSession, _ error: KinemaError) {
        session.close()
        location.discard()
        state = .failed(error)
    }
}

// MARK: - Encoder session

/// The FFmpeg objects behind one MP4 file. `close()` frees them in the reverse order of
/// creation and is safe to call at any point, any number of times.
final class MP4EncoderSession {
    private var formatContext: UnsafeMutablePointer<AVFormatContext>?
    private var codecContext: UnsafeMutablePointer<AVCodecContext>?
    private var stream: UnsafeMutablePointer<AVStream>?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var scaler: OpaquePointer?
    private var rgb: [UInt8] = []
    private var width = 0
    private var height = 0
    private var destinationPath = ""

    private(set) var encoderName = ""
    private(set) var codecName = ""
    private(set) var fallbackReason: String?

    deinit { close() }

    func open(location: OutputLocation, width: Int, height: Int, options: VideoEncodingOptions) throws {
        self.width = width
        self.height = height
        destinationPath = location.destination.path
        let path = destinationPath

        var format: UnsafeMutablePointer<AVFormatContext>?
        let status = avformat_alloc_output_context2(&format, nil, "mp4", location.temporaryFFmpegURL)
        guard status >= 0, let format else {
            throw FFmpegError.error(.encoder, "cannot create an MP4 muxer for \(path)", status)
        }
        formatContext = format
        guard let outputFormat = format.pointee.oformat else {
            throw KinemaError(.encoder, "the MP4 muxer for \(path) has no output format")
        }

        let (codec, context) = try openEncoder(options: options, outputFormat: outputFormat)
        codecContext = context
        encoderName = String(cString: codec.pointee.name)
        codecName = String(cString: avcodec_get_name(codec.pointee.id))

        guard let stream = avformat_new_stream(format, nil) else {
            throw KinemaError(.outOfMemory, "cannot add a video stream to \(path)")
        }
        self.stream = stream
        stream.pointee.id = Int32(format.pointee.nb_streams) - 1
        stream.pointee.time_base = context.pointee.time_base
        stream.pointee.avg_frame_rate = context.pointee.framerate
        // After avcodec_open2: the encoder fills extradata (SPS/PPS) that the muxer needs.
        let copied = avcodec_parameters_from_context(stream.pointee.codecpar, context)
        guard copied >= 0 else {
            throw FFmpegError.error(.encoder, "cannot copy the encoder parameters to the stream of \(path)", copied)
        }

        if outputFormat.pointee.flags & AVFMT_NOFILE == 0 {
            let opened = avio_open(&format.pointee.pb, location.temporaryFFmpegURL, AVIO_FLAG_WRITE)
            guard opened >= 0 else {
                throw FFmpegError.error(.io, "cannot create \(location.temporary.path) (for \(path))", opened)
            }
        }
        var muxerOptions: OpaquePointer?
        defer { av_dict_free(&muxerOptions) }
        if options.faststart { av_dict_set(&muxerOptions, "movflags", "+faststart", 0) }
        let header = avformat_write_header(format, &muxerOptions)
        guard header >= 0 else {
            throw FFmpegError.error(.io, "cannot write the MP4 header of \(path)", header)
        }

        guard let frame = av_frame_alloc() else {
            throw KinemaError(.outOfMemory, "cannot allocate a video frame for \(path)")
        }
        self.frame = frame
        frame.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        frame.pointee.color_primaries = AVCOL_PRI_BT709
        frame.pointee.color_trc = AVCOL_TRC_BT709
        frame.pointee.colorspace = AVCOL_SPC_BT709
        frame.pointee.color_range = AVCOL_RANGE_MPEG
        let buffers = av_frame_get_buffer(frame, 0)
        guard buffers >= 0 else {
            throw FFmpegError.error(.outOfMemory, "cannot allocate \(width)x\(height) frame buffers for \(path)", buffers)
        }
        guard let packet = av_packet_alloc() else {
            throw KinemaError(.outOfMemory, "cannot allocate a packet for \(path)")
        }
        self.packet = packet
        scaler = try ColorConversion.makeRGBToYUV(width: width, height: height)
        // swscale's SIMD paths read up to AV_INPUT_BUFFER_PADDING_SIZE (64) bytes past the
        // last pixel, so the staging buffer carries that much padding.
        rgb = [UInt8](repeating: 0, count: width * height * 3 + 64)
    }

    /// Tries `options.encoders` in order; returns the first that opens, with its context.
    private func openEncoder(options: VideoEncodingOptions, outputFormat: UnsafePointer<AVOutputFormat>)
        throws -> (UnsafePointer<AVCodec>, UnsafeMutablePointer<AVCodecContext>) {
        var rejections: [String] = []
        for name in options.encoders {
            guard let codec = avcodec_find_encoder_by_name(name) else {
                rejections.append("\(name) is not in this FFmpeg build")
                continue
            }
            guard codec.pointee.type == AVMEDIA_TYPE_VIDEO else {
                rejections.append("\(name) is not a video encoder")
                continue
            }
            guard avformat_query_codec(outputFormat, codec.pointee.id, FF_COMPLIANCE_NORMAL) == 1 else {
                rejections.append("\(name) cannot be stored in MP4")
                continue
            }
            guard Self.supportsYUV420P(codec) else {
                rejections.append("\(name) does not take yuv420p")
                continue
            }
            do {
                let context = try Self.openCodec(codec, name: name, width: width, height: height,
                                                 options: options, outputFormat: outputFormat)
                if !rejections.isEmpty {
                    fallbackReason = rejections.joined(separator: "; ") + "; used \(name)"
                }
                return (codec, context)
            } catch let error as KinemaError {
                rejections.append(error.message)
            }
        }
        throw KinemaError(.encoder, "no usable video encoder for \(destinationPath): " + rejections.joined(separator: "; "))
    }

    private static func supportsYUV420P(_ codec: UnsafePointer<AVCodec>) -> Bool {
        guard var format = codec.pointee.pix_fmts else { return true }  // any format accepted
        while format.pointee != AV_PIX_FMT_NONE {
            if format.pointee == AV_PIX_FMT_YUV420P { return true }
            format += 1
        }
        return false
    }

    private static func openCodec(_ codec: UnsafePointer<AVCodec>, name: String, width: Int, height: Int,
                                  options: VideoEncodingOptions, outputFormat: UnsafePointer<AVOutputFormat>)
        throws -> UnsafeMutablePointer<AVCodecContext> {
        guard let ctx = avcodec_alloc_context3(codec) else {
            throw KinemaError(.outOfMemory, "cannot allocate a \(name) encoder context")
        }
        var opened = false
        defer {
            if !opened {
                var owned: UnsafeMutablePointer<AVCodecContext>? = ctx
                avcodec_free_context(&owned)
            }
        }

        ctx.pointee.codec_id = codec.pointee.id
        ctx.pointee.width = Int32(width)
        ctx.pointee.height = Int32(height)
        ctx.pointee.time_base = av_inv_q(options.frameRate.rational)
        ctx.pointee.framerate = options.frameRate.rational
        ctx.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        ctx.pointee.color_primaries = AVCOL_PRI_BT709
        ctx.pointee.color_trc = AVCOL_TRC_BT709
        ctx.pointee.colorspace = AVCOL_SPC_BT709
        ctx.pointee.color_range = AVCOL_RANGE_MPEG
        ctx.pointee.thread_count = Int32(Compute.threadCount)
        if outputFormat.pointee.flags & AVFMT_GLOBALHEADER != 0 {
            ctx.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
        }

        if let priv = ctx.pointee.priv_data, av_opt_find(priv, "crf", nil, 0, 0) != nil {
            let set = av_opt_set_double(priv, "crf", options.crf, 0)
            guard set >= 0 else { throw FFmpegError.error(.invalidArgument, "\(name) rejects crf \(options.crf)", set) }
            if av_opt_find(priv, "preset", nil, 0, 0) != nil {
                let set = av_opt_set(priv, "preset", options.preset, 0)
                guard set >= 0 else { throw FFmpegError.error(.invalidArgument, "\(name) rejects preset \"\(options.preset)\"", set) }
            }
        } else {
            // No CRF mode: a constant quantiser of comparable quality.
            let quantiser = min(max((options.crf / 6).rounded(), 2), 31)
            ctx.pointee.flags |= AV_CODEC_FLAG_QSCALE
            ctx.pointee.global_quality = Int32(Double(FF_QP2LAMBDA) * quantiser)
        }

        let status = avcodec_open2(ctx, codec, nil)
        guard status >= 0 else {
            throw FFmpegError.error(.encoder, "\(name) did not open at \(width)x\(height) yuv420p", status)
        }
        opened = true
        return ctx
    }

    /// Converts one packed RGB float frame to yuv420p and sends it to the encoder.
    func encode(rgb source: UnsafePointer<Float>, pts: Int64) throws {
        guard let frame, let scaler, let codecContext else {
            throw KinemaError(.wrongState, "the encoder for \(destinationPath) is closed")
        }
        let w = width, h = height
        rgb.withUnsafeMutableBufferPointer { bp in
            if let base = bp.baseAddress {
                PixelQuantizer.quantizeRGB(source, width: w, height: h, into: base, stride: w * 3)
            }
        }
        // The encoder may still reference the previous frame's buffers.
        let writable = av_frame_make_writable(frame)
        guard writable >= 0 else {
            throw FFmpegError.error(.outOfMemory, "cannot make the frame writable for \(destinationPath)", writable)
        }
        let converted: Int32 = rgb.withUnsafeBufferPointer { bp in
            let sourcePlanes: [UnsafePointer<UInt8>?] = [bp.baseAddress, nil, nil, nil]
            let sourceStrides: [Int32] = [Int32(w * 3), 0, 0, 0]
            let data = frame.pointee.data, lines = frame.pointee.linesize
            let targetPlanes: [UnsafeMutablePointer<UInt8>?] = [data.0, data.1, data.2, data.3]
            let targetStrides: [Int32] = [lines.0, lines.1, lines.2, lines.3]
            return sws_scale(scaler, sourcePlanes, sourceStrides, 0, Int32(h), targetPlanes, targetStrides)
        }
        guard converted == Int32(h) else {
            throw KinemaError(.encoder, "swscale converted \(converted) of \(h) rows for \(destinationPath)")
        }
        frame.pointee.pts = pts
        let sent = avcodec_send_frame(codecContext, frame)
        guard sent >= 0 else {
            throw FFmpegError.error(.encoder, "\(encoderName) rejected frame \(pts) of \(destinationPath)", sent)
        }
        try writePackets()
    }

    /// Flushes the encoder (NULL frame), writes the remaining packets and the trailer, and
    /// closes the file.
    func finish() throws {
        guard let codecContext, let formatContext else {
            throw KinemaError(.wrongState, "the encoder for \(destinationPath) is closed")
        }
        let sent = avcodec_send_frame(codecContext, nil)
        guard sent >= 0 else {
            throw FFmpegError.error(.encoder, "\(encoderName) could not be flushed for \(destinationPath)", sent)
        }
        try writePackets()
        let trailer = av_write_trailer(formatContext)
        guard trailer >= 0 else {
            throw FFmpegError.error(.io, "cannot write the MP4 trailer of \(destinationPath)", trailer)
        }
        let closed = avio_closep(&formatContext.pointee.pb)
        guard closed >= 0 else {
            throw FFmpegError.error(.io, "cannot close \(destinationPath)", closed)
        }
    }

    /// Moves every packet the encoder has ready into the file, in the stream's time base.
    private func writePackets() throws {
        guard let codecContext, let formatContext, let stream, let packet else {
            throw KinemaError(.wrongState, "the encoder for \(destinationPath) is closed")
        }
        while true {
            let received = avcodec_receive_packet(codecContext, packet)
            if received == cff_averror_eagain() || received == cff_averror_eof() { return }
            guard received >= 0 else {
                throw FFmpegError.error(.encoder, "\(encoderName) failed while encoding \(destinationPath)", received)
            }
            av_packet_rescale_ts(packet, codecContext.pointee.time_base, stream.pointee.time_base)
            packet.pointee.stream_index = stream.pointee.index
            // Takes ownership of the packet's data, leaving `packet` blank for the next one.
            let written = av_interleaved_write_frame(formatContext, packet)
            guard written >= 0 else {
                throw FFmpegError.error(.io, "cannot write to \(destinationPath)", written)
            }
        }
    }

    /// Frees everything in the reverse order of creation. Safe to call repeatedly.
    func close() {
        if let scaler { sws_freeContext(scaler) }
        scaler = nil
        av_packet_free(&packet)
        av_frame_free(&frame)
        avcodec_free_context(&codecContext)
        stream = nil  // owned by the format context
        if let formatContext {
            if formatContext.pointee.oformat.map({ $0.pointee.flags & AVFMT_NOFILE == 0 }) ?? true {
                avio_closep(&formatContext.pointee.pb)
            }
            avformat_free_context(formatContext)
        }
        formatContext = nil
        rgb = []
    }
}
