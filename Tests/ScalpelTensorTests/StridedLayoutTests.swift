import ScalpelCore
import ScalpelOpenCL
import Testing

/// The dimension merging in front of the strided copy and broadcast kernels.
@Suite struct StridedLayoutTests {
    @Test func batchNormBroadcastMergesTheSpatialDimensions() throws {
        // (N, C, H, W) ⊕ (1, C, 1, 1): H and W merge; the channel stays apart.
        let layout = try BroadcastLayout([32, 64, 28, 28], [1, 64, 1, 1], op: "add")
        let merged = OpenCLBackend.coalesce(layout.shape, [layout.stridesA, layout.stridesB])
        #expect(merged.shape == [32, 64, 784])
        #expect(merged.strides == [[64 * 784, 784, 1], [0, 1, 0]])
    }

    @Test func sizeOneDimensionsDropAndATransposeStays() {
        // A (K, chunk, spatial) → (chunk, K, spatial) permutation keeps three dimensions.
        let merged = OpenCLBackend.coalesce([1, 4, 1, 8, 784], [[0, 784, 0, 3136, 1], [0, 8 * 784, 0, 784, 1]])
        #expect(merged.shape == [4, 8, 784])
        #expect(merged.strides == [[784, 3136, 1], [8 * 784, 784, 1]])
        // Fully contiguous: one dimension; a single element: rank 1.
        #expect(OpenCLBackend.coalesce([2, 3, 4], [[12, 4, 1], [12, 4, 1]]).shape == [24])
        let scalar = OpenCLBackend.coalesce([1, 1], [[5, 5], [1, 1]])
        #expect(scalar.shape == [1] && scalar.strides == [[0], [0]])
    }
}
