import Foundation
import ScalpelCore
import ScalpelNN
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// A ResNet basic block (stride 2, downsampling shortcut, training-mode batch norm) against
/// PyTorch: output, running statistics, and the gradients of the input and every parameter,
/// on every backend (scripts/golden_resnet_block.py wrote the fixture once).
@Suite struct ResNetGoldenTests {
    static let golden: GoldenLayerCase = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "Fixtures/golden_resnet_block.json")
        return try! JSONDecoder().decode(GoldenLayerCase.self, from: Data(contentsOf: url))
    }()

    /// Scalpel's path → PyTorch's state_dict key.
    static func torchName(_ name: String) -> String {
        name.replacingOccurrences(of: "downsample.layers.", with: "downsample.")
            .replacingOccurrences(of: "runningMean", with: "running_mean").replacingOccurrences(of: "runningVar", with: "running_var")
    }

    @Test(arguments: TensorBackends.names)
    func basicBlockMatchesPyTorch(_ backendName: String) throws {
        let backend = try TensorBackends.backend(backendName)
        let golden = Self.golden
        var generator = SeededRandom(seed: 0)
        let block = try BasicBlock(4, 8, stride: 2, generator: &generator, on: backend)
        #expect(golden.running?.isEmpty == false, "the fixture has running statistics")
        try checkAgainstGolden(block, golden, torchName: Self.torchName, tolerance: 1e-4, backendName, on: backend)
    }
}
