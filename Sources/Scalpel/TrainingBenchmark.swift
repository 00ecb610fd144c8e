import Foundation
import ScalpelCore
import ScalpelNN
import ScalpelTensor

/// The convolution benchmark of `scalpel bench conv`: the small CNN's convolutions alone,
/// forward or forward and backward, synchronised at the end of each call.
public enum TrainingBenchmark {
    /// The convolutions inside the small CNN: (name, input shape, output channels).
    public static let convShapes: [(name: String, input: [Int], outChannels: Int)] = [
        ("conv 3×3 1→32, 64×1×28×28", [64, 1, 28, 28], 32),
        ("conv 3×3 32→64, 64×32×14×14", [64, 32, 14, 14], 64),
    ]

    /// One convolution (3×3, padding 1), forward only or forward and backward (the weight
    /// gradient always; the input gradient when `inputGradient`), synchronised at the end.
    public static func convStep(on backend: any Backend, input shape: [Int], outChannels: Int, backward: Bool,
                                inputGradient: Bool) throws -> () throws -> Void {
        var generator = SeededRandom(seed: 2)
        let x = try Tensor.normal(shape, generator: &generator, on: backend, requiresGrad: backward && inputGradient)
        let conv = try Conv2d(shape[1], outChannels, kernel: 3, padding: 1, generator: &generator, on: backend)
        return {
            if backward {
                try conv.zeroGrad()
                try conv(x).sum().backward()
            } else {
                _ = try Autograd.noGrad { try conv(x) }
            }
            try backend.synchronize()
        }
    }

    /// Nominal FLOPs of a 3×3, padding-1 convolution's forward pass (2 per multiply-add).
    public static func convFlops(input shape: [Int], outChannels: Int) -> Double {
        2 * Double(shape[0] * outChannels * shape[2] * shape[3] * shape[1] * 9)
    }
}
