/// Memory owned by one backend, holding `count` fp32 values.
public protocol DeviceBuffer: AnyObject, Sendable {
    /// Number of fp32 elements.
    var count: Int { get }
    /// The backend that made this buffer; only it may use the buffer.
    var owner: DeviceID { get }
}

/// A compute backend: the pure-Swift CPU backend or one OpenCL device.
///
/// Backends offer coarse operations on their own buffers. Autograd and everything above sit
/// over this protocol, so a backend holds no gradient logic beyond the backward kernels of
/// fused operations. Operations are enqueued in order; `synchronize()` waits for all of them.
public protocol Backend: AnyObject, Sendable {
    /// Which device this is.
    var id: DeviceID { get }
    /// A human-readable name (the device's name, or the CPU model).
    var displayName: String { get }

    /// Allocates a buffer of `count` fp32 values (contents undefined).
    func makeBuffer(count: Int) throws -> any DeviceBuffer
    /// Copies `source` into `buffer` starting at element `offset`.
    func write(_ source: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, at offset: Int) throws
    /// Copies elements of `buffer` starting at `offset` into `destination` (which sets the count).
    func read(_ buffer: any DeviceBuffer, at offset: Int, into destination: UnsafeMutableBufferPointer<Float>) throws

    /// C = alpha·op(A)·op(B) + beta·C for each batch entry (row-major fp32). See `GEMMParameters`.
    func gemm(_ parameters: GEMMParameters, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer) throws

    /// Blocks until every operation enqueued so far has finished.
    func synchronize() throws
}

extension Backend {
    /// A new buffer holding `values`.
    public func makeBuffer(_ values: [Float]) throws -> any DeviceBuffer {
        let buffer = try makeBuffer(count: values.count)
        try values.withUnsafeBufferPointer { try write($0, to: buffer, at: 0) }
        return buffer
    }

    /// The whole contents of `buffer` as an array.
    public func read(_ buffer: any DeviceBuffer) throws -> [Float] {
        try [Float](unsafeUninitializedCapacity: buffer.count) { storage, initialized in
            try read(buffer, at: 0, into: storage)
            initialized = buffer.count
        }
    }

    /// Throws unless `buffer` was made by this backend.
    public func checkOwnership(_ buffer: any DeviceBuffer, op: String) throws {
        guard buffer.owner == id else {
            throw ScalpelError.foreignBuffer(op: op, expected: id.description, got: buffer.owner.description)
        }
    }
}

extension Backend {
    /// Runs one GEMM on host arrays: uploads A, B and C, computes, and returns the new C.
    /// `body` performs the call (default: `gemm`), so callers can pick a kernel variant.
    public func gemm(_ p: GEMMParameters, a: [Float], b: [Float], c: [Float],
                     body: ((any DeviceBuffer, any DeviceBuffer, any DeviceBuffer) throws -> Void)? = nil) throws -> [Float] {
        let (da, db, dc) = (try makeBuffer(a), try makeBuffer(b), try makeBuffer(c))
        if let body { try body(da, db, dc) } else { try gemm(p, a: da, b: db, c: dc) }
        return try read(dc)
    }
}
