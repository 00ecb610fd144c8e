import Foundation

/// Labelled image files, from a folder with one subfolder per class (optionally inside `train/`,
/// `val/` and `test/` folders that fix the split) or from a CSV manifest (`path,label[,patient]`)
/// for images spread over folders.
///
/// In a class folder, images may sit in nested folders (a patient's DICOM series, say): each
/// first-level subfolder is then a group, kept whole in one split. Hidden files (a leading dot)
/// are passed over; every other file must be an image.
public struct ImageCollection: Sendable {
    /// A split a folder layout or a manifest fixes.
    public enum Split: String, Sendable, CaseIterable {
        /// Training images.
        case train
        /// Validation images (the folder `val/` or `validation/`).
        case validation
        /// Test images.
        case test
    }

    /// One labelled image file.
    public struct Item: Sendable, Equatable {
        /// The file.
        public var path: String
        /// Its class name (the folder's name, or the manifest's label).
        public var className: String
        /// The group it belongs to (a patient), kept whole in one split; nil when not grouped.
        public var group: String?
        /// The split its folder fixes, if any.
        public var split: Split?
    }

    /// The folder or manifest, as errors name it.
    public var source: String
    /// The images, in a stable order (sorted by path within each class).
    public var items: [Item]
    /// The class names in class-index order: the given order, else sorted.
    public var classNames: [String]
    /// Where the groups come from ("the manifest's patient column", "the class folders'
    /// subfolders"), nil when the images are not grouped.
    public var grouping: String?

    /// Whether the layout fixes the train/validation/test split.
    public var hasFixedSplit: Bool { items.contains { $0.split != nil } }

    /// The column names a manifest must have (`path`, `label`) and may have (`patient`).
    public static let manifestColumns = (path: "path", label: "label", patient: "patient")

    /// Whether `path` is a CSV manifest of images: its header has `path` and `label` columns and
    /// its first row's path names an image file.
    /// - Parameter path: A `.csv` file.
    /// - Returns: True for a manifest, false for a table (or an unreadable file, which loading
    ///   then reports).
    public static func isManifest(_ path: String) -> Bool {
        guard URL(fileURLWithPath: path).pathExtension.lowercased() == "csv",
              let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = String(decoding: (try? handle.read(upToCount: 64 << 10)) ?? Data(), as: UTF8.self)
        let lines = head.split(whereSeparator: \.isNewline).prefix(2).map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() } }
        guard lines.count == 2, let p = lines[0].firstIndex(of: manifestColumns.path), lines[0].contains(manifestColumns.label),
              p < lines[1].count else { return false }
        let file = lines[1][p].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        return ImageFileFormat.extensions.contains(URL(fileURLWithPath: file).pathExtension.lowercased())
    }

    /// The images of a folder or a manifest.
    /// - Parameters:
    ///   - path: A folder (one subfolder per class, optionally under `train/`, `val/`, `test/`) or
    ///     a CSV manifest.
    ///   - classes: The class order to use; the data's classes must be exactly these (or, with
    ///     `allowingMissingClasses`, among these). Nil: the data's class names, sorted.
    ///   - allowingMissingClasses: Whether some of `classes` may have no images (new data for a
    ///     trained model).
    /// - Returns: The labelled files.
    /// - Throws: `ImageFileError` naming the folder, file or manifest line.
    public static func open(_ path: String, classes: [String]? = nil, allowingMissingClasses: Bool = false) throws -> ImageCollection {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ImageFileError(path: path, reason: "no such file or folder", missingLibrary: false)
        }
        var collection = isDirectory.boolValue ? try folder(path) : try manifest(path)
        let found = Set(collection.items.map(\.className))
        guard !collection.items.isEmpty else {
            throw ImageFileError(path: path, reason: isDirectory.boolValue
                ? "no images: expected one subfolder per class (optionally inside train/, val/ and test/)" : "the manifest lists no images",
                missingLibrary: false)
        }
        if let classes {
            let unknown = found.subtracting(classes).sorted(), missing = Set(classes).subtracting(found).sorted()
            guard unknown.isEmpty, allowingMissingClasses || missing.isEmpty else {
                throw ImageFileError(path: path, reason: "its classes are \(found.sorted().joined(separator: ", ")); expected "
                    + classes.joined(separator: ", ")
                    + (unknown.isEmpty ? "" : " (unknown: \(unknown.joined(separator: ", ")))")
                    + (missing.isEmpty || allowingMissingClasses ? "" : " (no images: \(missing.joined(separator: ", ")))"),
                    missingLibrary: false)
            }
            collection.classNames = classes
        } else {
            collection.classNames = found.sorted()
        }
        return collection
    }

    /// Whether `path` holds labelled images of `classes`: a manifest with a label column, or a
    /// folder whose every subfolder is one of `classes` (or a train/, val/ or test/ folder).
    /// - Parameters:
    ///   - path: A folder or a manifest.
    ///   - classes: The class names a model knows.
    /// - Returns: False for a folder of images without class folders, or a manifest without labels.
    public static func isLabelled(_ path: String, classes: [String]) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return true }
        guard isDirectory.boolValue else {
            let table = try? CSVTable.load(from: URL(fileURLWithPath: path))
            return table.map { $0.columns.contains { $0.lowercased() == manifestColumns.label } } ?? true
        }
        let known = Set(classes + ["train", "val", "valid", "validation", "test"])
        guard let entries = try? visibleEntries(URL(fileURLWithPath: path)) else { return true }
        let folders = entries.filter(isFolder)
        return !folders.isEmpty && folders.allSatisfy { known.contains($0.lastPathComponent) }
            && !entries.contains { !isFolder($0) && ImageFileFormat.extensions.contains($0.pathExtension.lowercased()) }
    }

    /// Every image under `path` (a folder, searched through its subfolders, or a manifest's
    /// `path` column), without labels: images to predict.
    /// - Parameter path: A folder or a manifest.
    /// - Returns: The files, sorted by path, each with an empty class name.
    /// - Throws: `ImageFileError` naming the folder or manifest line.
    public static func unlabelled(_ path: String) throws -> ImageCollection {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ImageFileError(path: path, reason: "no such file or folder", missingLibrary: false)
        }
        var items: [Item] = []
        if isDirectory.boolValue {
            items = try allFiles(URL(fileURLWithPath: path)).map { Item(path: $0.path, className: "", group: nil, split: nil) }
        } else {
            let table: CSVTable
            do { table = try CSVTable.load(from: URL(fileURLWithPath: path)) } catch {
                throw ImageFileError(path: path, reason: "\(error)", missingLibrary: false)
            }
            guard let p = table.columns.firstIndex(where: { $0.lowercased() == manifestColumns.path }) else {
                throw ImageFileError(path: path, reason: "a manifest needs the column \(manifestColumns.path)", missingLibrary: false)
            }
            let base = URL(fileURLWithPath: path).deletingLastPathComponent()
            for (row, line) in zip(table.rows, table.lineNumbers) {
                let file = row[p].trimmingCharacters(in: .whitespaces)
                guard !file.isEmpty else { throw ImageFileError(path: "\(path), line \(line)", reason: "an empty \(manifestColumns.path)", missingLibrary: false) }
                let resolved = file.hasPrefix("/") ? URL(fileURLWithPath: file) : base.appendingPathComponent(file)
                items.append(Item(path: resolved.standardizedFileURL.path, className: "", group: nil, split: nil))
            }
        }
        guard !items.isEmpty else { throw ImageFileError(path: path, reason: "no images", missingLibrary: false) }
        return ImageCollection(source: path, items: items, classNames: [], grouping: nil)
    }

    private static func visibleEntries(_ url: URL) throws -> [URL] {
        do {
            return try FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: [.isDirectoryKey])
                .filter { !$0.lastPathComponent.hasPrefix(".") }
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
        } catch {
            throw ImageFileError(path: url.path, reason: "cannot be listed (\((error as NSError).localizedDescription))", missingLibrary: false)
        }
    }

    private static func isFolder(_ url: URL) -> Bool { (try? url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true }

    private static func folder(_ path: String) throws -> ImageCollection {
        let root = URL(fileURLWithPath: path)
        let top = try visibleEntries(root)
        let splitFolders: [String: Split] = ["train": .train, "val": .validation, "valid": .validation, "validation": .validation, "test": .test]
        let named = top.filter { isFolder($0) && splitFolders[$0.lastPathComponent.lowercased()] != nil }
        let fixed = named.contains { splitFolders[$0.lastPathComponent.lowercased()] == .train }
            && named.contains { splitFolders[$0.lastPathComponent.lowercased()] == .test }
        var items: [Item] = []
        var nested = false
        func classFolders(in url: URL, split: Split?) throws {
            for entry in try visibleEntries(url) {
                guard isFolder(entry) else {
                    if ImageFileFormat.extensions.contains(entry.pathExtension.lowercased()) {
                        throw ImageFileError(path: entry.path, reason: "an image outside any class folder: put each class's images in a "
                            + "subfolder named for the class", missingLibrary: false)
                    }
                    continue  // a README or a licence beside the class folders
                }
                let className = entry.lastPathComponent
                for file in try visibleEntries(entry) {
                    if isFolder(file) {
                        nested = true
                        let group = "\(className)/\(file.lastPathComponent)"
                        for inner in try allFiles(file) { items.append(Item(path: inner.path, className: className, group: group, split: split)) }
                    } else {
                        items.append(Item(path: file.path, className: className, group: nil, split: split))
                    }
                }
            }
        }
        if fixed {
            if let stray = top.first(where: { isFolder($0) && splitFolders[$0.lastPathComponent.lowercased()] == nil }) {
                throw ImageFileError(path: stray.path, reason: "beside train/ and test/ folders, every folder must be a split "
                    + "(train, val, test)", missingLibrary: false)
            }
            for folder in named { try classFolders(in: folder, split: splitFolders[folder.lastPathComponent.lowercased()]) }
        } else {
            try classFolders(in: root, split: nil)
        }
        if nested {
            // An image directly in a class folder is its own group.
            for i in items.indices where items[i].group == nil { items[i].group = items[i].path }
        }
        return ImageCollection(source: path, items: items, classNames: [], grouping: nested ? "the subfolders of each class folder" : nil)
    }

    private static func allFiles(_ url: URL) throws -> [URL] {
        var files: [URL] = []
        for entry in try visibleEntries(url) {
            if isFolder(entry) { files += try allFiles(entry) } else { files.append(entry) }
        }
        return files
    }

    private static func manifest(_ path: String) throws -> ImageCollection {
        let table: CSVTable
        do { table = try CSVTable.load(from: URL(fileURLWithPath: path)) } catch {
            throw ImageFileError(path: path, reason: "\(error)", missingLibrary: false)
        }
        let names = manifestColumns
        guard let p = table.columns.firstIndex(where: { $0.lowercased() == names.path }),
              let l = table.columns.firstIndex(where: { $0.lowercased() == names.label }) else {
            throw ImageFileError(path: path, reason: "a manifest needs the columns \(names.path) and \(names.label) (and may have \(names.patient))",
                                 missingLibrary: false)
        }
        let g = table.columns.firstIndex { $0.lowercased() == names.patient }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        var items: [Item] = []
        for (row, line) in zip(table.rows, table.lineNumbers) {
            let file = row[p].trimmingCharacters(in: .whitespaces), label = row[l].trimmingCharacters(in: .whitespaces)
            guard !file.isEmpty, !label.isEmpty else {
                throw ImageFileError(path: "\(path), line \(line)", reason: "an empty \(file.isEmpty ? names.path : names.label)", missingLibrary: false)
            }
            let resolved = file.hasPrefix("/") ? URL(fileURLWithPath: file) : base.appendingPathComponent(file)
            let group = g.map { row[$0].trimmingCharacters(in: .whitespaces) }
            if let group, group.isEmpty {
                throw ImageFileError(path: "\(path), line \(line)", reason: "an empty \(names.patient)", missingLibrary: false)
            }
            items.append(Item(path: resolved.standardizedFileURL.path, className: label, group: group, split: nil))
        }
        return ImageCollection(source: path, items: items, classNames: [], grouping: g == nil ? nil : "the manifest's \(names.patient) column")
    }
}
