import ScalpelData

// Colours for the plots and image overlays: an 8-bit RGB colour, the series palette, and
// colormaps that turn a number in [0, 1] into a colour.

/// An opaque 8-bit RGB colour.
public struct PlotColor: Equatable, Hashable, Sendable {
    /// The red component, 0–255.
    public var red: UInt8
    /// The green component, 0–255.
    public var green: UInt8
    /// The blue component, 0–255.
    public var blue: UInt8

    /// A colour from its 8-bit components.
    public init(red: UInt8, green: UInt8, blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// A colour from 0xRRGGBB.
    public init(hex: UInt32) {
        self.init(red: UInt8((hex >> 16) & 0xFF), green: UInt8((hex >> 8) & 0xFF), blue: UInt8(hex & 0xFF))
    }

    /// The colour as SVG and CSS write it: "#rrggbb", lower-case.
    public var hex: String {
        let digits = Array("0123456789abcdef")
        var text = "#"
        for component in [red, green, blue] {
            text.append(digits[Int(component >> 4)])
            text.append(digits[Int(component & 0x0F)])
        }
        return text
    }

    /// The relative luminance (ITU-R BT.709 weights on the 8-bit values), 0 for black to 1 for
    /// white: used to choose black or white text over a filled cell.
    public var luminance: Double {
        (0.2126 * Double(red) + 0.7152 * Double(green) + 0.0722 * Double(blue)) / 255
    }

    /// Black.
    public static let black = PlotColor(red: 0, green: 0, blue: 0)
    /// White.
    public static let white = PlotColor(red: 255, green: 255, blue: 255)

    /// Ten distinct colours for series, in order (the "category10" palette of D3 and
    /// matplotlib's default cycle): series `i` takes `palette[i % 10]` unless it names its own.
    public static let palette: [PlotColor] = [
        0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf,
    ].map { PlotColor(hex: $0) }
}

/// A map from a number in [0, 1] to a colour, for heatmaps, weight bands and image overlays.
///
/// - `viridis`: dark purple (0) through blue and green to yellow (1); perceptually uniform and
///   readable in grey and by most colour-blind readers. Piecewise-linear through eight samples
///   of matplotlib's viridis taken at 0, 1/7, …, 1 (#440154, #46327e, #365c8d, #277f8e, #1fa187,
///   #4ac16d, #a0da39, #fde725), within a few levels per channel of the 256-entry original.
/// - `jet`: the classic rainbow, dark blue (0) through cyan, yellow and red to dark red (1),
///   each channel `clamp(1.5 − |4t − k|)` with k = 3, 2, 1 for red, green and blue. Familiar from
///   saliency maps but not perceptually uniform.
/// - `greys`: black (0) to white (1).
/// - `reds`: white (0) to dark red (1); a light background for a trace drawn over it in black.
public enum Colormap: String, CaseIterable, Equatable, Sendable {
    /// Dark purple to yellow, perceptually uniform.
    case viridis
    /// Dark blue through cyan, yellow and red to dark red.
    case jet
    /// Black to white.
    case greys
    /// White to dark red.
    case reds

    /// The colour of `value`, clamped to [0, 1]; NaN is taken as 0.
    public func color(_ value: Double) -> PlotColor {
        let t = value.isNaN ? 0 : min(max(value, 0), 1)
        switch self {
        case .viridis:
            return Self.interpolate(Self.viridisAnchors, t)
        case .jet:
            func channel(_ k: Double) -> UInt8 { Self.byte(min(max(1.5 - abs(4 * t - k), 0), 1)) }
            return PlotColor(red: channel(3), green: channel(2), blue: channel(1))
        case .greys:
            let level = Self.byte(t)
            return PlotColor(red: level, green: level, blue: level)
        case .reds:
            return Self.interpolate(Self.redsAnchors, t)
        }
    }

    private static let viridisAnchors: [PlotColor] = [
        0x440154, 0x46327e, 0x365c8d, 0x277f8e, 0x1fa187, 0x4ac16d, 0xa0da39, 0xfde725,
    ].map { PlotColor(hex: $0) }

    private static let redsAnchors: [PlotColor] = [0xffffff, 0xfcae91, 0xfb6a4a, 0xcb181d, 0x67000d]
        .map { PlotColor(hex: $0) }

    /// The colour at `t` of the piecewise-linear map through equally spaced `anchors`.
    private static func interpolate(_ anchors: [PlotColor], _ t: Double) -> PlotColor {
        let position = t * Double(anchors.count - 1)
        let lower = min(Int(position), anchors.count - 2)
        let fraction = position - Double(lower)
        let a = anchors[lower]
        let b = anchors[lower + 1]
        func mix(_ x: UInt8, _ y: UInt8) -> UInt8 {
            UInt8((Double(x) + (Double(y) - Double(x)) * fraction).rounded())
        }
        return PlotColor(red: mix(a.red, b.red), green: mix(a.green, b.green), blue: mix(a.blue, b.blue))
    }

    private static func byte(_ unit: Double) -> UInt8 { UInt8((unit * 255).rounded()) }
}
