/// A zip of stored (uncompressed) members, for the pickle target: a fuzzed `data.pkl` inside a
/// `torch.save` layout whose storages exist, so the reader goes past the pickle to the tensors.
enum StoredZip {
    /// The seeds' storages all hold 64 bytes (Fuzz/make_seeds.py); keys 0–15 cover them.
    static func checkpoint(pickle: [UInt8]) -> [UInt8] {
        let storage = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        return archive([("archive/data.pkl", pickle), ("archive/byteorder", Array("little".utf8))]
            + (0..<16).map { ("archive/data/\($0)", storage) })
    }

    static func archive(_ members: [(name: String, bytes: [UInt8])]) -> [UInt8] {
        var body: [UInt8] = [], directory: [UInt8] = []
        for (name, bytes) in members {
            let fields = little(crc32(bytes), 4) + little(bytes.count, 4) + little(bytes.count, 4) + little(name.utf8.count, 2)
            directory += little(0x0201_4b50, 4) + little(20, 2) + little(20, 2) + [0, 0, 0, 0, 0, 0, 0, 0] + fields
                + [UInt8](repeating: 0, count: 12) + little(body.count, 4) + Array(name.utf8)
            body += little(0x0403_4b50, 4) + little(20, 2) + [0, 0, 0, 0, 0, 0, 0, 0] + fields + [0, 0] + Array(name.utf8) + bytes
        }
        return body + directory + little(0x0605_4b50, 4) + [0, 0, 0, 0] + little(members.count, 2) + little(members.count, 2)
            + little(directory.count, 4) + little(body.count, 4) + [0, 0]
    }

    private static func little(_ value: some BinaryInteger, _ width: Int) -> [UInt8] {
        (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    private static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc = ~UInt32(0)
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
