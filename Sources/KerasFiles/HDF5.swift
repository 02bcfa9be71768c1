import CHDF5
import Core
import Foundation

/// An open HDF5 object (file, group, dataset, attribute, dataspace or type), closed when released.
final class H5Handle {
    let id: hid_t
    private let closer: (hid_t) -> herr_t
    private var isOpen = true

    init?(_ id: hid_t, close: @escaping (hid_t) -> herr_t) {
        guard id >= 0 else { return nil }
        self.id = id
        self.closer = close
    }

    /// Closes now and says whether HDF5 could: closing a file writes its last buffers, so a full disk shows here.
    func close() -> Bool {
        guard isOpen else { return true }
        isOpen = false
        return closer(id) >= 0
    }

    deinit { if isOpen { _ = closer(id) } }
}

/// A float dataset found and measured, not yet read: its size is checked against what the caller
/// expects before any memory is allocated for it.
struct StoredArray {
    /// The dataset's path below the location it was found in.
    let path: String
    let location: H5Handle
    let shape: [Int]
}

/// The small part of HDF5 that Keras weight files use: groups, float datasets, string attributes.
final class HDF5File {
    let path: String
    let root: H5Handle
    /// Checks object headers and attributes before libhdf5 reads them; nil for a file this process creates.
    private let headerCheck: HDF5HeaderCheck?

    private init(path: String, root: H5Handle, headerCheck: HDF5HeaderCheck?) {
        self.path = path
        self.root = root
        self.headerCheck = headerCheck
    }

    /// Opens an existing file read-only, with errors that say what is wrong with it.
    static func open(_ path: String) throws -> HDF5File {
        chdf5_silence_errors()
        // A dataset naming an unknown filter would make libhdf5 load a plugin library from disk.
        H5PLset_loading_state(0)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw WeightsFileError("\(path) does not exist; check the path", kind: .missing)
        }
        guard !isDirectory.boolValue else { throw WeightsFileError("\(path) is a folder, not an HDF5 weights file", kind: .missing) }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw WeightsFileError("weights file \(path) is not readable; check its permissions")
        }
        guard H5Fis_hdf5(path) > 0 else {
            throw WeightsFileError("\(path) is not an HDF5 file (truncated download or another format?); Keras weights are .h5 files", kind: .notHDF5)
        }
        let check = try HDF5Mapping.withBytes(path) { file in
            let superblock = try HDF5Superblock(file, path: path)
            let heap = try HDF5GlobalHeap(file, superblock: superblock, path: path)
            let check = HDF5HeaderCheck(path: path, superblock: superblock, heap: heap, limit: attributeLimit)
            for address in [superblock.extensionAddress, superblock.rootAddress].compactMap({ $0 }) {
                try check.verify(objectAt: address)
            }
            return check
        }
        guard let file = H5Handle(H5Fopen(path, chdf5_acc_rdonly(), chdf5_p_default()), close: H5Fclose) else {
            throw WeightsFileError("\(path) could not be opened as HDF5; the file may be truncated or damaged")
        }
        return HDF5File(path: path, root: file, headerCheck: check)
    }

    /// Creates (truncates) the file `path` for writing; messages name `destination`, the file it will become.
    static func create(_ path: String, becoming destination: String) throws -> HDF5File {
        chdf5_silence_errors()
        guard let file = H5Handle(H5Fcreate(path, chdf5_acc_trunc(), chdf5_p_default(), chdf5_p_default()),
                                  close: H5Fclose) else {
            throw WeightsFileError("cannot create \(destination); check that its folder exists and is writable")
        }
        return HDF5File(path: destination, root: file, headerCheck: nil)
    }

    // MARK: reading

    /// True if every component of the relative `path` exists below `location`. Every component must be
    /// a hard link: a soft or external link could lead into another file (the password file, say), and
    /// Keras never writes one. Each one's header is checked before libhdf5 goes through it.
    func exists(_ path: String, in location: H5Handle) throws -> Bool {
        var prefix = ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += prefix.isEmpty ? String(component) : "/\(component)"
            if H5Lexists(location.id, prefix, chdf5_p_default()) <= 0 { return false }
            var info = H5L_info_t()
            guard H5Lget_info(location.id, prefix, &info, chdf5_p_default()) >= 0 else { return false }
            guard info.type == H5L_TYPE_HARD else {
                let kind = info.type == H5L_TYPE_EXTERNAL ? "an external link to another file" : "a soft or user-defined link"
                throw WeightsFileError("\(self.path): '\(prefix)' is \(kind); weight files hold their data in place, so it is refused")
            }
            try headerCheck?.verify(objectAt: UInt64(info.u.address))
        }
        return !prefix.isEmpty
    }

    func group(_ path: String, in location: H5Handle? = nil) throws -> H5Handle {
        let location = location ?? root
        guard try exists(path, in: location), let group = H5Handle(H5Gopen2(location.id, path, chdf5_p_default()), close: H5Gclose) else {
            throw WeightsFileError("\(self.path) has no group '\(path)'; it does not look like a Keras weights file")
        }
        return group
    }

    func hasAttribute(_ name: String, on location: H5Handle) throws -> Bool {
        try checkAttributes(of: location)
        return H5Aexists(location.id, name) > 0
    }

    /// Checks the attributes of `location` before libhdf5 decodes any (`HDF5HeaderCheck` says why).
    private func checkAttributes(of location: H5Handle) throws {
        guard let headerCheck else { return }
        var info = H5O_info_t()
        guard H5Oget_info2(location.id, &info, UInt32(H5O_INFO_BASIC)) >= 0 else {
            throw WeightsFileError("\(path): an object's header cannot be read; the file is damaged")
        }
        try headerCheck.verify(objectAt: UInt64(info.addr))
    }

    /// A string-array attribute, fixed- or variable-length. An empty numeric array (what Keras writes
    /// for `weight_names` of layers without weights) reads as no strings.
    func strings(_ name: String, on location: H5Handle) throws -> [String] {
        try checkAttributes(of: location)
        guard let attribute = H5Handle(H5Aopen(location.id, name, chdf5_p_default()), close: H5Aclose),
              let space = H5Handle(H5Aget_space(attribute.id), close: H5Sclose),
              let type = H5Handle(H5Aget_type(attribute.id), close: H5Tclose) else {
            throw WeightsFileError("\(path): cannot read attribute '\(name)'")
        }
        let count = Int(H5Sget_simple_extent_npoints(space.id))
        let width = H5Tis_variable_str(type.id) > 0 ? MemoryLayout<UnsafeMutablePointer<CChar>>.size : H5Tget_size(type.id) + 1
        guard count >= 0, count <= Self.attributeLimit / width else {
            throw WeightsFileError("\(path): attribute '\(name)' declares \(count) entries, more than any Keras file holds; the file is damaged or hostile")
        }
        guard H5Tget_class(type.id) == H5T_STRING else {
            if count == 0 { return [] }
            throw WeightsFileError("\(path): attribute '\(name)' holds numbers where Keras stores names")
        }
        if count == 0 { return [] }
        if H5Tis_variable_str(type.id) > 0 {
            guard let memory = H5Handle(H5Tcopy(chdf5_c_s1()), close: H5Tclose) else { throw WeightsFileError("HDF5 type error") }
            H5Tset_size(memory.id, chdf5_variable())
            H5Tset_cset(memory.id, H5Tget_cset(type.id))  // HDF5 converts no string between ASCII and UTF-8 (what h5py writes)
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            guard H5Aread(attribute.id, memory.id, &pointers) >= 0 else {
                throw WeightsFileError("\(path): cannot read attribute '\(name)'")
            }
            defer { H5Dvlen_reclaim(memory.id, space.id, chdf5_p_default(), &pointers) }
            return pointers.map { $0.map { String(cString: $0) } ?? "" }
        }
        // One byte more than the file's width: a NUL-terminated memory type of the same width would
        // drop the last character of NUL-padded names.
        let size = H5Tget_size(type.id) + 1
        guard let memory = H5Handle(H5Tcopy(chdf5_c_s1()), close: H5Tclose) else { throw WeightsFileError("HDF5 type error") }
        H5Tset_size(memory.id, size)
        H5Tset_cset(memory.id, H5Tget_cset(type.id))
        var bytes = [UInt8](repeating: 0, count: count * size)
        guard H5Aread(attribute.id, memory.id, &bytes) >= 0 else {
            throw WeightsFileError("\(path): cannot read attribute '\(name)'")
        }
        return (0..<count).map { i in
            let item = bytes[(i * size)..<((i + 1) * size)].prefix { $0 != 0 }
            return String(decoding: item, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        }
    }

    /// A string attribute split the way Keras splits long ones (`name0`, `name1`, …); reading stops
    /// once there are more than `limit` strings.
    func chunkedStrings(_ name: String, on location: H5Handle, limit: Int) throws -> [String]? {
        if try hasAttribute(name, on: location) { return try strings(name, on: location) }
        var result: [String] = []
        var chunk = 0
        while result.count <= limit, try hasAttribute("\(name)\(chunk)", on: location) {
            result += try strings("\(name)\(chunk)", on: location)
            chunk += 1
        }
        return chunk > 0 ? result : nil
    }

    func hasChunkedStrings(_ name: String, on location: H5Handle) throws -> Bool {
        try hasAttribute(name, on: location) || hasAttribute("\(name)0", on: location)
    }

    /// Attributes are names and small JSON documents: 64 MB is far more than any real one holds.
    static let attributeLimit = 64 << 20
    /// More elements than any layer of any model we build (VGG19's fc1 has 102.8 million).
    static let elementLimit = 1 << 30

    /// Finds the float dataset at `path` and reads its shape. Refuses what would make a read leave
    /// the file (external storage, virtual datasets) and shapes no model can have.
    func array(_ path: String, in location: H5Handle) throws -> StoredArray {
        guard try exists(path, in: location),
              let dataset = H5Handle(H5Dopen2(location.id, path, chdf5_p_default()), close: H5Dclose),
              let space = H5Handle(H5Dget_space(dataset.id), close: H5Sclose),
              let type = H5Handle(H5Dget_type(dataset.id), close: H5Tclose),
              let creation = H5Handle(H5Dget_create_plist(dataset.id), close: H5Pclose) else {
            throw WeightsFileError("\(self.path): weight '\(path)' is listed but missing; the file is damaged")
        }
        guard H5Pget_external_count(creation.id) == 0 else {
            throw WeightsFileError("\(self.path): weight '\(path)' keeps its data in external files; weight files hold their data in place, so it is refused")
        }
        guard H5Pget_layout(creation.id) != H5D_VIRTUAL else {
            throw WeightsFileError("\(self.path): weight '\(path)' is a virtual dataset mapped from other datasets or files; it is refused")
        }
        guard H5Tget_class(type.id) == H5T_FLOAT else {
            throw WeightsFileError("\(self.path): weight '\(path)' is not a float array")
        }
        let rank = Int(H5Sget_simple_extent_ndims(space.id))
        guard (0...8).contains(rank) else {
            throw WeightsFileError("\(self.path): weight '\(path)' has \(rank) dimensions; the file is damaged")
        }
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        H5Sget_simple_extent_dims(space.id, &dims, nil)
        let shape = dims.prefix(rank).map { Int(clamping: $0) }
        var count = 1
        for n in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow, product <= Self.elementLimit else {
                throw WeightsFileError("\(self.path): weight '\(path)' declares shape \(Weights.format(shape)), larger than any layer of any model; the file is damaged or hostile")
            }
            count = product
        }
        return StoredArray(path: path, location: location, shape: shape)
    }

    /// Reads a dataset found by `array`, converted to float32. Data never written (HDF5 would hand out
    /// fill values) and values that are not finite are refused: either would train or predict nonsense.
    func read(_ array: StoredArray) throws -> Tensor {
        guard let dataset = H5Handle(H5Dopen2(array.location.id, array.path, chdf5_p_default()), close: H5Dclose) else {
            throw WeightsFileError("\(path): weight '\(array.path)' is listed but missing; the file is damaged")
        }
        let count = array.shape.reduce(1, *)
        if count > 0 && H5Dget_storage_size(dataset.id) == 0 {
            throw WeightsFileError("\(path): weight '\(array.path)' was never written (no data stored); the file is damaged or incomplete")
        }
        var data = [Float](repeating: 0, count: count)
        guard H5Dread(dataset.id, chdf5_native_float(), chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), &data) >= 0 else {
            throw WeightsFileError("\(path): weight '\(array.path)' could not be read; the file is truncated or damaged")
        }
        guard data.allSatisfy(\.isFinite) else {
            throw WeightsFileError("\(path): weight '\(array.path)' holds NaN or infinite values (a diverged run or a damaged file); it cannot be used")
        }
        return Tensor(shape: array.shape, data: data)
    }

    /// A dataset that must have `shape`, read only once its shape is known to match.
    func tensor(_ path: String, in location: H5Handle, shape: [Int]) throws -> Tensor {
        let array = try array(path, in: location)
        guard array.shape == shape else {
            throw WeightsFileError("\(self.path): '\(path)' has shape \(Weights.format(array.shape)) where \(Weights.format(shape)) is expected; the file is damaged or from another model")
        }
        return try read(array)
    }

    // MARK: writing

    /// Writes everything still buffered and closes the file; a full disk or a failed device is an error
    /// here, where closing in `deinit` would lose it.
    func finish() throws {
        errno = 0
        guard H5Fflush(root.id, H5F_SCOPE_GLOBAL) >= 0, root.close() else {
            throw WeightsFileError("cannot write \(path): \(Self.lastSystemError)")
        }
    }

    /// What the operating system said last (HDF5's own message would only say that a write failed).
    private static var lastSystemError: String {
        errno == 0 ? "the write failed; is the disk full?" : String(cString: strerror(errno))
    }

    @discardableResult
    func createGroup(_ path: String, in location: H5Handle? = nil) throws -> H5Handle {
        let location = location ?? root
        guard let plist = H5Handle(H5Pcreate(chdf5_link_create()), close: H5Pclose) else { throw WeightsFileError("HDF5 property error") }
        H5Pset_create_intermediate_group(plist.id, 1)
        let untimed = try Self.untimed(chdf5_group_create())
        guard let group = H5Handle(H5Gcreate2(location.id, path, plist.id, untimed.id, chdf5_p_default()),
                                   close: H5Gclose) else {
            throw WeightsFileError("\(self.path): cannot create group '\(path)'")
        }
        return group
    }

    /// Creation properties without modification times, so the same model gives the same file bytes.
    private static func untimed(_ propertyClass: hid_t) throws -> H5Handle {
        guard let plist = H5Handle(H5Pcreate(propertyClass), close: H5Pclose), H5Pset_obj_track_times(plist.id, false) >= 0 else {
            throw WeightsFileError("HDF5 property error")
        }
        return plist
    }

    /// Writes a contiguous little-endian float32 dataset, creating intermediate groups.
    func write(_ tensor: Tensor, at path: String, in location: H5Handle) throws {
        var dims = tensor.shape.map { hsize_t($0) }
        guard let plist = H5Handle(H5Pcreate(chdf5_link_create()), close: H5Pclose),
              let space = H5Handle(H5Screate_simple(Int32(dims.count), &dims, nil), close: H5Sclose) else {
            throw WeightsFileError("HDF5 dataspace error")
        }
        H5Pset_create_intermediate_group(plist.id, 1)
        let untimed = try Self.untimed(chdf5_dataset_create())
        errno = 0
        guard let dataset = H5Handle(H5Dcreate2(location.id, path, chdf5_ieee_f32le(), space.id, plist.id,
                                                untimed.id, chdf5_p_default()), close: H5Dclose),
              H5Dwrite(dataset.id, chdf5_native_float(), chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), tensor.data) >= 0 else {
            throw WeightsFileError("cannot write \(self.path) (weight '\(path)'): \(Self.lastSystemError)")
        }
    }

    /// Writes a variable-length string array attribute (what h5py and Keras write today);
    /// an empty list becomes an empty float64 array, as Keras writes it.
    func setStrings(_ name: String, _ values: [String], on location: H5Handle) throws {
        var dims = [hsize_t(values.count)]
        guard let space = H5Handle(H5Screate_simple(1, &dims, nil), close: H5Sclose) else { throw WeightsFileError("HDF5 dataspace error") }
        if values.isEmpty {
            guard let attribute = H5Handle(H5Acreate2(location.id, name, chdf5_ieee_f64le(), space.id,
                                                      chdf5_p_default(), chdf5_p_default()), close: H5Aclose) else {
                throw WeightsFileError("\(path): cannot write attribute '\(name)'")
            }
            _ = attribute
            return
        }
        guard let type = H5Handle(H5Tcopy(chdf5_c_s1()), close: H5Tclose) else { throw WeightsFileError("HDF5 type error") }
        H5Tset_size(type.id, chdf5_variable())
        let cStrings = values.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        var pointers = cStrings.map { UnsafePointer<CChar>($0) }
        guard let attribute = H5Handle(H5Acreate2(location.id, name, type.id, space.id, chdf5_p_default(), chdf5_p_default()),
                                       close: H5Aclose),
              H5Awrite(attribute.id, type.id, &pointers) >= 0 else {
            throw WeightsFileError("\(path): cannot write attribute '\(name)'")
        }
    }

    /// A scalar variable-length string attribute (`backend`, `keras_version`, our metadata).
    func setString(_ name: String, _ value: String, on location: H5Handle) throws {
        guard let space = H5Handle(H5Screate(H5S_SCALAR), close: H5Sclose),
              let type = H5Handle(H5Tcopy(chdf5_c_s1()), close: H5Tclose) else { throw WeightsFileError("HDF5 type error") }
        H5Tset_size(type.id, chdf5_variable())
        let cString = strdup(value)
        defer { free(cString) }
        var pointer = UnsafePointer<CChar>(cString)
        guard let attribute = H5Handle(H5Acreate2(location.id, name, type.id, space.id, chdf5_p_default(), chdf5_p_default()),
                                       close: H5Aclose),
              H5Awrite(attribute.id, type.id, &pointer) >= 0 else {
            throw WeightsFileError("\(path): cannot write attribute '\(name)'")
        }
    }

    /// A scalar string attribute, or nil when absent.
    func string(_ name: String, on location: H5Handle) throws -> String? {
        guard try hasAttribute(name, on: location) else { return nil }
        return try strings(name, on: location).first
    }
}
