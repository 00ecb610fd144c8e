// The default bodies of the Backend protocol's composed operations: each is written once, from
// the primitives (unary and binary maps, axpby, reductions), and so runs on every backend — the
// CPU-Swift backend, any OpenCL device — with no kernel of its own. A backend overrides one only
// where a fused kernel pays (one launch and one pass over memory instead of several); the
// conformance cases check every backend's result either way.

extension Backend {
    /// The default `channelSums`: a sum over the batch, then over the positions, with `reduce`.
    public func channelSums(_ x: any DeviceBuffer, out: any DeviceBuffer, batch: Int, channels: Int, positions: Int) throws {
        // The batch first: a sum of whole images, contiguous along channels × positions (a
        // row-wise sum of every position, outer N·C, ran 3.6× slower on the CPU-Swift backend).
        let perChannel = try makeBuffer(count: max(channels * positions, 1))
        try reduce(.sum, x: x, out: perChannel, outer: 1, axis: batch, inner: channels * positions)
        try reduce(.sum, x: perChannel, out: out, outer: channels, axis: positions, inner: 1)
    }

    /// The default `silu`: σ(x) into a scratch buffer, then x·σ(x) — two launches.
    public func silu(x: any DeviceBuffer, y: any DeviceBuffer, count: Int) throws {
        guard count > 0 else { return }
        let sigmoid = try makeBuffer(count: count)
        try unary(.sigmoid, x: x, y: sigmoid, count: count)
        try binary(.mul, a: x, b: sigmoid, out: y, layout: try BroadcastLayout([count], [count], op: "silu"))
    }

    /// The default `siluBackward`, from s = σ(x) and y = x·s: u = (x − y)·s = x·s·(1 − s), then
    /// dx = dy·(u + s) — five launches and two scratch buffers.
    public func siluBackward(x: any DeviceBuffer, y: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer, count: Int) throws {
        guard count > 0 else { return }
        let layout = try BroadcastLayout([count], [count], op: "silu")
        let s = try makeBuffer(count: count), u = try makeBuffer(count: count)
        try unary(.sigmoid, x: x, y: s, count: count)
        try binary(.sub, a: x, b: y, out: u, layout: layout)
        try binary(.mul, a: u, b: s, out: u, layout: layout)
        try axpby(alpha: 1, x: s, beta: 1, y: u, count: count)
        try binary(.mul, a: dy, b: u, out: dx, layout: layout)
    }
}
