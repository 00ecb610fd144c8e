import ScalpelCore
import ScalpelCPUKernels

/// The positions of a grid grouped by which filter taps read inside the image, for the gathered
/// convolution: each group (a class) is one set of taps, so that its GEMMs run over those taps
/// only and never multiply the padding (oneDNN's direct convolution skips those taps too).
///
/// A tap's source position is separable: along each axis, a position's base plus the tap's
/// offset, inside the source's extent or not. The classes are the distinct pairs (taps inside
/// along the rows, taps inside along the columns); columns run class by class (in each, image by
/// image, then row, then column), each class padded to whole micro-kernel panels.
struct GatheredPlan {
    /// One axis of the target grid: its length, each position's base in the source, each
    /// candidate tap's offset from the base, and the source's extent.
    struct Axis {
        var length: Int
        var base: (Int) -> Int
        var offsets: [Int]
        var extent: Int

        /// The candidate taps (bits) whose source falls inside the extent, per position.
        var masks: [Int] {
            (0 ..< length).map { y in
                offsets.indices.reduce(0) { mask, t in (0 ..< extent).contains(base(y) + offsets[t]) ? mask | 1 << t : mask }
            }
        }
    }

    /// Candidate taps along the rows and columns; tap index = row tap · columnTaps + column tap.
    let rowTaps: Int, columnTaps: Int
    /// Per tap: the source offset from a position's source base.
    let tapOffsets: [Int]
    /// Per class: the taps that read inside the source, in index order.
    var classTaps: [[Int]] = []
    /// Per class: its first column and its positions (its columns up to whole panels after them).
    var classColumns: [(first: Int, count: Int)] = []
    /// Per column: the source base of its position (0 for a padding column).
    var sources: [Int] = []
    /// Per column: the target offset of its position (0 for a padding column).
    var targets: [Int] = []
    /// Groups of at most `groupPanels` consecutive panels of one class: (class, first panel, panels).
    var groups: [(classIndex: Int, first: Int, panels: Int)] = []
    /// Per group: the image of its first position (a pass that writes image by image keeps
    /// each image's results in cache while the classes fill them in).
    var groupImages: [Int] = []
    /// Positions per panel: each class is padded to whole panels (the micro-kernel's width).
    let panelWidth: Int

    /// Panels per unit of work of the packed passes: their B panels stay in L2 while A streams
    /// past them once.
    static let groupPanels = 4

    /// The plan for `images` images on the grid `rows` × `columns`: a position's source offset
    /// for a tap is image·`sourceImage` + (row base + row offset)·`sourceRow` + column base +
    /// column offset; `target(image, y, x)` is where its result goes. Classes are padded to
    /// whole panels of `panelWidth` positions, and go in groups of at most `groupPanels` panels.
    init(images: Int, rows: Axis, columns: Axis, sourceImage: Int, sourceRow: Int, panelWidth: Int, groupPanels: Int,
         target: (Int, Int, Int) -> Int) {
        rowTaps = rows.offsets.count
        columnTaps = columns.offsets.count
        tapOffsets = rows.offsets.flatMap { r in columns.offsets.map { r * sourceRow + $0 } }
        self.panelWidth = panelWidth
        let nr = panelWidth
        let (rowMasks, columnMasks) = (rows.masks, columns.masks)
        for rowMask in Set(rowMasks).sorted() {
            let ys = rowMasks.indices.filter { rowMasks[$0] == rowMask }
            for columnMask in Set(columnMasks).sorted() {
                let xs = columnMasks.indices.filter { columnMasks[$0] == columnMask }
                var taps: [Int] = []
                for r in 0 ..< rowTaps where rowMask & (1 << r) != 0 {
                    for s in 0 ..< columnTaps where columnMask & (1 << s) != 0 { taps.append(r * columnTaps + s) }
                }
                let classIndex = classTaps.count
                classTaps.append(taps)
                let first = sources.count
                for image in 0 ..< images {
                    for y in ys {
                        for x in xs {
                            sources.append(image * sourceImage + rows.base(y) * sourceRow + columns.base(x))
                            targets.append(target(image, y, x))
                        }
                    }
                }
                let count = sources.count - first
                classColumns.append((first, count))
                let panels = (count + nr - 1) / nr
                sources += repeatElement(0, count: panels * nr - count)
                targets += repeatElement(0, count: panels * nr - count)
                for start in stride(from: 0, to: panels, by: groupPanels) {
                    groups.append((classIndex, first / nr + start, min(groupPanels, panels - start)))
                    groupImages.append(start * nr / max(1, ys.count * xs.count))
                }
            }
        }
    }

    /// Positions of a panel that are real (not padding).
    func validColumns(panel: Int, classIndex: Int) -> Int {
        let (first, count) = classColumns[classIndex]
        return min(panelWidth, first + count - panel * panelWidth)
    }

    /// The forward plan of `g` (3×3, padding 1, stride σ): the output grid, every tap a
    /// candidate; a position's source base is (σ·oy − 1, σ·ox − 1) in its image of x, its target
    /// (image, ·, oy, ox) in y (output channel 0). Panels of `panelWidth` positions, in groups of
    /// `groupPanels`.
    static func forward(_ g: Conv2dGeometry, panelWidth: Int = PackedGEMM.nr, groupPanels: Int = Self.groupPanels) -> GatheredPlan {
        let s = g.strideH
        return GatheredPlan(images: g.batch,
                            rows: Axis(length: g.outHeight, base: { s * $0 - 1 }, offsets: [0, 1, 2], extent: g.height),
                            columns: Axis(length: g.outWidth, base: { s * $0 - 1 }, offsets: [0, 1, 2], extent: g.width),
                            sourceImage: g.height * g.width, sourceRow: g.width, panelWidth: panelWidth, groupPanels: groupPanels,
                            target: { image, y, x in (image * g.outChannels * g.outHeight + y) * g.outWidth + x })
    }

    /// Tap r of a 3×3 window at stride σ with padding 1: its phase a and offset d with
    /// r − 1 = σ·d + a. Input row σ·oy + r − 1 has phase a, and the input row σ·i + a takes
    /// tap r from output row oy = i − d.
    static func tap(_ r: Int, stride: Int) -> (phase: Int, offset: Int) {
        let d = r == 0 ? -1 : (r - 1) / stride
        return (r - 1 - stride * d, d)
    }

    /// The input-gradient plan of `g` for phase (a, b) of the input: the grid of input positions
    /// (σ·i + a, σ·j + b); the candidate taps are those of that phase (filter row r with
    /// r − 1 = σ·d + a), reading dY at (i − d, j − d'); the target is (image, ·, σ·i + a, σ·j + b)
    /// in dX (input channel 0). Nil when the phase has no position inside the input. Panels and
    /// groups as in `forward`.
    static func backwardData(_ g: Conv2dGeometry, phase a: Int, _ b: Int, panelWidth: Int = PackedGEMM.nr,
                             groupPanels: Int = Self.groupPanels) -> (plan: GatheredPlan, rows: [Int], columns: [Int])? {
        let s = g.strideH
        let (rows, columns) = ((0 ..< 3).filter { Self.tap($0, stride: s).phase == a },
                               (0 ..< 3).filter { Self.tap($0, stride: s).phase == b })
        let (height, width) = ((g.height - a + s - 1) / s, (g.width - b + s - 1) / s)
        guard height > 0, width > 0, !rows.isEmpty, !columns.isEmpty else { return nil }
        let plan = GatheredPlan(images: g.batch,
                                rows: Axis(length: height, base: { $0 }, offsets: rows.map { -Self.tap($0, stride: s).offset },
                                           extent: g.outHeight),
                                columns: Axis(length: width, base: { $0 }, offsets: columns.map { -Self.tap($0, stride: s).offset },
                                              extent: g.outWidth),
                                sourceImage: g.outHeight * g.outWidth, sourceRow: g.outWidth, panelWidth: panelWidth, groupPanels: groupPanels,
                                target: { image, i, j in (image * g.inChannels * g.height + s * i + a) * g.width + s * j + b })
        return (plan, rows, columns)
    }
}
