// Unaligned 8-lane loads and stores shared by the SIMD kernels of this module.

@inline(__always)
func load8(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Stores the first `count` lanes of `value` (all eight when `count` is 8).
@inline(__always)
func storePartial8(_ value: SIMD8<Float>, to target: UnsafeMutablePointer<Float>, count: Int) {
    if count == 8 {
        UnsafeMutableRawPointer(target).storeBytes(of: value, as: SIMD8<Float>.self)
    } else {
        for lane in 0 ..< count { target[lane] = value[lane] }
    }
}

/// Stores the first `count` (at most 16) values of (even[0], odd[0], even[1], odd[1], …).
@inline(__always)
func storeInterleaved(_ even: SIMD8<Float>, _ odd: SIMD8<Float>, to target: UnsafeMutablePointer<Float>, count: Int) {
    let low = SIMD8(even[0], odd[0], even[1], odd[1], even[2], odd[2], even[3], odd[3])
    let high = SIMD8(even[4], odd[4], even[5], odd[5], even[6], odd[6], even[7], odd[7])
    if count >= 8 {
        UnsafeMutableRawPointer(target).storeBytes(of: low, as: SIMD8<Float>.self)
        storePartial8(high, to: target + 8, count: count - 8)
    } else {
        storePartial8(low, to: target, count: count)
    }
}

/// The even and odd lanes of the 16 floats at `p`.
@inline(__always)
func loadDeinterleaved(_ p: UnsafePointer<Float>) -> (even: SIMD8<Float>, odd: SIMD8<Float>) {
    let v = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    return (v.evenHalf, v.oddHalf)
}
