import ScalpelCore

/// A model's tensors packed into one flat buffer — each tensor a view of its own region,
/// regions aligned for the backend — with a parallel flat buffer for the gradients of the
/// trainable ones. Work over every parameter then takes one launch instead of one per tensor:
/// the optimizer update, zeroing the gradients, their global norm and clipping, the weight
/// average (PyTorch's `foreach`/fused optimizers and FSDP's flat parameters do the same).
///
/// Packing keeps every value and every tensor object (layers, optimizers and checkpoints hold
/// the same `Tensor`s, whose storage becomes a view): trainable tensors first, in the order
/// given, then the others (running statistics). Padding between regions is zero in every flat
/// buffer and stays zero under the updates (a zero gradient moves nothing).
public final class TensorArena {
    /// The backend every packed tensor lives on.
    public let backend: any Backend
    /// The packed tensors: the trainable ones (`trainableCount` of them) first.
    public let tensors: [Tensor]
    /// Where each tensor's region starts in the flat buffers, in elements.
    public let offsets: [Int]
    /// How many of `tensors` (the first ones) require gradients.
    public let trainableCount: Int
    /// Elements in the flat buffers up to the end of the last trainable region.
    public let trainableExtent: Int
    /// Elements in the flat buffers (all regions and their padding).
    public let extent: Int
    /// The values of every tensor.
    public let storage: any DeviceBuffer
    /// The gradients of the trainable tensors (`trainableExtent` elements used), each tensor's
    /// `grad` a view of its region.
    public let gradients: any DeviceBuffer
    /// Each trainable tensor's gradient view, to check that a tensor's `grad` is still it.
    private let gradientViews: [any DeviceBuffer]
    /// Each packed tensor's index in `tensors`.
    private let indexByTensor: [ObjectIdentifier: Int]

    /// Packs `tensors` (all on one backend, each once) into flat buffers.
    public init(_ tensors: [Tensor]) throws {
        guard let first = tensors.first else { throw ScalpelError.invalidArgument("TensorArena: no tensors") }
        let backend = first.backend
        guard tensors.allSatisfy({ $0.backend === backend }) else {
            throw ScalpelError.invalidArgument("TensorArena: the tensors live on different backends")
        }
        guard Set(tensors.map(ObjectIdentifier.init)).count == tensors.count else {
            throw ScalpelError.invalidArgument("TensorArena: a tensor is listed twice")
        }
        let ordered = tensors.filter(\.requiresGrad) + tensors.filter { !$0.requiresGrad }
        let layout = TensorArena.layout(ordered.map(\.count), alignment: backend.viewAlignment)
        let trainable = tensors.filter(\.requiresGrad).count
        self.backend = backend
        self.tensors = ordered
        offsets = layout.offsets
        extent = layout.extent
        trainableCount = trainable
        trainableExtent = trainable == 0 ? 0 : layout.offsets[trainable - 1] + ordered[trainable - 1].count
        storage = try backend.makeBuffer(count: extent)
        gradients = try backend.makeBuffer(count: Swift.max(trainableExtent, 1))
        try backend.fill(storage, value: 0, offset: 0, count: extent)
        try backend.fill(gradients, value: 0, offset: 0, count: gradients.count)
        var views: [any DeviceBuffer] = []
        for (index, tensor) in ordered.enumerated() {
            let view = try backend.makeView(of: storage, offset: offsets[index], count: tensor.count)
            try backend.copy(StridedCopy(shape: [tensor.count], srcStrides: [1], dstStrides: [1]), from: tensor.storage, to: view)
            if index < trainable {
                let gradient = try backend.makeView(of: gradients, offset: offsets[index], count: tensor.count)
                if let grad = tensor.grad {
                    try backend.copy(StridedCopy(shape: [tensor.count], srcStrides: [1], dstStrides: [1]), from: grad.storage, to: gradient)
                }
                views.append(gradient)
            }
        }
        gradientViews = views
        indexByTensor = Dictionary(uniqueKeysWithValues: ordered.enumerated().map { (ObjectIdentifier($1), $0) })
        // Rebind only after every copy is enqueued, so that a failure leaves the tensors as they were.
        for (index, tensor) in ordered.enumerated() {
            tensor.storage = try backend.makeView(of: storage, offset: offsets[index], count: tensor.count)
            if index < trainable { tensor.grad = Tensor(storage: views[index], shape: tensor.shape, backend: backend) }
            tensor.arena = self
        }
    }

    /// Offsets of regions of `counts` elements laid out in order, each starting at a multiple
    /// of `alignment`, and the total extent.
    public static func layout(_ counts: [Int], alignment: Int) -> (offsets: [Int], extent: Int) {
        var offsets: [Int] = [], next = 0
        let align = Swift.max(alignment, 1)
        for count in counts {
            offsets.append(next)
            next = (next + count + align - 1) / align * align
        }
        return (offsets, Swift.max(next, 1))
    }

    /// The arena holding exactly `parameters`, in this order, as its trainable tensors — with
    /// each one's gradient still the arena's view — or nil. Multi-tensor paths use the arena
    /// only then, and fall back to one launch per tensor otherwise.
    public static func packing(_ parameters: [Tensor]) -> TensorArena? {
        guard let arena = parameters.first?.arena, parameters.count == arena.trainableCount else { return nil }
        for (index, tensor) in parameters.enumerated() {
            guard tensor === arena.tensors[index], tensor.grad?.storage === arena.gradientViews[index] else { return nil }
        }
        return arena
    }

    /// The index in `tensors` of `tensor` when it is one of the trainable tensors and its
    /// gradient is still the arena's view, else nil.
    public func trainableIndex(of tensor: Tensor) -> Int? {
        guard let index = indexByTensor[ObjectIdentifier(tensor)], index < trainableCount,
              tensor.grad?.storage === gradientViews[index] else { return nil }
        return index
    }

    /// A flat buffer with this arena's layout over its trainable regions, zero-filled, and a
    /// view per trainable tensor (optimizer state: one buffer for all, a tensor per parameter).
    public func makeTrainableState() throws -> (flat: any DeviceBuffer, tensors: [Tensor]) {
        try makeState(regions: trainableCount, extent: Swift.max(trainableExtent, 1))
    }

    /// A flat buffer with this arena's whole layout holding a copy of every tensor's values, and
    /// a view per tensor (the weight average).
    public func makeCopy() throws -> (flat: any DeviceBuffer, tensors: [Tensor]) {
        let state = try makeState(regions: tensors.count, extent: extent)
        try backend.copy(StridedCopy(shape: [extent], srcStrides: [1], dstStrides: [1]), from: storage, to: state.flat)
        return state
    }

    private func makeState(regions: Int, extent: Int) throws -> (flat: any DeviceBuffer, tensors: [Tensor]) {
        let flat = try backend.makeBuffer(count: extent)
        try backend.fill(flat, value: 0, offset: 0, count: extent)
        let views = try (0 ..< regions).map { index in
            Tensor(storage: try backend.makeView(of: flat, offset: offsets[index], count: tensors[index].count),
                   shape: tensors[index].shape, backend: backend)
        }
        return (flat, views)
    }

    /// The trainable tensors' regions in the flat buffers (the gaps between them are padding,
    /// zero in `gradients`).
    public var trainableSegments: [Range<Int>] {
        (0 ..< trainableCount).map { offsets[$0] ..< offsets[$0] + tensors[$0].count }
    }

    /// Sets every trainable tensor's gradient to zero: one launch.
    public func zeroGradients() throws {
        try backend.fill(gradients, value: 0, offset: 0, count: gradients.count)
    }
}
