// Images for image-to-video: decoded with libavcodec (any still format FFmpeg reads), scaled to
// cover the clip's frame and centre-cropped with libswscale, then turned into the VAE's input.

import CFFmpeg
import Foundation

/// A picture to start a clip from (`GenerationRequest.image`).
public enum ImageInput: Sendable, Equatable {
    /// An image file FFmpeg can decode (PNG, JPEG, WebP, BMP, TIFF, …; of a video, its first frame).
    case file(URL)
    /// Packed 8-bit RGB: `width × height × 3` bytes, rows from the top.
    case rgb(width: Int, height: Int, pixels: [UInt8])

    /// Largest side accepted, in pixels.
    public static let maximumSide = 16384

    /// The picture as packed RGB at exactly `width × height`: scaled (bicubic) so that it covers
    /// the frame, then centre-cropped to it; a picture of that size is taken as it is. The note
    /// says what was done when the size differed.
    func rgb(width: Int, height: Int) throws -> (pixels: [UInt8], note: String?) {
        let source = try decoded()
        guard source.width != width || source.height != height else { return (source.pixels, nil) }
        let pixels = try ImageInput.cover(source.pixels, width: source.width, height: source.height,
                                          toWidth: width, toHeight: height)
        return (pixels, "image \(source.width)x\(source.height) scaled to cover \(width)x\(height) and centre-cropped")
    }

    /// The image's own pixels and size.
    func decoded() throws -> (pixels: [UInt8], width: Int, height: Int) {
        switch self {
        case let .rgb(width, height, pixels):
            guard width > 0, height > 0, width <= ImageInput.maximumSide, height <= ImageInput.maximumSide else {
                throw KinemaError.invalidArgument(
                    "image size \(width)x\(height): each side must be 1 to \(ImageInput.maximumSide) pixels")
            }
            guard pixels.count == width * height * 3 else {
                throw KinemaError.invalidArgument(
                    "image of \(width)x\(height) needs \(width * height * 3) bytes of RGB, got \(pixels.count)")
            }
            return (pixels, width, height)
        case let .file(url):
            var first: (pixels: [UInt8], width: Int, height: Int)?
            do {
                try VideoProbe.decode(url: url, kind: "image") { frame in
                    guard frame.width <= ImageInput.maximumSide, frame.height <= ImageInput.maximumSide else {
                        throw KinemaError.unsupported("image \(url.path) is \(frame.width)x\(frame.height); "
                                                      + "each side may be at most \(ImageInput.maximumSide) pixels")
                    }
                    first = (try frame.converter.convert(frame.frame), frame.width, frame.height)
                    throw FirstFrameDecoded()
                }
            } catch is FirstFrameDecoded {}
            guard let first else { throw KinemaError.corrupt("image \(url.path) holds no decodable picture") }
            return first
        }
    }

    private struct FirstFrameDecoded: Error {}

    /// `pixels` (packed RGB, width × height) scaled to cover toWidth × toHeight and centre-cropped.
    static func cover(_ pixels: [UInt8], width: Int, height: Int, toWidth: Int, toHeight: Int) throws -> [UInt8] {
        // The largest centred region with the target's aspect ratio, in source pixels.
        var cropWidth = width, cropHeight = height
        if width * toHeight > height * toWidth {
            cropWidth = max(1, min(width, Int((Double(height) * Double(toWidth) / Double(toHeight)).rounded())))
        } else {
            cropHeight = max(1, min(height, Int((Double(width) * Double(toHeight) / Double(toWidth)).rounded())))
        }
        let x0 = (width - cropWidth) / 2, y0 = (height - cropHeight) / 2
        guard let scaler = sws_getContext(Int32(cropWidth), Int32(cropHeight), AV_PIX_FMT_RGB24,
                                          Int32(toWidth), Int32(toHeight), AV_PIX_FMT_RGB24,
                                          SWS_BICUBIC | SWS_ACCURATE_RND, nil, nil, nil) else {
            throw KinemaError.unsupported("swscale cannot scale \(cropWidth)x\(cropHeight) RGB to \(toWidth)x\(toHeight)")
        }
        defer { sws_freeContext(scaler) }
        // swscale may read and write a little past the last row with SIMD: pad both buffers.
        var source = pixels
        source.append(contentsOf: [UInt8](repeating: 0, count: 64))
        var out = [UInt8](repeating: 0, count: toWidth * toHeight * 3 + 64)
        let rows: Int32 = source.withUnsafeBufferPointer { sp in
            out.withUnsafeMutableBufferPointer { op in
                guard let base = sp.baseAddress else { return -1 }
                let sourcePlanes: [UnsafePointer<UInt8>?] = [base + (y0 * width + x0) * 3, nil, nil, nil]
                let sourceStrides: [Int32] = [Int32(width * 3), 0, 0, 0]
                let targetPlanes: [UnsafeMutablePointer<UInt8>?] = [op.baseAddress, nil, nil, nil]
                let targetStrides: [Int32] = [Int32(toWidth * 3), 0, 0, 0]
                return sws_scale(scaler, sourcePlanes, sourceStrides, 0, Int32(cropHeight), targetPlanes, targetStrides)
            }
        }
        guard rows == Int32(toHeight) else {
            throw KinemaError(.internalError, "swscale wrote \(rows) of \(toHeight) rows")
        }
        out.removeLast(64)
        return out
    }

    /// Packed RGB (width × height) as the VAE's input [3, 1, height, width] in [−1, 1], with
    /// diffusers' arithmetic (x / 255, then 2x − 1, in float32).
    static func videoTensor(_ pixels: [UInt8], width: Int, height: Int) -> Tensor {
        let plane = width * height
        var data = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            for c in 0..<3 {
                let x = Float(pixels[i * 3 + c]) / 255
                data[c * plane + i] = 2 * x - 1
            }
        }
        return Tensor(unchecked: [3, 1, height, width], data: data)
    }
}
